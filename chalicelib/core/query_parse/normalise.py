"""The query's normal form: NFKC with collapsed whitespace, and case folding that keeps offsets."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

_WS: Final = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def _fold(text: str) -> str:
    """Lower case without changing the length (so offsets in the folded text are offsets in ``text``)."""
    lowered = text.lower()
    if len(lowered) == len(text):  # lower() only ever lengthens (İ → i̇), so equal lengths mean char by char
        return lowered
    return "".join(char if len(low := char.lower()) != 1 else low for char in text)
