"""Query images for Retrieve's ``Images`` field: fetched from S3 or the web, checked, handed over as bytes.

A bad image reference is always the caller's to fix (wrong link, private link, too big, not an image), so every
failure raises ``InvalidParameterError`` for the field the caller named (``Images[0]``), with the reference quoted
in the message: HTTP 400, never a 500.

What is accepted
----------------
- ``s3://bucket/key``, read through the injected S3 client, that is with the service's own IAM role. That makes the
  loader a deputy: a caller can name any object the role may read, including other tenants' documents. The image
  is only embedded, never returned, but ``allowed_buckets`` can still narrow S3 references to named buckets; with it
  unset, whatever the role's policy allows is reachable. Without an S3 client (``None``), S3 references are refused.
- ``http://`` and ``https://`` URLs. Everything else is refused: ``file://``, ``ftp://``, ``data:``, bare paths,
  scheme-relative ``//host/...`` and URLs with ``user:password@``.
- At most ``max_bytes`` (5 MiB by default): a body is read up to ``max_bytes + 1`` bytes and no further, and a
  declared size (S3 ``ContentLength``, HTTP ``Content-Length``) over the limit is refused before reading at all.
- The bytes must start with a PNG, JPEG, GIF or WEBP magic number; file names and Content-Type are ignored.

Server-side request forgery
---------------------------
A Lambda that fetches caller-chosen URLs can be pointed at what only it can reach: the Lambda runtime API on
127.0.0.1, instance/container metadata (169.254.169.254, 169.254.170.2, fd00:ec2::254) and, in a VPC, private
services. Therefore, unless ``allow_private_hosts`` is set:

- the host is resolved once (``socket.getaddrinfo`` by default; the resolver is injectable so tests need no DNS),
  and every address it resolves to must be globally routable. Loopback, private (RFC 1918, ULA), link-local,
  shared (100.64/10), multicast, reserved and unspecified addresses are refused, also when wrapped in IPv6
  (IPv4-mapped, IPv4-compatible, 6to4, NAT64). One bad address refuses the host: a name that resolves to a mix is
  not a public image host;
- the connection goes to an address that was checked, while the Host header and the TLS server name and
  certificate check still use the host name. A DNS answer that changes between the check and the connection (DNS
  rebinding) therefore cannot move the request;
- redirects are not followed; a 3xx is refused with a message that says so. Following one safely would mean
  repeating all checks for the new location, and a query image link should point at the image itself;
- proxy environment variables are ignored: a proxy would make the connection on our behalf, past the checks.

``allow_private_hosts=True`` switches the address check off (everything else stays). It exists for tests and local
development against a server on localhost and must not be set on a deployed stage.

Timeouts
--------
``timeout`` (5 s by default) bounds the whole HTTP exchange, not each socket operation: a watchdog shuts the socket
down at the deadline, so a server that trickles headers or body one byte at a time cannot hold the request longer.
S3 reads rely on the injected client's botocore timeouts.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.ports.models import detect_image_format

DEFAULT_MAX_BYTES: Final = 5 * 1024 * 1024
DEFAULT_TIMEOUT: Final = 5.0  # seconds, for the whole HTTP exchange

_CHUNK: Final = 64 * 1024
_SHOWN: Final = 200  # characters of a reference quoted in an error message
_USER_AGENT: Final = "Sift-ImageLoader/1"
_ACCEPT: Final = "image/png, image/jpeg, image/gif, image/webp"

Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP addresses``; raises ``OSError`` (``socket.gaierror``) when the host cannot be resolved."""


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    body: bytes  # at most max_bytes + 1 bytes; empty when not 200 or when ``length`` is already over the limit
    length: int | None = None  # Content-Length as the server declared it


HttpFetch = Callable[[SplitResult, Sequence[str], float, int], HttpResult]
"""``(url, checked addresses, timeout, max_bytes) -> HttpResult``: GET ``url`` connecting only to one of the
addresses, within ``timeout`` seconds in all (``TimeoutError`` otherwise), without following redirects."""


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in ``getaddrinfo`` order (IP literals resolve to themselves)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(address: str) -> bool:
    """Whether ``address`` is a globally routable unicast address (see the module docstring for what is not)."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if int(ip) >> 32 == 0:  # ::/96, the deprecated IPv4-compatible form (and :: and ::1)
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(str(embedded))
        if ip.is_site_local:
            return False
    return ip.is_global and not ip.is_multicast


def read_capped(read: Callable[[int], bytes], max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes from ``read``: enough to tell a body is too large without reading all of it."""
    chunks: list[bytes] = []
    total = 0
    while total <= max_bytes:
        chunk = read(min(_CHUNK, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


class ImageLoader:
    """Loads the images a query refers to; see the module docstring for the rules and why they are what they are."""

    def __init__(
        self,
        s3_client: Any = None,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        resolver: Resolver = resolve,
        fetch: HttpFetch | None = None,
        allow_private_hosts: bool = False,
        allowed_buckets: Collection[str] | None = None,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self._s3 = s3_client
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._resolve = resolver
        self._fetch: HttpFetch = fetch or fetch_pinned
        self._allow_private_hosts = allow_private_hosts
        self._allowed_buckets = frozenset(allowed_buckets) if allowed_buckets is not None else None

    def load(self, reference: str, *, field: str) -> bytes:
        """The image's bytes; ``InvalidParameterError(field, ...)`` for anything that is not a usable image."""
        shown = _shorten(reference)
        scheme = reference.partition(":")[0].lower() if "://" in reference else ""
        if scheme == "s3":
            data = self._load_s3(reference, field, shown)
        elif scheme in ("http", "https"):
            data = self._load_http(reference, field, shown)
        else:
            raise InvalidParameterError(field, f"{shown} is not an http(s):// URL or an s3://bucket/key URI")
        if len(data) > self._max_bytes:
            raise InvalidParameterError(field, f"{shown} is larger than {_size(self._max_bytes)}")
        if not data:
            raise InvalidParameterError(field, f"{shown} is empty")
        if detect_image_format(data) is None:
            raise InvalidParameterError(field, f"{shown} is not a PNG, JPEG, GIF or WEBP image")
        return data

    # --- S3 -------------------------------------------------------------------------------------------------------

    def _load_s3(self, reference: str, field: str, shown: str) -> bytes:
        if self._s3 is None:
            raise InvalidParameterError(field, f"{shown}: S3 references cannot be read by this deployment")
        bucket, _, key = reference[len("s3://") :].partition("/")
        if not bucket or not key:
            raise InvalidParameterError(field, f"{shown} is not an s3://bucket/key URI")
        if self._allowed_buckets is not None and bucket not in self._allowed_buckets:
            raise InvalidParameterError(field, f"{shown}: query images are not read from bucket {bucket}")
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise InvalidParameterError(field, f"{shown} {_s3_problem(exc)}") from exc
        except BotoCoreError as exc:
            raise InvalidParameterError(field, f"{shown} could not be read ({type(exc).__name__})") from exc
        body = response["Body"]
        try:
            length = response.get("ContentLength")
            if isinstance(length, int) and length > self._max_bytes:
                raise InvalidParameterError(field, f"{shown} is larger than {_size(self._max_bytes)}")
            return read_capped(body.read, self._max_bytes)
        except (BotoCoreError, OSError) as exc:
            raise InvalidParameterError(field, f"{shown} could not be read ({type(exc).__name__})") from exc
        finally:
            body.close()

    # --- HTTP -----------------------------------------------------------------------------------------------------

    def _load_http(self, reference: str, field: str, shown: str) -> bytes:
        try:
            url = urlsplit(reference)
            port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError as exc:
            raise InvalidParameterError(field, f"{shown} is not a valid URL") from exc
        host = url.hostname
        if not host:
            raise InvalidParameterError(field, f"{shown} has no host name")
        if url.username is not None or url.password is not None:
            raise InvalidParameterError(field, f"{shown} must not contain a user name or password")
        try:
            addresses = list(self._resolve(host, port))
        except (OSError, UnicodeError) as exc:
            raise InvalidParameterError(field, f"{shown}: host {_shorten(host)} cannot be resolved") from exc
        if not addresses:
            raise InvalidParameterError(field, f"{shown}: host {_shorten(host)} cannot be resolved")
        if not self._allow_private_hosts and not all(is_public_address(a) for a in addresses):
            raise InvalidParameterError(
                field,
                f"{shown} points to a private, loopback, link-local or reserved address; "
                "only publicly accessible images can be used",
            )
        try:
            result = self._fetch(url, addresses, self._timeout, self._max_bytes)
        except TimeoutError as exc:
            raise InvalidParameterError(field, f"{shown} did not answer within {self._timeout:g} s") from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise InvalidParameterError(field, f"{shown} could not be fetched ({_http_problem(exc)})") from exc
        if 300 <= result.status < 400:
            raise InvalidParameterError(
                field,
                f"{shown} answered with a redirect (HTTP {result.status}); redirects are not followed, "
                "link the image itself",
            )
        if result.status != 200:
            raise InvalidParameterError(field, f"{shown} answered HTTP {result.status}")
        if result.length is not None and result.length > self._max_bytes:
            raise InvalidParameterError(field, f"{shown} is larger than {_size(self._max_bytes)}")
        return result.body


# --- the HTTP transport ---------------------------------------------------------------------------------------------


def _open_socket(addresses: Sequence[str], port: int, deadline: float) -> socket.socket:
    """A TCP connection to the first of ``addresses`` that accepts one before ``deadline``."""
    error: OSError = ConnectionError("no address to connect to")
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("connect timed out")
        try:
            return socket.create_connection((address, port), timeout=remaining)
        except OSError as exc:
            error = exc
    raise error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to checked addresses; ``host`` is still what the Host header says."""

    def __init__(self, host: str, port: int, addresses: Sequence[str], deadline: float) -> None:
        super().__init__(host, port, timeout=max(deadline - time.monotonic(), 0.001))
        self._addresses = addresses
        self._deadline = deadline
        # The socket the watchdog shuts down. Kept apart from ``sock``, which http.client drops once the response
        # is under way although the response still reads from it.
        self.opened: socket.socket | None = None

    def connect(self) -> None:
        sock = _open_socket(self._addresses, self.port, self._deadline)
        self.opened = sock
        try:
            if time.monotonic() >= self._deadline:  # the watchdog fired while connecting, before it could see sock
                raise TimeoutError("connect timed out")
            self.sock = self._secure(sock)
        except BaseException:
            sock.close()
            raise

    def _secure(self, sock: socket.socket) -> socket.socket:
        return sock


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """As ``_PinnedHTTPConnection``, with TLS: the certificate is checked against the host name, not the address."""

    def __init__(self, host: str, port: int, addresses: Sequence[str], deadline: float) -> None:
        super().__init__(host, port, addresses, deadline)
        self._tls = ssl.create_default_context()

    def _secure(self, sock: socket.socket) -> socket.socket:
        secured = self._tls.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
        self.opened = secured  # so that the watchdog can also cut a handshake short
        secured.do_handshake()
        return secured


def fetch_pinned(url: SplitResult, addresses: Sequence[str], timeout: float, max_bytes: int) -> HttpResult:
    """The default ``HttpFetch``: one GET over ``http.client`` to one of ``addresses``, no redirects, no proxies.

    Connecting is bounded by the time left; from then on (TLS handshake, request, headers, body) a watchdog shuts
    the socket down when ``timeout`` runs out. The blocked read then fails or ends early, and ``TimeoutError`` is
    raised instead of whatever that looked like.
    """
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    deadline = time.monotonic() + timeout
    connection_class = _PinnedHTTPSConnection if url.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, addresses, deadline)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.opened
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: the exchange finished as the deadline passed

    watchdog = threading.Timer(timeout, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("GET", target, headers={"User-Agent": _USER_AGENT, "Accept": _ACCEPT, "Connection": "close"})
        response = connection.getresponse()
        try:
            status = response.status
            length = _content_length(response.getheader("Content-Length"))
            if status != 200 or (length is not None and length > max_bytes):
                body = b""
            else:
                body = read_capped(response.read, max_bytes)
        finally:
            response.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {timeout:g} s") from exc
        raise
    finally:
        watchdog.cancel()
        connection.close()
    if expired.is_set():  # the shut-down socket may have looked like a clean end of the body
        raise TimeoutError(f"no complete answer within {timeout:g} s")
    return HttpResult(status=status, body=body, length=length)


# --- messages -------------------------------------------------------------------------------------------------------


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _size(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else f"{n} bytes"


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _s3_problem(exc: ClientError) -> str:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in {"NoSuchKey", "404", "NotFound"}:
        return "does not exist"
    if code == "NoSuchBucket":
        return "is in a bucket that does not exist"
    if code in {"AccessDenied", "403", "AllAccessDisabled", "InvalidObjectState"}:
        return "cannot be read by Sift (access denied or not readable)"
    return f"could not be read ({code or 'unknown error'})"


def _http_problem(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "its TLS certificate could not be verified"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.HTTPException):
        return "invalid or incomplete HTTP response"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
