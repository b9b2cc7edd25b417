"""The playground's routes (issue 15): GET /playground and its two files, on by default on the local stage only, and
answered like any unknown path when off. The page itself is driven in a real browser by tests/browser."""

from __future__ import annotations

import re

import pytest

from chalicelib import playground
from tests.api.conftest import Api


def test_the_page_and_its_files_are_served_with_a_same_origin_policy(api: Api) -> None:
    page = api.client.http.get("/playground")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "script-src 'self'" in csp
    html = page.body.decode()
    assert '<script src="playground/playground.js" defer></script>' in html
    assert '<link rel="stylesheet" href="playground/playground.css">' in html
    for name, content_type in (("playground.js", "text/javascript"), ("playground.css", "text/css")):
        asset = api.client.http.get(f"/playground/{name}")
        assert asset.status_code == 200
        assert asset.headers["Content-Type"].startswith(content_type)
        assert asset.headers["X-Content-Type-Options"] == "nosniff"


def test_the_files_name_no_other_origin_and_stay_small() -> None:
    total = 0
    for name in playground.ASSETS:
        text = (playground.HERE / name).read_text(encoding="utf-8")
        total += len(text.encode())
        assert "://" not in text, name  # no CDN, no web font, no absolute URL: only this origin's API
        assert not re.search(r"@import|url\(", text), name
    assert total < 64_000  # chalicelib/ is packaged into every Lambda


def test_only_the_playgrounds_own_files_are_served(api: Api) -> None:
    for path in ("/playground/app.py", "/playground/__init__.py", "/playground/..%2Fapp.py", "/playground/x.css"):
        reply = api.client.http.get(path)
        assert reply.status_code == 404, path
        assert reply.json_body["Code"] == "InvalidAction.NotFound"


def test_other_methods_are_refused_with_405(api: Api) -> None:
    reply = api.client.http.post("/playground", headers={"Content-Type": "application/json"}, body="{}")
    assert reply.status_code == 405
    assert reply.headers["Allow"] == "GET"
    assert reply.json_body["Code"] == "UnsupportedHTTPMethod"


def test_turned_off_it_answers_as_an_unknown_path(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFT_PLAYGROUND", "false")
    for path in ("/playground", "/playground/playground.js"):
        reply = api.client.http.get(path)
        assert reply.status_code == 404
        assert reply.json_body["Code"] == "InvalidAction.NotFound"
        assert f'"GET {path}"' in reply.json_body["Message"]
        assert reply.json_body["Success"] is False


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, True),
    ({"SIFT_STAGE": "local"}, True),
    ({"SIFT_STAGE": "local", "SIFT_PLAYGROUND": "false"}, False),
    ({"SIFT_STAGE": "dev"}, False),
    ({"SIFT_STAGE": "prod", "SIFT_PLAYGROUND": "true"}, True),
    ({"SIFT_STAGE": "prod", "SIFT_PLAYGROUND": "no"}, False),
])
def test_on_by_default_on_the_local_stage_only(environ: dict[str, str], expected: bool) -> None:
    assert playground.enabled(environ) is expected
