"""ImageLoader: S3 through moto, HTTP through a real local server, and every way a reference can be refused.

Every refusal must be ``InvalidParameterError`` for the caller's field with the reference in the message (HTTP 400).
The local server listens on 127.0.0.1, which the loader refuses by default (that is the SSRF rule), so the tests that
fetch from it set ``allow_private_hosts=True``; the SSRF tests use the default settings.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib.core.errors import InvalidParameterError
from chalicelib.sources.images import DEFAULT_MAX_BYTES, HttpResult, ImageLoader, is_public_address, read_capped
from tests.fakes.images import GIF, JPEG, PNG

FIELD = "Images[0]"




def assert_refused(caught: pytest.ExceptionInfo[InvalidParameterError], reference: str, *words: str) -> None:
    error = caught.value
    assert error.field == FIELD
    assert error.kind.status == 400
    assert reference[:150] in error.problem
    for word in words:
        assert word in error.problem, error.problem


# --- S3 ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="queries")
        client.put_object(Bucket="queries", Key="shoes/red.png", Body=PNG)
        client.put_object(Bucket="queries", Key="shoes/red.jpg", Body=JPEG)
        client.put_object(Bucket="queries", Key="notes.txt", Body=b"not an image")
        client.put_object(Bucket="queries", Key="empty.png", Body=b"")
        client.put_object(Bucket="queries", Key="big.png", Body=PNG + b"\x00" * 4096)
        yield client


def test_s3_image_is_loaded(s3: Any) -> None:
    loader = ImageLoader(s3)
    assert loader.load("s3://queries/shoes/red.png", field=FIELD) == PNG
    assert loader.load("s3://queries/shoes/red.jpg", field=FIELD) == JPEG


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("s3://queries/shoes/blue.png", ("does not exist",)),
        ("s3://no-such-bucket/x.png", ("bucket that does not exist",)),
        ("s3://queries/notes.txt", ("not a PNG, JPEG, GIF or WEBP image",)),
        ("s3://queries/empty.png", ("is empty",)),
        ("s3://queries", ("s3://bucket/key",)),
        ("s3://queries/", ("s3://bucket/key",)),
        ("s3:///key.png", ("s3://bucket/key",)),
    ],
)
def test_s3_failures_are_invalid_parameters(s3: Any, reference: str, words: tuple[str, ...]) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(s3).load(reference, field=FIELD)
    assert_refused(caught, reference, *words)


def test_s3_object_over_the_limit_is_refused_by_its_declared_size(s3: Any) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(s3, max_bytes=1024).load("s3://queries/big.png", field=FIELD)
    assert_refused(caught, "s3://queries/big.png", "larger than 1024 bytes")


def test_s3_access_denied_is_invalid_parameter() -> None:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("get_object", "AccessDenied", "Access Denied", 403)
        with pytest.raises(InvalidParameterError) as caught:
            ImageLoader(client).load("s3://private/cat.png", field=FIELD)
    assert_refused(caught, "s3://private/cat.png", "access denied")


class CountingBody:
    """An S3 body without a declared length that counts what is read from it."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.read_bytes = 0
        self.closed = False

    def read(self, amount: int) -> bytes:
        chunk = min(amount, self.remaining)
        self.remaining -= chunk
        self.read_bytes += chunk
        return (PNG + b"\x00" * chunk)[:chunk]

    def close(self) -> None:
        self.closed = True


class BodyOnlyS3:
    def __init__(self, body: CountingBody) -> None:
        self.body = body

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": self.body}  # no ContentLength: only the capped read can notice the size


def test_s3_body_is_read_only_to_the_limit_plus_one() -> None:
    body = CountingBody(50 * 1024 * 1024)
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(BodyOnlyS3(body), max_bytes=1000).load("s3://b/huge.png", field=FIELD)
    assert_refused(caught, "s3://b/huge.png", "larger than 1000 bytes")
    assert body.read_bytes == 1001
    assert body.closed


def test_s3_reference_without_a_client_is_refused() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader().load("s3://queries/shoes/red.png", field=FIELD)
    assert_refused(caught, "s3://queries/shoes/red.png", "cannot be read")


def test_s3_bucket_allow_list(s3: Any) -> None:
    loader = ImageLoader(s3, allowed_buckets={"queries"})
    assert loader.load("s3://queries/shoes/red.png", field=FIELD) == PNG
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(s3, allowed_buckets={"other"}).load("s3://queries/shoes/red.png", field=FIELD)
    assert_refused(caught, "s3://queries/shoes/red.png", "not read from bucket queries")


# --- HTTP: a real server on 127.0.0.1 ---------------------------------------------------------------------------------


class ImageServer(ThreadingHTTPServer):
    requests: list[tuple[str, str | None]]  # (path, Host header) of every request received


class Handler(BaseHTTPRequestHandler):
    server: ImageServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Host")))
        path = self.path.split("?", 1)[0]
        try:
            if path in ("/red.png", "/photo.jpg", "/anim.gif"):
                body = {"/red.png": PNG, "/photo.jpg": JPEG, "/anim.gif": GIF}[path]
                self._send(200, body, "image/png")
            elif path == "/page.html":
                self._send(200, b"<html><body>not an image</body></html>", "image/png")  # the header lies
            elif path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/red.png")
                self.end_headers()
            elif path == "/redirect-to-metadata":
                self.send_response(301)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
            elif path == "/declared-huge":
                self.send_response(200)
                self.send_header("Content-Length", str(100 * 1024 * 1024))
                self.end_headers()
                self.wfile.write(PNG)
            elif path == "/endless":  # no Content-Length: the body runs until the connection closes
                self.send_response(200)
                self.end_headers()
                self.wfile.write(PNG)
                for _ in range(200):
                    self.wfile.write(b"\x00" * 65536)
            elif path == "/slow":
                time.sleep(1.5)
                self._send(200, PNG, "image/png")
            elif path == "/trickle":  # headers at once, then one byte every 50 ms
                self.send_response(200)
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                for byte in PNG:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.05)
            else:
                self._send(404, b"not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the loader hung up, as it should for oversized or slow answers

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    httpd = ImageServer(("127.0.0.1", 0), Handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(server: ImageServer, path: str, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.server_address[1]}{path}"


@pytest.fixture
def local() -> ImageLoader:
    """The loader as tests and local development use it: private hosts allowed, everything else as deployed."""
    return ImageLoader(allow_private_hosts=True, timeout=1.0)


@pytest.mark.parametrize(("path", "expected"), [("/red.png", PNG), ("/photo.jpg", JPEG), ("/anim.gif", GIF)])
def test_http_image_is_loaded(server: ImageServer, local: ImageLoader, path: str, expected: bytes) -> None:
    assert local.load(url(server, path), field=FIELD) == expected


def test_http_sends_path_query_and_host_name_while_connecting_to_the_checked_address(server: ImageServer) -> None:
    resolved: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append((host, port))
        return ["127.0.0.1"]  # "images.test" exists only here: the connection must use this address

    loader = ImageLoader(resolver=resolver, allow_private_hosts=True)
    port = server.server_address[1]
    assert loader.load(f"http://images.test:{port}/red.png?size=small&v=2", field=FIELD) == PNG
    assert resolved == [("images.test", port)]
    assert server.requests[-1] == ("/red.png?size=small&v=2", f"images.test:{port}")


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/missing.png", ("HTTP 404",)),
        ("/page.html", ("not a PNG, JPEG, GIF or WEBP image",)),
        ("/redirect", ("redirect (HTTP 302)", "not followed")),
        ("/redirect-to-metadata", ("redirect (HTTP 301)", "not followed")),
        ("/declared-huge", ("larger than 5 MiB",)),
    ],
)
def test_http_failures_are_invalid_parameters(
    server: ImageServer, local: ImageLoader, path: str, words: tuple[str, ...]
) -> None:
    reference = url(server, path)
    with pytest.raises(InvalidParameterError) as caught:
        local.load(reference, field=FIELD)
    assert_refused(caught, reference, *words)


def test_http_body_without_length_is_cut_at_the_limit(server: ImageServer) -> None:
    reference = url(server, "/endless")
    started = time.monotonic()
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(allow_private_hosts=True, max_bytes=100_000).load(reference, field=FIELD)
    assert_refused(caught, reference, "larger than 100000 bytes")
    assert time.monotonic() - started < 1.0  # it did not wait for the 12 MiB the server would send


@pytest.mark.parametrize("path", ["/slow", "/trickle"])
def test_http_timeout_bounds_the_whole_exchange(server: ImageServer, path: str) -> None:
    reference = url(server, path)
    started = time.monotonic()
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(allow_private_hosts=True, timeout=0.3).load(reference, field=FIELD)
    assert_refused(caught, reference, "did not answer within 0.3 s")
    assert time.monotonic() - started < 1.0


def test_http_unreachable_host_is_invalid_parameter() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the loader connects: nothing listens there
    reference = f"http://127.0.0.1:{port}/red.png"
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(allow_private_hosts=True).load(reference, field=FIELD)
    assert_refused(caught, reference, "could not be fetched", "connection refused")


def test_https_to_a_plain_http_server_fails_cleanly(server: ImageServer) -> None:
    reference = f"https://127.0.0.1:{server.server_address[1]}/red.png"
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(allow_private_hosts=True, timeout=1.0).load(reference, field=FIELD)
    assert_refused(caught, reference, "could not be fetched")


def test_https_checks_the_certificate_against_the_host_name_not_the_address(tmp_path: Path) -> None:
    """The connection is pinned to 127.0.0.1, yet TLS still sends and verifies the name: an untrusted certificate
    for ``images.test`` is refused, and the server saw ``images.test`` as the server name (SNI)."""
    pytest.importorskip("cryptography")  # installed with moto; only used here to make a throwaway certificate
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "images.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("images.test")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server_names: list[str | None] = []

    def record_server_name(connection: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        server_names.append(server_name)

    context.sni_callback = record_server_name  # type: ignore[assignment]  # typeshed wants an SSLSocket parameter

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        connection, _ = listener.accept()
        try:
            context.wrap_socket(connection, server_side=True).close()
        except (ssl.SSLError, OSError):
            pass  # the client rejects the certificate and hangs up
        finally:
            connection.close()

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    reference = f"https://images.test:{port}/red.png"
    try:
        with pytest.raises(InvalidParameterError) as caught:
            ImageLoader(resolver=lambda host, p: ["127.0.0.1"], allow_private_hosts=True).load(reference, field=FIELD)
    finally:
        thread.join(timeout=5)
        listener.close()
    assert_refused(caught, reference, "TLS certificate could not be verified")
    assert server_names == ["images.test"]


# --- references that are refused before any connection ----------------------------------------------------------------


def no_fetch(url: SplitResult, addresses: Sequence[str], timeout: float, max_bytes: int) -> HttpResult:
    raise AssertionError(f"fetched {url.geturl()} from {addresses}")


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"resolved {host}")


@pytest.mark.parametrize(
    "reference",
    [
        "file:///etc/passwd",
        "ftp://images.example/cat.png",
        "gopher://images.example/cat.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "/tmp/cat.png",
        "cat.png",
        "C:\\images\\cat.png",
        "//images.example/cat.png",
        "",
        "s3:/queries/cat.png",
    ],
)
def test_other_schemes_are_refused(reference: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(resolver=no_dns, fetch=no_fetch).load(reference, field=FIELD)
    assert_refused(caught, reference, "not an http(s):// URL or an s3://bucket/key URI")


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("http://user:secret@images.example/cat.png", ("user name or password",)),
        ("http://images.example:99999/cat.png", ("not a valid URL",)),
        ("http:///cat.png", ("no host name",)),
    ],
)
def test_malformed_urls_are_refused(reference: str, words: tuple[str, ...]) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(resolver=no_dns, fetch=no_fetch).load(reference, field=FIELD)
    assert_refused(caught, reference, *words)


def test_unresolvable_host_is_refused() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    reference = "https://no-such-host.example/cat.png"
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(resolver=resolver, fetch=no_fetch).load(reference, field=FIELD)
    assert_refused(caught, reference, "cannot be resolved")


def test_long_references_are_shortened_in_the_message() -> None:
    reference = "ftp://images.example/" + "a" * 5000
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader().load(reference, field=FIELD)
    assert len(caught.value.message) < 400
    assert caught.value.problem.startswith(reference[:150])


# --- SSRF, with the default settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://169.254.170.2/v2/credentials",
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
        "http://localhost/cat.png",
        "http://2130706433/cat.png",  # 127.0.0.1 written as one number
        "http://0x7f.1/cat.png",
        "http://0.0.0.0/cat.png",
        "http://10.0.0.5/cat.png",
        "http://172.16.3.4/cat.png",
        "http://192.168.1.1/cat.png",
        "http://100.64.0.1/cat.png",
        "http://[::1]/cat.png",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/cat.png",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "https://[::ffff:a9fe:a9fe]/latest/meta-data/",
    ],
)
def test_private_and_special_addresses_are_refused(reference: str) -> None:
    """The system resolver only turns these literals and ``localhost`` into addresses; no DNS is needed."""
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(fetch=no_fetch).load(reference, field=FIELD)
    assert_refused(caught, reference, "private, loopback, link-local or reserved address", "publicly accessible")


def test_the_local_server_itself_is_refused_by_default(server: ImageServer) -> None:
    before = len(server.requests)
    reference = url(server, "/red.png")
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader().load(reference, field=FIELD)
    assert_refused(caught, reference, "private, loopback")
    assert len(server.requests) == before  # refused before connecting


@pytest.mark.parametrize(
    "addresses",
    [["169.254.169.254"], ["93.184.215.14", "10.0.0.7"], ["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::1"]],
)
def test_names_resolving_to_any_private_address_are_refused(addresses: list[str]) -> None:
    reference = "https://images.example/cat.png"
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(resolver=lambda host, port: addresses, fetch=no_fetch).load(reference, field=FIELD)
    assert_refused(caught, reference, "private, loopback")


def test_public_names_are_fetched_from_the_checked_addresses() -> None:
    calls: list[tuple[str, list[str], float, int]] = []

    def fetch(url: SplitResult, addresses: Sequence[str], timeout: float, max_bytes: int) -> HttpResult:
        calls.append((url.geturl(), list(addresses), timeout, max_bytes))
        return HttpResult(status=200, body=PNG, length=len(PNG))

    loader = ImageLoader(
        resolver=lambda host, port: ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"], fetch=fetch
    )
    assert loader.load("https://images.example/cat.png", field=FIELD) == PNG
    assert calls == [
        (
            "https://images.example/cat.png",
            ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
            5.0,
            DEFAULT_MAX_BYTES,
        )
    ]


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (TimeoutError("timed out"), ("did not answer within 5 s",)),
        (ConnectionRefusedError(111, "Connection refused"), ("connection refused",)),
        (OSError(101, "Network is unreachable"), ("Network is unreachable",)),
    ],
)
def test_transport_errors_are_invalid_parameters(error: Exception, words: tuple[str, ...]) -> None:
    def fetch(url: SplitResult, addresses: Sequence[str], timeout: float, max_bytes: int) -> HttpResult:
        raise error

    reference = "https://images.example/cat.png"
    with pytest.raises(InvalidParameterError) as caught:
        ImageLoader(resolver=lambda host, port: ["93.184.215.14"], fetch=fetch).load(reference, field=FIELD)
    assert_refused(caught, reference, *words)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("224.0.0.251", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
        ("::", False),
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("fec0::1", False),
        ("ff02::1", False),
        ("2002:a9fe:a9fe::1", False),  # 6to4 around 169.254.169.254
        ("fe80::1%eth0", False),
        ("not an address", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_read_capped_stops_one_byte_past_the_limit() -> None:
    body = CountingBody(10_000_000)
    assert len(read_capped(body.read, 300_000)) == 300_001
    assert body.read_bytes == 300_001
    small = CountingBody(10)
    assert len(read_capped(small.read, 300_000)) == 10


def test_constructor_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        ImageLoader(max_bytes=0)
    with pytest.raises(ValueError):
        ImageLoader(timeout=0)
