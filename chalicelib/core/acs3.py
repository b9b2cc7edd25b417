"""ACS3-HMAC-SHA256: the request signature of the official Alibaba Cloud SDKs (``alibabacloud-tea-openapi`` 0.4.6,
``Utils.get_authorization``), reproduced for verification with ``hmac`` and ``hashlib`` only.

The signer builds a canonical request::

    METHOD \\n canonical URI \\n canonical query \\n canonical headers \\n signed header names \\n body SHA-256 (hex)

where the canonical URI is the request's path as the SDK built it (path parameters percent-encoded), the canonical
query is ``name=value`` pairs sorted by name and joined by ``&`` (values percent-encoded, ``~`` kept), and the
canonical headers are ``name:value\\n`` for every header it signed (names lower case, sorted; values trimmed; repeated
names joined by ``,``). It then signs ``"ACS3-HMAC-SHA256\\n" + hex(SHA-256(canonical request))`` with HMAC-SHA256 under
the AccessKey secret, and sends
``Authorization: ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<names>,Signature=<hex>`` with
``x-acs-content-sha256`` (the body's hash), ``x-acs-date`` and ``x-acs-signature-nonce`` among the signed headers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

ALGORITHM: Final = "ACS3-HMAC-SHA256"
# The headers a request must have signed: without them a signature could be replayed against another body, time or
# operation.
REQUIRED_SIGNED_HEADERS: Final = frozenset({"host", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce"})
MAX_AUTHORIZATION_CHARS: Final = 4096

_AUTHORIZATION = re.compile(
    rf"^{ALGORITHM} Credential=(?P<key>[^,\s]{{1,128}}),SignedHeaders=(?P<headers>[a-z0-9\-;]{{1,1024}}),"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True, slots=True)
class Authorization:
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


class MalformedAuthorization(ValueError):
    """The Authorization header is not an ACS3-HMAC-SHA256 signature (the message says what is wrong)."""


def parse_authorization(header: str) -> Authorization:
    if len(header) > MAX_AUTHORIZATION_CHARS:
        raise MalformedAuthorization("the Authorization header is too long")
    if not header.startswith(f"{ALGORITHM} "):
        raise MalformedAuthorization(f"the Authorization header must be an {ALGORITHM} signature")
    match = _AUTHORIZATION.fullmatch(header.strip())
    if match is None:
        raise MalformedAuthorization(
            f"the Authorization header must read '{ALGORITHM} Credential=<AccessKeyId>,SignedHeaders=<names>,"
            "Signature=<64 hex digits>'"
        )
    names = tuple(match["headers"].split(";"))
    if list(names) != sorted(set(names)) or "" in names:
        raise MalformedAuthorization("SignedHeaders must be distinct lower-case names in sorted order")
    missing = sorted(REQUIRED_SIGNED_HEADERS - set(names))
    if missing:
        raise MalformedAuthorization(f"SignedHeaders must include {', '.join(missing)}")
    return Authorization(match["key"], names, match["signature"])


def percent_encode(text: str) -> str:
    """The SDKs' encoding of path parameters and query values (``darabonba`` ``percent_encode``: RFC 3986, ``~``
    kept, space as ``%20``)."""
    return quote(text, safe="~")


def encode_path_parameter(text: str) -> str:
    return quote(text, safe="").replace("%7E", "~")


def canonical_query(query: Mapping[str, Sequence[str]]) -> str:
    """Sorted ``name=value`` pairs (the last value of a repeated name: the SDKs never repeat one)."""
    return "&".join(f"{name}={percent_encode(values[-1])}" for name, values in sorted(query.items()) if values)


def canonical_headers(headers: Mapping[str, str], names: Sequence[str]) -> str:
    return "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in names)


def canonical_request(
    method: str, path: str, query: Mapping[str, Sequence[str]], headers: Mapping[str, str], names: Sequence[str],
    payload_sha256: str,
) -> str:
    return "\n".join((method.upper(), path or "/", canonical_query(query), canonical_headers(headers, names),
                      ";".join(names), payload_sha256))


def signature(secret: str, canonical: str) -> str:
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two hex signatures."""
    return hmac.compare_digest(expected.encode(), given.encode())
