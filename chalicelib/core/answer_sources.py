"""ContextualAnswer's sources: the passed Files as ``AnswerFile``s, the identity a Reference copies and the texts an
answer is grounded on.

Files (``answer_files``)
    A File's text is its element contents (``Elements[].ElementContents[].Content``, the matching chunks a retrieval
    returned) followed by what is said about it: Title, label names, image/video captions and descriptions, OCR text,
    addresses, custom labels, album/artist fields and the file name (the fields Sift indexes as a file's metadata
    text). Missing or mistyped fields are skipped, never an error: Files are whatever the caller sends. A File is
    skipped when it has neither ObjectId nor URI (it could not be referenced), when it has no text (nothing to ground
    an answer on), when it is not a JSON object, or when it repeats an earlier File's identity. A reference copies
    the four fields as given, ``""`` for a missing one; nothing is looked up or made up.

Limits
    At most ``MAX_FILES`` (50) files are used, in the order given (a retrieval's order is its ranking), and at most
    ``MAX_FILE_CHARS`` (4,000) characters of each file's text; the rest is cut off. Both answerers see the same cut
    text, so the extractive answer and the model's prompt are grounded in the same material, and a prompt holds at most
    200,000 characters of documents. No Files (or none usable) gives the not-found answer without calling a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chalicelib.core.file_fields import described_texts, objects

MAX_FILES: Final = 50
# Per file. Element contents come first, so the matching chunks survive the cut before the metadata does.
MAX_FILE_CHARS: Final = 4_000


@dataclass(frozen=True, slots=True)
class AnswerFile:
    """What the answerers need of a passed File: its identity (for References) and its texts."""

    project_name: str
    dataset_name: str
    object_id: str
    uri: str
    texts: tuple[str, ...]
    truncated: bool = False  # the texts were cut to MAX_FILE_CHARS

    @property
    def reference(self) -> dict[str, str]:
        """The documented Reference of this file."""
        return {
            "ProjectName": self.project_name,
            "DatasetName": self.dataset_name,
            "ObjectId": self.object_id,
            "URI": self.uri,
        }


def answer_files(
    files: Iterable[Any], *, max_files: int = MAX_FILES, max_chars: int = MAX_FILE_CHARS
) -> list[AnswerFile]:
    """The usable Files among ``files`` (raw File dicts), at most ``max_files``, texts cut to ``max_chars`` each.

    The skipping rules are in the module docstring; nothing here raises on a malformed File.
    """
    kept: list[AnswerFile] = []
    seen: set[tuple[str, str, str, str]] = set()
    for raw in files:
        if len(kept) >= max_files:
            break
        if not isinstance(raw, Mapping):
            continue
        identity = tuple(_string(raw.get(key)) for key in ("ProjectName", "DatasetName", "ObjectId", "URI"))
        project, dataset, object_id, uri = identity
        if not (object_id or uri) or identity in seen:
            continue
        texts, truncated = _cut(file_texts(raw), max_chars)
        if not texts:
            continue
        seen.add((project, dataset, object_id, uri))
        kept.append(AnswerFile(project, dataset, object_id, uri, tuple(texts), truncated))
    return kept


def file_texts(file: Mapping[str, Any]) -> list[str]:
    """A File's texts: element contents, then what the File says about itself, then its file name; each once."""
    texts: list[str] = []
    contents = [
        content.get("Content")
        for element in objects(file.get("Elements"))
        for content in objects(element.get("ElementContents"))
    ]
    for value in [*contents, *described_texts(file), file.get("Filename")]:
        if isinstance(value, str) and value.strip() and value.strip() not in texts:
            texts.append(value.strip())
    return texts


def _string(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _cut(texts: Sequence[str], budget: int) -> tuple[list[str], bool]:
    kept: list[str] = []
    for text in texts:
        if budget <= 0:
            return kept, True
        if len(text) > budget:
            kept.append(text[:budget])
            return kept, True
        kept.append(text)
        budget -= len(text)
    return kept, False
