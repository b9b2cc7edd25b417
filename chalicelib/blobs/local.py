"""Data-center files in a local directory (the ``local`` stage), uploaded through Sift's own upload route."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from chalicelib.core.data_center import UPLOAD_CONTENT_TYPE, BlobNotFoundError, UploadTarget

# The local server's route that receives uploads (``app.py``): PUT <endpoint>/sift-uploads/{WorkspaceId}/{LeaseId}.
UPLOAD_ROUTE = "/sift-uploads/{WorkspaceId}/{LeaseId}"


class LocalBlobStore:
    """One file per key, named by the key's SHA-256: a key holds the caller's file name, which may be long or hold
    characters a file system refuses, and must never become a path of its own."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def upload_target(
        self, *, key: str, workspace_id: str, lease_id: str, md5: str, size: int, expires_in: int, endpoint: str
    ) -> UploadTarget:
        path = UPLOAD_ROUTE.format(WorkspaceId=quote(workspace_id, safe=""), LeaseId=quote(lease_id, safe=""))
        return UploadTarget("PUT", f"{endpoint.rstrip('/')}{path}", {"Content-Type": UPLOAD_CONTENT_TYPE})

    @property
    def expires_uploads(self) -> bool:
        return False  # the data center drops expired leases' uploads itself

    def receive(self, key: str, data: bytes) -> None:
        self._write(key, data)

    def copy(self, source_key: str, target_key: str) -> None:
        self._write(target_key, self.get(source_key))

    def _write(self, key: str, data: bytes) -> None:
        """Written to a temporary file and renamed: a reader never sees half an upload."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self._root / digest[:2] / digest
