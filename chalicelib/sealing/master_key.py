"""Secrets sealed under a master key kept in a file outside the data directory (the ``local`` stage).

The construction uses the standard library only: HMAC-SHA256 as a pseudo-random function, in counter mode for the
key stream and as the MAC (encrypt-then-MAC), with keys for each derived from the master key. A sealed secret is
``v1:`` + base64(nonce ‖ ciphertext ‖ tag); opening checks the tag in constant time before anything is decrypted.
Secrets are short (40 characters), so the counter never leaves its first few blocks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Final

_VERSION: Final = "v1:"
_NONCE_BYTES: Final = 16
_TAG_BYTES: Final = 32
_MASTER_KEY_BYTES: Final = 32


class MasterKeyBox:
    def __init__(self, master_key_file: Path) -> None:
        self._path = master_key_file
        self._master: bytes | None = None

    def seal(self, secret: str, *, key_id: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = _xor(secret.encode(), self._stream(nonce, len(secret.encode()), create=True))
        tag = self._tag(key_id, nonce, ciphertext, create=True)
        return _VERSION + base64.b64encode(nonce + ciphertext + tag).decode()

    def open(self, sealed: str, *, key_id: str) -> str:
        if not sealed.startswith(_VERSION):
            raise ValueError("not a sealed secret")
        raw = base64.b64decode(sealed[len(_VERSION):], validate=True)
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise ValueError("not a sealed secret")
        nonce, ciphertext, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if not hmac.compare_digest(self._tag(key_id, nonce, ciphertext), tag):
            raise ValueError("sealed under another master key or for another key, or altered")
        return _xor(ciphertext, self._stream(nonce, len(ciphertext))).decode()

    def _tag(self, key_id: str, nonce: bytes, ciphertext: bytes, *, create: bool = False) -> bytes:
        """The MAC over the key id (length-prefixed: no two ids and nonces run together), the nonce and the text."""
        bound = key_id.encode()
        message = len(bound).to_bytes(2, "big") + bound + nonce + ciphertext
        return hmac.new(self._key(b"mac", create=create), message, hashlib.sha256).digest()

    def _stream(self, nonce: bytes, length: int, *, create: bool = False) -> bytes:
        key = self._key(b"enc", create=create)
        blocks = (hmac.new(key, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest()
                  for counter in range((length + 31) // 32))
        return b"".join(blocks)[:length]

    def _key(self, purpose: bytes, *, create: bool) -> bytes:
        return hmac.new(self._master_key(create), b"sift access-key secrets " + purpose, hashlib.sha256).digest()

    def _master_key(self, create: bool) -> bytes:
        """Read once. Created (0600, in a 0700 directory) only when a secret is sealed: a key file gone missing must
        not be replaced quietly by one that opens nothing. A key file others may read is refused."""
        if self._master is None:
            if not self._path.exists():
                if not create:
                    raise ValueError(f"no master key at {self._path}")
                self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                descriptor = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as out:
                    out.write(secrets.token_bytes(_MASTER_KEY_BYTES))
            if self._path.stat().st_mode & 0o077:
                raise PermissionError(f"the master key file {self._path} must be readable by its owner only (0600)")
            master = self._path.read_bytes()
            if len(master) != _MASTER_KEY_BYTES:
                raise ValueError(f"the master key file {self._path} is not a Sift master key")
            self._master = master
        return self._master


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))
