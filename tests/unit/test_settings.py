"""The composition root: what the environment selects, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from opensearchpy import RequestsAWSV4SignerAuth

from chalicelib.composition import build_backend
from chalicelib.search.embedded.backend import EmbeddedBackend
from chalicelib.search.opensearch.backend import OpenSearchBackend
from chalicelib.search.opensearch.client import build_client
from chalicelib.settings import ConfigurationError, OpenSearchConnection, Settings


def test_defaults_are_the_local_stage() -> None:
    settings = Settings.from_environment({})
    assert (settings.stage, settings.backend, settings.embedder) == ("local", "embedded", "e5")
    assert settings.data_dir == Path(".sift")
    assert settings.embedding_cache == Path(".sift/embeddings.db")
    assert settings.opensearch is None


def test_embedded_backend_lives_in_the_data_dir(tmp_path: Path) -> None:
    backend = build_backend(Settings(data_dir=tmp_path))
    assert isinstance(backend, EmbeddedBackend)
    assert (tmp_path / "search" / "sift.db").is_file()


def test_opensearch_backend_from_the_environment() -> None:
    settings = Settings.from_environment(
        {"SIFT_BACKEND": "opensearch", "SIFT_OPENSEARCH_URL": "http://localhost:9200"}
    )
    assert isinstance(build_backend(settings), OpenSearchBackend)


def test_opensearch_without_a_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="SIFT_OPENSEARCH_URL"):
        build_backend(Settings.from_environment({"SIFT_BACKEND": "opensearch"}))


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({"SIFT_OPENSEARCH_URL": "localhost:9200"}, "http"),
        ({"SIFT_OPENSEARCH_URL": "https://search.example", "SIFT_OPENSEARCH_AUTH": "kerberos"}, "must be one of"),
        ({"SIFT_OPENSEARCH_URL": "https://search.example", "SIFT_OPENSEARCH_AUTH": "sigv4-es"}, "region"),
        ({"SIFT_OPENSEARCH_URL": "https://search.example", "SIFT_OPENSEARCH_AUTH": "basic"}, "SIFT_OPENSEARCH_USER"),
        ({"SIFT_FUSION": "borda"}, "fusion"),
        ({"SIFT_DENSE_WEIGHT": "1.5"}, "fusion"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(environment: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        Settings.from_environment(environment)


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="embedded or opensearch"):
        build_backend(Settings(backend="elastic", data_dir=tmp_path))


@pytest.mark.parametrize(("auth", "service"), [("sigv4-es", "es"), ("sigv4-aoss", "aoss")])
def test_sigv4_clients_sign_for_the_right_service(
    auth: str, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = build_client(OpenSearchConnection("https://search.example", auth=auth, region="eu-west-1"))
    signer = client.transport.kwargs["http_auth"]
    assert isinstance(signer, RequestsAWSV4SignerAuth)
    signed = signer(requests.Request("GET", "https://search.example/_cluster/health").prepare())
    assert f"/eu-west-1/{service}/aws4_request" in signed.headers["Authorization"]


def test_basic_auth_client_carries_the_credentials() -> None:
    client = build_client(OpenSearchConnection("https://search.example", auth="basic", user="u", password="p"))
    assert client.transport.kwargs["http_auth"] == ("u", "p")
