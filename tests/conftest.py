"""Shared fixtures: every test gets its own data directory and a fresh service built from the environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fast, deterministic embeddings unless a test asks for the real model (tests/e2e does).
os.environ.setdefault("SIFT_EMBEDDER", "hashing")
os.environ.setdefault("SIFT_EMBEDDING_CACHE", "off")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
# Every answer of every test is checked against its operation's declared response model (chalicelib.api.responses).
os.environ.setdefault("SIFT_CHECK_RESPONSES", "true")


@pytest.fixture
def sift_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean ``local`` stage in ``tmp_path``: the cached service is rebuilt for the test and dropped after it."""
    from chalicelib.composition import service

    monkeypatch.setenv("SIFT_STAGE", "local")
    monkeypatch.setenv("SIFT_BACKEND", "embedded")
    monkeypatch.setenv("SIFT_DATA_DIR", str(tmp_path / "sift"))
    service.cache_clear()
    yield tmp_path / "sift"
    service.cache_clear()
