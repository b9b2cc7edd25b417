"""Access keys: what lets the official SDKs' signed requests in (``SIFT_AUTH=accesskey``), and what each key may reach.

A key is an AccessKeyId and a secret, bound to tenants — WorkspaceIds of the knowledge-base family, ProjectNames of
the media family — and to a level: ``read`` (Retrieve, ContextualRetrieval, SemanticQuery, ContextualAnswer, the
Get/List/Describe operations) or ``write`` (everything, creating, indexing and deleting included), in the spirit of the
documented RAM actions (``sfm:Retrieve``, ``imm:ContextualRetrieval``, …).

A request is authenticated by its ACS3-HMAC-SHA256 signature (``chalicelib.core.acs3``): the key exists and is not
revoked, the body's SHA-256 is the signed ``x-acs-content-sha256``, ``x-acs-date`` is within ``CLOCK_SKEW_SECONDS`` of
the server's clock, the nonce was not seen before within that window, and the signature matches. It is then
authorized: a tenant the key is not bound to, or a write with a read key, is ``Forbidden.RAM`` — the same answer
whether that workspace or project exists or not, so it tells nothing about other tenants.

Secrets are stored sealed (``SecretBox``: a master key outside the data directory locally, KMS on AWS), are returned
once, by ``create``, and never logged.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final, Protocol

from chalicelib.core import acs3
from chalicelib.core.clock import utc_now
from chalicelib.core.errors import AuthenticationError, NotFoundError, PermissionDeniedError

logger = logging.getLogger(__name__)

CLOCK_SKEW_SECONDS: Final = 15 * 60
MAX_NONCE_CHARS: Final = 128
KEY_ID_PREFIX: Final = "SIFT"
_KEY_ID = re.compile(r"^SIFT[0-9A-Z]{20}$")


class Level(enum.Enum):
    READ = "read"
    WRITE = "write"


class TenantKind(enum.Enum):
    WORKSPACE = "workspace"  # the knowledge-base family's WorkspaceId
    PROJECT = "project"  # the media family's ProjectName


@dataclass(frozen=True, slots=True)
class AccessKey:
    key_id: str
    sealed_secret: str
    level: str  # a Level value
    created_at: str
    workspaces: Sequence[str] = ()
    projects: Sequence[str] = ()
    description: str = ""
    revoked_at: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "workspaces", tuple(self.workspaces))
        object.__setattr__(self, "projects", tuple(self.projects))

    @property
    def revoked(self) -> bool:
        return bool(self.revoked_at)

    def reaches(self, kind: TenantKind, tenant: str) -> bool:
        return tenant in (self.workspaces if kind is TenantKind.WORKSPACE else self.projects)


class SecretBox(Protocol):
    """Seals secrets for storage and opens them for verification. A sealed secret is bound to its key id: moved to
    another key's record, it does not open."""

    def seal(self, secret: str, *, key_id: str) -> str: ...

    def open(self, sealed: str, *, key_id: str) -> str:
        """The secret; raises ``ValueError`` when ``sealed`` was not sealed by this box for ``key_id``."""


class AccessKeyCatalog(Protocol):
    def put_access_key(self, key: AccessKey) -> None: ...

    def get_access_key(self, key_id: str) -> AccessKey | None: ...

    def list_access_keys(self) -> list[AccessKey]: ...

    def use_nonce(self, key_id: str, nonce: str, expires_at: float) -> bool:
        """Record that ``key_id`` used ``nonce``; False when it did already (and the record has not expired)."""


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What authentication reads of an HTTP request. ``paths``: the canonical URIs the SDK may have signed for this
    route (with its path parameters percent-encoded as the SDK encodes them, with and without a trailing slash)."""

    method: str
    paths: tuple[str, ...]
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a request may reach: an authenticated key, or everything (authentication off, IAM, a direct Lambda
    invocation — each already authorized by something else)."""

    key: AccessKey | None = None

    def authorize(self, kind: TenantKind, tenant: str, *, write: bool) -> None:
        if self.key is None:
            return
        if not self.key.reaches(kind, tenant):
            raise PermissionDeniedError(f"The access key may not reach this {kind.value}.")
        if write and self.key.level != Level.WRITE.value:
            raise PermissionDeniedError("The access key is read-only; this operation writes.")


EVERYTHING: Final = Grant()


class AccessKeys:
    """Creates, lists and revokes keys, and authenticates signed requests with them."""

    def __init__(
        self, catalog: AccessKeyCatalog, box: SecretBox, *, clock: Callable[[], float] = time.time,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self._catalog = catalog
        self._box = box
        self._clock = clock
        self._on_failure = on_failure or (lambda code: None)  # counts failed verifications (a metric)

    # managing keys -----------------------------------------------------------------------------------------------

    def create(
        self, *, level: Level, workspaces: Sequence[str] = (), projects: Sequence[str] = (), description: str = "",
    ) -> tuple[AccessKey, str]:
        """A new key and its secret; the secret is never shown again."""
        if not workspaces and not projects:
            raise ValueError("a key must be bound to at least one workspace or project")
        key_id = KEY_ID_PREFIX + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(20))
        secret = secrets.token_urlsafe(30)
        key = AccessKey(key_id=key_id, sealed_secret=self._box.seal(secret, key_id=key_id), level=level.value,
                        created_at=utc_now(),
                        workspaces=tuple(workspaces), projects=tuple(projects), description=description)
        self._catalog.put_access_key(key)
        return key, secret

    def list(self) -> list[AccessKey]:
        return sorted(self._catalog.list_access_keys(), key=lambda key: (key.created_at, key.key_id))

    def revoke(self, key_id: str) -> AccessKey:
        key = self._catalog.get_access_key(key_id)
        if key is None:
            raise NotFoundError("access key", key_id)
        revoked = key if key.revoked else replace(key, revoked_at=utc_now())
        self._catalog.put_access_key(revoked)
        return revoked

    # verifying requests ------------------------------------------------------------------------------------------

    def authenticate(self, request: SignedRequest) -> Grant:
        try:
            return Grant(self._authenticate(request))
        except AuthenticationError as error:
            # Counted and logged by code and key id only: never the signature, the secret or the request.
            self._on_failure(error.code or "")
            logger.warning("request signature refused", extra={"code": error.code})
            raise

    def _authenticate(self, request: SignedRequest) -> AccessKey:
        header = request.headers.get("authorization", "")
        if not header:
            raise AuthenticationError("IncompleteSignature", "The request is not signed: it has no Authorization "
                                      "header (ACS3-HMAC-SHA256, as the official SDKs sign).")
        try:
            authorization = acs3.parse_authorization(header)
        except acs3.MalformedAuthorization as exc:
            raise AuthenticationError("IncompleteSignature", f"The request signature is malformed: {exc}.") from None
        key = self._catalog.get_access_key(authorization.access_key_id) if _KEY_ID.match(
            authorization.access_key_id) else None
        if key is None:
            raise AuthenticationError("InvalidAccessKeyId.NotFound", "The AccessKeyId is not known.")
        if key.revoked:
            raise AuthenticationError("InvalidAccessKeyId.Inactive", "The AccessKeyId has been revoked.")
        unsigned = sorted(name for name in request.headers if _must_be_signed(name, request.body)
                          and name not in authorization.signed_headers)
        if unsigned:
            # Alibaba's rule: every x-acs-* header (the operation, the version…) and a body's content type are signed,
            # so that none can be changed on a signed request.
            raise AuthenticationError("IncompleteSignature", f"SignedHeaders must include {', '.join(unsigned)}.")
        payload_hash = request.headers.get("x-acs-content-sha256", "").strip().lower()
        if not payload_hash.isascii() or not acs3.matches(hashlib.sha256(request.body).hexdigest(), payload_hash):
            raise AuthenticationError("ContentSHA256Mismatch",
                                      "The body's SHA-256 is not the signed x-acs-content-sha256.")
        now = self._clock()
        signed_at = _timestamp(request.headers.get("x-acs-date", ""))
        if abs(now - signed_at) > CLOCK_SKEW_SECONDS:
            raise AuthenticationError("InvalidTimeStamp.Expired", "x-acs-date is more than 15 minutes away from "
                                      "the server's time; check the client's clock.")
        nonce = request.headers.get("x-acs-signature-nonce", "").strip()
        if not nonce or len(nonce) > MAX_NONCE_CHARS or not nonce.isascii():
            raise AuthenticationError("IncompleteSignature", "x-acs-signature-nonce must be 1-128 ASCII characters.")
        try:
            secret = self._box.open(key.sealed_secret, key_id=key.key_id)
        except ValueError:
            logger.error("an access key's secret cannot be opened with this deployment's master key",
                         extra={"key_id": key.key_id})
            raise AuthenticationError("InvalidAccessKeyId.NotFound", "The AccessKeyId is not known.") from None
        headers = {name: request.headers.get(name, "") for name in authorization.signed_headers}
        try:
            matched = any(
                acs3.matches(acs3.signature(secret, acs3.canonical_request(
                    request.method, path, request.query, headers, authorization.signed_headers, payload_hash)),
                    authorization.signature)
                for path in request.paths
            )
        except UnicodeEncodeError:  # a lone surrogate somewhere: no SDK signs that, so nothing can match
            matched = False
        if not matched:
            raise AuthenticationError("SignatureDoesNotMatch", "The request signature does not match: check the "
                                      "AccessKey secret and that the request was not changed after signing.")
        # Last: a replayed request with a valid signature is refused, a forged one never spends a nonce.
        if not self._catalog.use_nonce(key.key_id, nonce, signed_at + CLOCK_SKEW_SECONDS):
            raise AuthenticationError("SignatureNonceUsed", "This x-acs-signature-nonce was used already.")
        return key


def _must_be_signed(name: str, body: bytes) -> bool:
    return name.startswith("x-acs-") or (name == "content-type" and bool(body))


def _timestamp(text: str) -> float:
    try:
        moment = datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AuthenticationError("InvalidTimeStamp.Format",
                                  "x-acs-date must be a UTC time such as 2026-12-04T08:30:00Z.") from None
    return moment.timestamp()


class AuthMode(enum.Enum):
    NONE = "none"
    IAM = "iam"
    ACCESS_KEY = "accesskey"


class Gate:
    """Admits a request under the deployment's ``SIFT_AUTH`` and says what it may reach."""

    def __init__(self, mode: AuthMode, keys: AccessKeys | None = None) -> None:
        if mode is AuthMode.ACCESS_KEY and keys is None:
            raise ValueError("SIFT_AUTH=accesskey needs the access keys")
        self.mode = mode
        self._keys = keys

    def admit(self, request: SignedRequest | None, *, iam_identity: str = "") -> Grant:
        """``request`` is None for a direct Lambda invocation (IAM authorized ``lambda:InvokeFunction`` already).
        Under ``iam`` the gateway has checked the SigV4 signature; a request that reached the function without an
        IAM identity (a stage packaged without the authorizer) is refused rather than let through."""
        if request is None or self.mode is AuthMode.NONE:
            return EVERYTHING
        if self.mode is AuthMode.IAM:
            if not iam_identity:
                raise AuthenticationError("MissingIAMIdentity", "This stage authorizes with IAM (SigV4) and the "
                                          "request carries no IAM identity.")
            return EVERYTHING
        assert self._keys is not None
        return self._keys.authenticate(request)
