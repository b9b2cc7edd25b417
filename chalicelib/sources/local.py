"""Documents on the local file system (``file://`` URIs or plain paths), for the ``local`` stage."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlparse

from chalicelib.sources.base import SIDECAR_SUFFIX, SourceError, SourceObject, is_sidecar, sidecar_attributes


def to_path(uri: str) -> Path:
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    return Path(uri)


def to_uri(path: Path) -> str:
    return path.resolve().as_uri()


class LocalFileSource:
    def handles(self, uri: str) -> bool:
        return uri.startswith("file://") or "://" not in uri

    def list(self, prefix_uri: str) -> list[str]:
        root = to_path(prefix_uri)
        if root.is_file():
            return [to_uri(root)]
        if not root.is_dir():
            raise SourceError(f"No such file or directory: {prefix_uri}")
        return sorted(
            to_uri(path)
            for path in root.rglob("*")
            if path.is_file() and not is_sidecar(path.name) and not path.name.startswith(".")
        )

    def read(self, uri: str) -> SourceObject:
        path = to_path(uri)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"Cannot read {uri}: {exc.strerror or exc}") from exc
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        metadata = sidecar_attributes(sidecar.read_bytes(), to_uri(sidecar)) if sidecar.is_file() else {}
        return SourceObject(
            uri=to_uri(path),
            name=path.name,
            data=data,
            content_type=mimetypes.guess_type(path.name)[0],
            version=hashlib.sha256(data).hexdigest(),
            metadata=metadata,
        )
