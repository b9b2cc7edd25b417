"""The data center of a workspace: categories and files, uploaded once and indexed into any number of indexes.

This is the knowledge-base flow of the official Bailian SDKs: ApplyFileUploadLease grants an upload (a URL, a method
and headers) → the caller PUTs the file's bytes there → AddFile turns the upload into a file, which Sift parses at
once (``PARSE_SUCCESS`` or ``PARSE_FAILED`` with the reason) → CreateIndex / SubmitIndexAddDocumentsJob name files
(DocumentIds) or whole categories (CategoryIds), and the index's documents are those files, with the FileId as their
document id.

Where the bytes go is a ``BlobStore``: a directory on the local stage, whose upload URL is Sift's own upload route;
an S3 bucket on AWS, whose upload URL is a presigned PUT. Either way the upload is checked against the size and MD5 the
lease declared before a file is made of it, and a lease makes at most one file.

An index reads a file through its URI, ``datacenter://<WorkspaceId>/<FileId>`` (``file_uri``), like any other source
object: the indexing pipeline, its jobs and its Step Functions batches need nothing of their own.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from chalicelib.core.clock import new_id, utc_now
from chalicelib.core.errors import InternalError, InvalidParameterError, NotFoundError, ServiceError
from chalicelib.core.extraction import ExtractionError, extract
from chalicelib.core.ports.catalog import Category, DataCenterCatalog, DataCenterFile, FileStatus, UploadLease

logger = logging.getLogger(__name__)

URI_SCHEME: Final = "datacenter://"
DEFAULT_CATEGORY_ID: Final = "default"  # every workspace has it; ApplyFileUploadLease takes it by this id
DEFAULT_CATEGORY_NAME: Final = "default"
# Where bytes live in the store: uploads by lease until AddFile copies them to the file's own key.
UPLOADS_PREFIX: Final = "uploads/"
FILES_PREFIX: Final = "files/"
MAX_FILE_BYTES: Final = 100 * 1024 * 1024  # an upload lease grants at most this much
LEASE_SECONDS: Final = 15 * 60  # how long an upload lease can be used (to upload, then to AddFile)
UPLOAD_CONTENT_TYPE: Final = "application/octet-stream"


class BlobNotFoundError(Exception):
    """No object is stored under the key."""


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where and how the caller sends a file's bytes: ApplyFileUploadLease's ``Param`` (``Method``, ``Url``,
    ``Headers``)."""

    method: str
    url: str
    headers: dict[str, str]


class BlobStore(Protocol):
    """The bytes of data-center files: a local directory or an S3 bucket."""

    def upload_target(
        self, *, key: str, workspace_id: str, lease_id: str, md5: str, size: int, expires_in: int, endpoint: str
    ) -> UploadTarget:
        """Where the caller uploads the bytes for ``key``. ``endpoint`` is the URL the caller reached Sift at."""

    def receive(self, key: str, data: bytes) -> None:
        """Store an upload that came through Sift's own upload route (the local stage); ``InternalError`` on a store
        that takes uploads elsewhere."""

    def get(self, key: str) -> bytes:
        """The bytes; ``BlobNotFoundError`` when nothing is stored under ``key``."""

    def delete(self, key: str) -> None: ...

    def copy(self, source_key: str, target_key: str) -> None:
        """Copy the bytes under ``source_key`` to ``target_key`` (S3: server-side); ``BlobNotFoundError`` when there
        are none."""

    @property
    def expires_uploads(self) -> bool:
        """Whether the store itself drops what stays under ``UPLOADS_PREFIX`` (an S3 lifecycle rule); else Sift does,
        when a workspace's leases expire."""


def file_uri(workspace_id: str, file_id: str) -> str:
    return f"{URI_SCHEME}{workspace_id}/{file_id}"


def parse_file_uri(uri: str) -> tuple[str, str] | None:
    """(WorkspaceId, FileId) of a data-center URI; None for any other URI."""
    if not uri.startswith(URI_SCHEME):
        return None
    workspace_id, slash, file_id = uri[len(URI_SCHEME):].partition("/")
    return (workspace_id, file_id) if slash and workspace_id and file_id and "/" not in file_id else None


def content_md5(md5_hex: str) -> str:
    """The ``Content-MD5`` header of a body whose MD5 is ``md5_hex`` (base64 of the digest, as HTTP and S3 want it)."""
    return base64.b64encode(bytes.fromhex(md5_hex)).decode()


@dataclass(frozen=True, slots=True)
class Lease:
    """A granted upload lease, as ApplyFileUploadLease answers it."""

    lease_id: str
    target: UploadTarget


class DataCenterService:
    def __init__(
        self, catalog: DataCenterCatalog, blobs: BlobStore | None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._catalog = catalog
        self._blobs = blobs  # None: this deployment has no data-center storage configured
        self._clock = clock

    # categories --------------------------------------------------------------------------------------------------

    def add_category(self, workspace_id: str, *, name: str, category_type: str, parent_id: str | None) -> Category:
        if parent_id:
            self.category(workspace_id, parent_id)
        category = Category(workspace_id, new_id("cate"), name, category_type, parent_id or "", utc_now())
        self._catalog.create_category(category)
        return category

    def category(self, workspace_id: str, category_id: str) -> Category:
        """The category (``default`` included); a missing one is a 404 naming it."""
        if category_id == DEFAULT_CATEGORY_ID:
            return _default_category(workspace_id)
        category = self._catalog.get_category(workspace_id, category_id)
        if category is None:
            raise NotFoundError("category", category_id)
        return category

    def list_categories(
        self, workspace_id: str, *, category_type: str, parent_id: str | None, name: str | None
    ) -> list[Category]:
        """The categories of one type under one parent (the top level without one), ``default`` first (it takes both
        types); ``name`` keeps those of exactly that name."""
        if parent_id:
            self.category(workspace_id, parent_id)
        top = [replace(_default_category(workspace_id), category_type=category_type)] if not parent_id else []
        return [
            category for category in [*top, *self._catalog.list_categories(workspace_id)]
            if category.category_type == category_type and category.parent_id == (parent_id or "")
            and (not name or name == category.name)
        ]

    def delete_category(self, workspace_id: str, category_id: str) -> None:
        """Delete an empty category; one that holds files or categories is refused (its files would be orphans)."""
        if category_id == DEFAULT_CATEGORY_ID:
            raise InvalidParameterError("CategoryId", "the default category cannot be deleted")
        self.category(workspace_id, category_id)
        files = self._catalog.list_files(workspace_id, category_id=category_id)
        children = [c for c in self._catalog.list_categories(workspace_id) if c.parent_id == category_id]
        if files or children:
            raise InvalidParameterError("CategoryId", f"the category holds {len(files)} file(s) and "
                                        f"{len(children)} category(ies): delete them first")
        self._catalog.delete_category(workspace_id, category_id)

    # uploads -----------------------------------------------------------------------------------------------------

    def apply_upload_lease(
        self, workspace_id: str, category_id: str, *, category_type: str, file_name: str, md5: str, size: int,
        endpoint: str,
    ) -> Lease:
        self._check_category(workspace_id, category_id, category_type)
        if not 0 < size <= MAX_FILE_BYTES:
            raise InvalidParameterError("SizeInBytes", f"must be between 1 and {MAX_FILE_BYTES}")
        blobs = self._require_blobs()
        if not blobs.expires_uploads:
            self._discard_expired_leases(workspace_id)
        # The lease id is in the local upload URL: 128 random bits make it a capability no one guesses. The key holds
        # no file name: names are the caller's text, and S3 keys are limited to 1,024 bytes.
        lease_id = f"lease_{secrets.token_hex(16)}"
        key = f"{UPLOADS_PREFIX}{workspace_id}/{lease_id}"
        lease = UploadLease(
            workspace_id=workspace_id, lease_id=lease_id, category_id=category_id, category_type=category_type,
            file_name=file_name, md5=md5.lower(), size=size, storage_key=key,
            expires_at=self._clock() + LEASE_SECONDS, created_at=utc_now(),
        )
        target = blobs.upload_target(key=key, workspace_id=workspace_id, lease_id=lease_id, md5=lease.md5, size=size,
                                     expires_in=LEASE_SECONDS, endpoint=endpoint)
        self._catalog.put_lease(lease)
        return Lease(lease_id, target)

    def receive_upload(self, workspace_id: str, lease_id: str, data: bytes) -> UploadLease:
        """The local stage's upload route: check the bytes against the lease, then store them (replacing an earlier
        upload with the same lease). The lease record is not written: what is stored is the only upload state, so an
        upload racing AddFile cannot bring a taken lease back."""
        lease = self._live_lease(workspace_id, lease_id)
        _check_upload(lease, len(data), hashlib.md5(data).hexdigest())
        self._require_blobs().receive(lease.storage_key, data)
        return lease

    # files -------------------------------------------------------------------------------------------------------

    def add_file(
        self, workspace_id: str, *, lease_id: str, parser: str, category_id: str, category_type: str,
        tags: Sequence[str],
    ) -> DataCenterFile:
        """Make a file of an upload and parse it; the file is returned whichever way the parse went.

        Everything that can fail runs before the lease is taken (a timeout or a refusal leaves it usable for a
        retry): the checks, the parse, and the copy of the upload to the file's own key, out of reach of the lease's
        URL (which stays usable until it expires) and of the expiry of abandoned uploads. Taking the lease is the one
        atomic step, so two AddFile calls on one lease make one file, written once, parsed. The upload is read once:
        its size and MD5 are checked, and it is parsed, from the same bytes.
        """
        lease = self._live_lease(workspace_id, lease_id)
        if lease.category_id != category_id:
            raise InvalidParameterError("CategoryId", f"the lease was granted for category {lease.category_id}")
        if lease.category_type != category_type:
            raise InvalidParameterError("CategoryType", f"the lease was granted for {lease.category_type}")
        self._check_category(workspace_id, category_id, category_type)  # it may have been deleted since the lease
        blobs = self._require_blobs()
        try:
            data = blobs.get(lease.storage_key)
        except BlobNotFoundError:
            raise _nothing_uploaded() from None
        _check_upload(lease, len(data), hashlib.md5(data).hexdigest())
        status, parse_error = _parse(lease.file_name, data)
        file_id = new_id("file")
        file_key = f"{FILES_PREFIX}{workspace_id}/{file_id}"
        try:
            blobs.copy(lease.storage_key, file_key)
        except BlobNotFoundError:  # gone between the read and the copy (its lease expired meanwhile)
            raise _nothing_uploaded() from None
        if not self._catalog.take_lease(workspace_id, lease_id):  # another AddFile took it a moment ago
            blobs.delete(file_key)
            raise NotFoundError("lease", lease_id)
        now = utc_now()
        file = DataCenterFile(
            workspace_id=workspace_id, file_id=file_id, category_id=category_id, category_type=category_type,
            file_name=lease.file_name, size=len(data), md5=lease.md5, storage_key=file_key, parser=parser,
            status=status.value, created_at=now, updated_at=now, tags=tuple(tags), parse_error=parse_error,
        )
        self._catalog.put_file(file)
        try:  # best effort: what stays under the uploads prefix expires anyway
            blobs.delete(lease.storage_key)
        except ServiceError:
            logger.warning("could not delete an upload after AddFile", extra={"lease_id": lease_id})
        return file

    def file(self, workspace_id: str, file_id: str) -> DataCenterFile:
        file = self._catalog.get_file(workspace_id, file_id)
        if file is None:
            raise NotFoundError("file", file_id)
        return file

    def list_files(
        self, workspace_id: str, *, category_id: str | None, file_ids: Sequence[str] | None, name: str | None
    ) -> list[DataCenterFile]:
        """The workspace's files, oldest first: of one category, among ``file_ids``, named ``name`` (exactly, with
        or without its extension, as ListFile documents it)."""
        if category_id:
            self.category(workspace_id, category_id)
        wanted = set(file_ids) if file_ids else None
        return [
            file for file in self._catalog.list_files(workspace_id, category_id=category_id or None)
            if (wanted is None or file.file_id in wanted) and (not name or name in (file.file_name, file.stem))
        ]

    def delete_file(self, workspace_id: str, file_id: str) -> None:
        """Delete the file and its bytes. Indexes that hold it keep their copy (DeleteIndexDocument removes it).

        The bytes go first: should the record's deletion fail, a retry finds the file and finishes; the reverse
        order would leave bytes no record points to."""
        file = self.file(workspace_id, file_id)
        self._require_blobs().delete(file.storage_key)
        self._catalog.delete_file(workspace_id, file_id)

    def read(self, workspace_id: str, file_id: str) -> tuple[DataCenterFile, bytes]:
        """A file and its bytes, for indexing."""
        file = self.file(workspace_id, file_id)
        try:
            return file, self._require_blobs().get(file.storage_key)
        except BlobNotFoundError:
            raise NotFoundError("file", file_id) from None

    # indexes -----------------------------------------------------------------------------------------------------

    def index_uris(
        self, workspace_id: str, *, file_ids: Iterable[str] = (), category_ids: Iterable[str] = (),
        files_field: str = "DocumentIds", categories_field: str = "CategoryIds",
    ) -> list[str]:
        """The URIs an index job reads for these files and categories: every named file must exist and be parsed;
        a category gives its parsed files (those that failed to parse cannot be indexed)."""
        uris: list[str] = []
        for position, file_id in enumerate(file_ids):
            file = self._catalog.get_file(workspace_id, file_id)
            if file is None:
                raise InvalidParameterError(f"{files_field}[{position}]", f"no file {file_id} in this workspace")
            if file.status != FileStatus.PARSE_SUCCESS.value:
                raise InvalidParameterError(f"{files_field}[{position}]", f"file {file_id} is {file.status}")
            uris.append(file_uri(workspace_id, file_id))
        for position, category_id in enumerate(category_ids):
            if category_id != DEFAULT_CATEGORY_ID and self._catalog.get_category(workspace_id, category_id) is None:
                raise InvalidParameterError(f"{categories_field}[{position}]", f"no category {category_id} here")
            uris.extend(
                file_uri(workspace_id, file.file_id)
                for file in self._catalog.list_files(workspace_id, category_id=category_id)
                if file.status == FileStatus.PARSE_SUCCESS.value
            )
        return list(dict.fromkeys(uris))

    # internals ---------------------------------------------------------------------------------------------------

    def _live_lease(self, workspace_id: str, lease_id: str) -> UploadLease:
        lease = self._catalog.get_lease(workspace_id, lease_id)
        if lease is None:
            raise NotFoundError("lease", lease_id)
        if lease.expires_at < self._clock():
            raise InvalidParameterError("LeaseId", f"the lease expired {math.ceil(self._clock() - lease.expires_at)} "
                                        "s ago: apply for a new one")
        return lease

    def _check_category(self, workspace_id: str, category_id: str, category_type: str) -> None:
        """The category exists and takes files of this type (``default`` takes both, as documented)."""
        category = self.category(workspace_id, category_id)
        if category_id != DEFAULT_CATEGORY_ID and category.category_type != category_type:
            raise InvalidParameterError("CategoryType", f"category {category_id} is {category.category_type}")

    def _discard_expired_leases(self, workspace_id: str) -> None:
        """Where the store does not expire abandoned uploads itself (a local directory), leases that expired unused
        are dropped with their bytes when the workspace asks for a new one."""
        now = self._clock()
        for lease in self._catalog.list_leases(workspace_id):
            if lease.expires_at < now and self._catalog.take_lease(workspace_id, lease.lease_id):
                self._require_blobs().delete(lease.storage_key)

    def _require_blobs(self) -> BlobStore:
        if self._blobs is None:
            raise InternalError("this deployment has no data-center storage (set SIFT_DATA_CENTER_BUCKET)")
        return self._blobs


def _parse(file_name: str, data: bytes) -> tuple[FileStatus, str]:
    """Sift's parser: the extraction the indexer uses, run once now so that DescribeFile can tell the outcome."""
    try:
        extract(data, filename=file_name)
    except ExtractionError as exc:
        return FileStatus.PARSE_FAILED, str(exc)
    return FileStatus.PARSE_SUCCESS, ""


def _nothing_uploaded() -> InvalidParameterError:
    return InvalidParameterError("LeaseId", "nothing has been uploaded with this lease yet")


def _check_upload(lease: UploadLease, size: int, md5: str) -> None:
    if size != lease.size:
        raise InvalidParameterError("SizeInBytes", f"the lease declared {lease.size} bytes; {size} were uploaded")
    if md5 != lease.md5:
        raise InvalidParameterError("Md5", f"the lease declared {lease.md5}; the upload's MD5 is {md5}")


def _default_category(workspace_id: str) -> Category:
    return Category(workspace_id, DEFAULT_CATEGORY_ID, DEFAULT_CATEGORY_NAME, "UNSTRUCTURED", "", "")
