"""Documents on the local file system (``file://`` URIs or plain paths), for the ``local`` stage.

Regular files only (not devices, pipes or sockets: ``/dev/zero`` never ends, a pipe blocks forever), at most
``MAX_SOURCE_BYTES`` each, at most ``MAX_LISTED_OBJECTS`` under a prefix; any file-system error (a name too long, a
directory it may not read, a loop) is a ``SourceError`` of that URI, never an exception of the request.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat
from pathlib import Path
from urllib.parse import unquote, urlparse

from chalicelib.core.ports.sources import (
    MAX_LISTED_OBJECTS,
    MAX_SOURCE_BYTES,
    SIDECAR_SUFFIX,
    SourceError,
    SourceMissing,
    SourceObject,
    is_sidecar,
    sidecar_attributes,
)


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
        try:
            root = to_path(prefix_uri)
            if root.is_file():
                return [to_uri(root)]
            if not root.is_dir():
                raise SourceError(f"No such file or directory: {_shown(prefix_uri)}")
            found: list[str] = []
            for path in root.rglob("*"):
                if path.name.startswith(".") or is_sidecar(path.name) or not path.is_file():
                    continue
                if len(found) == MAX_LISTED_OBJECTS:
                    raise SourceError(f"{_shown(prefix_uri)} holds more than {MAX_LISTED_OBJECTS} files; name a "
                                      "narrower prefix")
                found.append(to_uri(path))
        except OSError as exc:
            raise SourceError(f"Cannot list {_shown(prefix_uri)}: {exc.strerror or type(exc).__name__}") from None
        return sorted(found)

    def read(self, uri: str) -> SourceObject:
        try:
            path = to_path(uri)
            data, revision = _read_regular_file(path, uri)
            sidecar = _sidecar_path(path)
            metadata: dict[str, object] = {}
            sidecar_revision = ""
            if sidecar.is_file():
                raw, sidecar_revision = _read_regular_file(sidecar, to_uri(sidecar))
                metadata = sidecar_attributes(raw, to_uri(sidecar))
        except FileNotFoundError:
            raise SourceMissing(f"Cannot read {_shown(uri)}: no such file") from None
        except OSError as exc:
            raise SourceError(f"Cannot read {_shown(uri)}: {exc.strerror or type(exc).__name__}") from None
        return SourceObject(
            uri=to_uri(path),
            name=path.name,
            data=data,
            content_type=mimetypes.guess_type(path.name)[0],
            version=hashlib.sha256(data).hexdigest(),
            metadata=metadata,
            revision=f"{revision}|{sidecar_revision}",
        )

    def revision(self, uri: str) -> str | None:
        try:
            path = to_path(uri)
            revision = _stat_revision(os.stat(path))
            sidecar = _sidecar_path(path)
            sidecar_revision = _stat_revision(os.stat(sidecar)) if sidecar.is_file() else ""
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SourceError(f"Cannot look up {_shown(uri)}: {exc.strerror or type(exc).__name__}") from None
        return f"{revision}|{sidecar_revision}"


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _stat_revision(info: os.stat_result) -> str:
    """A file's revision without reading it: a rewrite changes its modification time or size, a rename its inode."""
    return f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


def _read_regular_file(path: Path, uri: str) -> tuple[bytes, str]:
    """The file's bytes and revision, if it is a regular file of at most ``MAX_SOURCE_BYTES`` (checked before
    opening: opening a pipe would block). Read through one descriptor, bounded, so a file that grows meanwhile cannot
    exceed the cap; the revision is taken from that descriptor before reading, so it is never newer than the bytes."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(f"Cannot read {_shown(uri)}: not a regular file")
    if info.st_size > MAX_SOURCE_BYTES:
        raise SourceError(f"Cannot read {_shown(uri)}: larger than {MAX_SOURCE_BYTES} bytes")
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode):  # replaced between the two looks
            raise SourceError(f"Cannot read {_shown(uri)}: not a regular file")
        data = handle.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceError(f"Cannot read {_shown(uri)}: larger than {MAX_SOURCE_BYTES} bytes")
    return data, _stat_revision(opened)


def _shown(uri: str) -> str:
    """A URI in a message: shortened, so a hostile one cannot fill the answer."""
    return uri if len(uri) <= 200 else f"{uri[:200]}…"
