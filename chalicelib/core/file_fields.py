"""What a media File says about itself, read one way for every use: the searchable metadata text of an indexed file
(``core.media``), the text an answer may quote (``core.answer_sources``), and the place and label values SemanticQuery's
conditions match."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

ADDRESS_KEYS: Final = ("Country", "Province", "City", "District", "Township", "AddressLine")
_NAME_KEYS: Final = ("Album", "Artist", "AlbumArtist", "Composer", "Performer")


def objects(value: Any) -> list[Mapping[str, Any]]:
    """The JSON objects of a list field (anything else in it, or a non-list, is ignored)."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def described_texts(file: Mapping[str, Any]) -> list[str]:
    """Each distinct text said about the file, in a fixed order: title, label names, captions and descriptions, OCR
    text, addresses, custom labels, artist and album names."""
    texts: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str) and value.strip() and value.strip() not in texts:
            texts.append(value.strip())

    add(file.get("Title"))
    for label in objects(file.get("Labels")):
        add(label.get("LabelName"))
    insights = file.get("Insights")
    if isinstance(insights, Mapping):
        for kind in ("Image", "Video"):
            section = insights.get(kind)
            if isinstance(section, Mapping):
                add(section.get("Caption"))
                add(section.get("Description"))
    add(file.get("OCRTexts"))
    for ocr in objects(file.get("OCRContents")):
        add(ocr.get("Contents"))
    for address in objects(file.get("Addresses")):
        add(" ".join(str(address[key]).strip() for key in ADDRESS_KEYS if str(address.get(key) or "").strip()))
    custom = file.get("CustomLabels")
    if isinstance(custom, Mapping):
        for key, value in custom.items():
            add(f"{key} {value}")
    for key in _NAME_KEYS:
        add(file.get(key))
    return texts


def place_values(file: Mapping[str, Any]) -> list[str]:
    """Every Addresses field value, once."""
    return _values(file.get("Addresses"), ADDRESS_KEYS)


def label_values(file: Mapping[str, Any]) -> list[str]:
    """Every LabelName and ParentLabelName, once."""
    return _values(file.get("Labels"), ("LabelName", "ParentLabelName"))


def _values(items: Any, keys: tuple[str, ...]) -> list[str]:
    values: list[str] = []
    for item in objects(items):
        for key in keys:
            value = item.get(key)
            if isinstance(value, str) and value.strip() and value.strip() not in values:
                values.append(value.strip())
    return values
