"""The ``sift`` command's tests: each runs against the clean local stage of ``sift_env`` (its own SIFT_DATA_DIR)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DOCS = REPO_ROOT / "examples" / "docs"
DEMO_FILES = 8  # examples/docs without its sidecars


@pytest.fixture
def mixed_docs(tmp_path: Path) -> Path:
    """A folder of three files: one that indexes, one empty, one that cannot be parsed."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "ok.txt").write_text("Tents are great for camping in the rain.\n", encoding="utf-8")
    (folder / "blank.txt").write_text("", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"not a pdf at all")
    return folder
