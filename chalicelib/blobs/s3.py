"""Data-center files in an S3 bucket (the AWS stages), uploaded by the caller to a presigned PUT URL.

The presigned URL signs ``Content-Type`` and ``Content-MD5``: S3 itself refuses a body whose MD5 is not the one the
lease declared, and AddFile checks the stored object's size and MD5 against the lease before making a file of it. Uploads
land under ``uploads/``, which the bucket's lifecycle rule (``scripts/build_infra.py``) expires after a day; AddFile
copies an upload to the file's own key under ``files/``, which nothing expires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.data_center import UPLOAD_CONTENT_TYPE, BlobNotFoundError, UploadTarget, content_md5
from chalicelib.core.errors import InternalError, InvalidParameterError, ServiceError, ServiceUnavailableError

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class S3BlobStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def upload_target(
        self, *, key: str, workspace_id: str, lease_id: str, md5: str, size: int, expires_in: int, endpoint: str
    ) -> UploadTarget:
        headers = {"Content-Type": UPLOAD_CONTENT_TYPE, "Content-MD5": content_md5(md5)}
        try:
            url = self._s3.generate_presigned_url(
                "put_object", ExpiresIn=expires_in,
                Params={"Bucket": self._bucket, "Key": key, "ContentType": headers["Content-Type"],
                        "ContentMD5": headers["Content-MD5"]},
            )
        except (ClientError, BotoCoreError) as exc:
            raise _error("presign the upload", exc) from exc
        return UploadTarget("PUT", url, headers)

    @property
    def expires_uploads(self) -> bool:
        return True

    def copy(self, source_key: str, target_key: str) -> None:
        """Server-side (CopyObject handles objects up to 5 GB; a lease grants at most 100 MB)."""
        self._call("copy the upload", self._s3.copy_object, source_key, Key=target_key,
                   CopySource={"Bucket": self._bucket, "Key": source_key})

    def receive(self, key: str, data: bytes) -> None:
        raise InvalidParameterError("LeaseId", "on this stage a file is uploaded to its lease's Url, not through Sift")

    def get(self, key: str) -> bytes:
        response = self._call("read the file", self._s3.get_object, key, Key=key)
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self._call("delete the file", self._s3.delete_object, key, Key=key)

    def _call(self, action: str, method: Callable[..., Any], key: str, **parameters: Any) -> Any:
        """``method`` on this bucket: a missing key is ``BlobNotFoundError(key)``, any other failure a service error
        naming ``action`` (never S3's own message, which may name the bucket)."""
        try:
            return method(Bucket=self._bucket, **parameters)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFoundError(key) from None
            raise _error(action, exc) from exc
        except BotoCoreError as exc:
            raise _error(action, exc) from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error(action: str, exc: Exception) -> ServiceError:
    if isinstance(exc, ClientError):
        return InternalError(f"S3 could not {action} ({_code(exc) or 'error'})")
    return ServiceUnavailableError(f"S3 did not answer ({type(exc).__name__}); retry later")
