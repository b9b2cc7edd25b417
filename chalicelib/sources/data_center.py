"""Data-center files as source objects (``datacenter://<WorkspaceId>/<FileId>``), so that the indexing pipeline reads
them like any other object: the file's name, its bytes, its MD5 as the version, its Tags and category as metadata."""

from __future__ import annotations

import mimetypes

from chalicelib.core.data_center import URI_SCHEME, DataCenterService, parse_file_uri
from chalicelib.core.errors import NotFoundError
from chalicelib.core.ports.sources import SourceError, SourceMissing, SourceObject


class DataCenterSource:
    def __init__(self, files: DataCenterService) -> None:
        self._files = files

    def handles(self, uri: str) -> bool:
        return uri.startswith(URI_SCHEME)

    def list(self, prefix_uri: str) -> list[str]:
        """A file URI lists itself (index jobs name files one by one)."""
        self._parts(prefix_uri)
        return [prefix_uri]

    def read(self, uri: str) -> SourceObject:
        workspace_id, file_id = self._parts(uri)
        try:
            file, data = self._files.read(workspace_id, file_id)
        except NotFoundError:
            raise SourceMissing(f"File {file_id} is no longer in the data center") from None
        return SourceObject(
            uri=uri, name=file.file_name, data=data, content_type=mimetypes.guess_type(file.file_name)[0],
            version=file.md5, metadata={"tags": list(file.tags), "category_id": file.category_id}, revision=file.md5,
        )

    def revision(self, uri: str) -> str | None:
        """A data-center file never changes (a new upload is a new FileId): its MD5 while it exists."""
        workspace_id, file_id = self._parts(uri)
        try:
            file = self._files.file(workspace_id, file_id)
        except NotFoundError:
            return None
        return file.md5

    @staticmethod
    def _parts(uri: str) -> tuple[str, str]:
        parts = parse_file_uri(uri)
        if parts is None:
            raise SourceError(f"Not a data-center file URI: {uri}")
        return parts
