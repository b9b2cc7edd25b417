"""Secrets sealed with an AWS KMS key (the AWS stages: the stack creates the key, ``SIFT_KMS_KEY_ID``).

Each secret is encrypted under the key with an encryption context that names its purpose and its AccessKeyId, so a
ciphertext made for something else, or moved to another key's record, does not open here. Opened secrets are kept in memory for the life of the container, keyed by their
ciphertext: a request costs a catalog read (which also sees revocations at once), not a KMS call.
"""

from __future__ import annotations

import base64
import threading
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.errors import InternalError, ServiceUnavailableError

_CONTEXT: Final = {"purpose": "sift-access-key-secret"}
_MAX_CACHED: Final = 1024


class KmsBox:
    def __init__(self, client: Any, key_id: str) -> None:
        self._kms = client
        self._key_id = key_id
        self._opened: dict[str, str] = {}
        self._lock = threading.Lock()

    def seal(self, secret: str, *, key_id: str) -> str:
        try:
            response = self._kms.encrypt(KeyId=self._key_id, Plaintext=secret.encode(),
                                         EncryptionContext=_CONTEXT | {"access-key-id": key_id})
        except (ClientError, BotoCoreError) as exc:
            raise _error("seal", exc) from exc
        return "kms:" + base64.b64encode(response["CiphertextBlob"]).decode()

    def open(self, sealed: str, *, key_id: str) -> str:
        with self._lock:
            cached = self._opened.get(f"{key_id}\x00{sealed}")
        if cached is not None:
            return cached
        if not sealed.startswith("kms:"):
            raise ValueError("not a KMS-sealed secret")
        try:
            response = self._kms.decrypt(CiphertextBlob=base64.b64decode(sealed[4:]),
                                         EncryptionContext=_CONTEXT | {"access-key-id": key_id})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"InvalidCiphertextException", "IncorrectKeyException"}:
                raise ValueError("not sealed by this key") from None
            raise _error("open", exc) from exc
        except BotoCoreError as exc:
            raise _error("open", exc) from exc
        secret: str = response["Plaintext"].decode()
        with self._lock:
            if len(self._opened) >= _MAX_CACHED:
                self._opened.clear()
            self._opened[f"{key_id}\x00{sealed}"] = secret
        return secret


def _error(action: str, exc: Exception) -> InternalError | ServiceUnavailableError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return InternalError(f"KMS could not {action} an access-key secret ({code})")
    return ServiceUnavailableError(f"KMS did not answer ({type(exc).__name__}); retry later")
