"""The retrieval playground in a real browser (issue 15): Debian's headless Chromium, driven by Playwright, against a
real ``chalice local`` serving the seeded demo knowledge base (hashing embedder) and a small media dataset.

Each test checks what a person sees (nodes, their text, highlighted matches, score bars), that the request it shows is
the one it sent and works when pasted (curl, the official Python SDK), and that the page logged no JavaScript error
and fetched nothing but this server. Without /usr/bin/chromium or Playwright the tests skip, except where the browser
is required (CI=true or SIFT_REQUIRE_BROWSER=1, which .ci/run sets): there they fail.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api.sdk import REPO_ROOT, LocalServer

CHROMIUM = Path(os.environ.get("SIFT_CHROMIUM", "/usr/bin/chromium"))  # Debian's package
# Headless, and none of Chromium's own background connections (the machine's network is closed).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("SIFT_REQUIRE_BROWSER") == "1"
SCREENSHOT = Path(os.environ.get("SIFT_PLAYGROUND_SCREENSHOT", "/tmp/playground.png"))
PROJECT, DATASET = "travel", "docs"
DEMO_DOCS = REPO_ROOT / "examples" / "docs"
FAILED_LOAD = "Failed to load resource"  # Chromium's own console line for an HTTP error answer (not the page's JS)


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason}; the browser test is required here (CI=true or SIFT_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (requirements-dev.txt)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """``chalice local`` on a free port with the demo seeded (ws_demo/kb_demo) and a dataset of two documents."""
    root = tmp_path_factory.mktemp("playground")
    data_dir = root / "sift"
    environment = {"SIFT_STAGE": "local", "SIFT_AUTH": "none", "SIFT_MASTER_KEY_FILE": str(root / "master.key")}
    seed_env = {**os.environ, **environment, "SIFT_DATA_DIR": str(data_dir), "SIFT_EMBEDDER": "hashing",
                "SIFT_EMBEDDING_CACHE": "off"}
    seed_env.pop("SIFT_PLAYGROUND", None)
    seeded = subprocess.run([sys.executable, "-m", "scripts.seed_demo"], cwd=REPO_ROOT, env=seed_env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SIFT_PLAYGROUND", raising=False)  # the local stage's default: on
        local = LocalServer(data_dir, root / "chalice-local.log", environment)
    try:
        assert local.post_json("/imm/CreateProject", {"ProjectName": PROJECT})[0] == 200
        assert local.post_json("/imm/CreateDataset", {"ProjectName": PROJECT, "DatasetName": DATASET})[0] == 200
        for name in ("warranty-policy.md", "shipping.txt"):
            status, body = local.post_json("/imm/IndexFileMeta", {
                "ProjectName": PROJECT, "DatasetName": DATASET, "File": {"URI": (DEMO_DOCS / name).as_uri()}})
            assert status == 200 and body["Files"][0]["ObjectStatus"] == "Indexed", body
        yield local
    finally:
        local.stop()


@dataclass
class Watched:
    """What the page said and fetched: console errors, uncaught exceptions, failed loads, every request's URL."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def assert_clean(self, origin: str, http_errors: int = 0) -> None:
        """No JavaScript error, no page error; only ``http_errors`` error answers (which Chromium logs itself);
        nothing fetched from another origin."""
        script_errors = [text for text in self.console_errors if not text.startswith(FAILED_LOAD)]
        assert script_errors == []
        assert self.page_errors == []
        assert len(self.console_errors) - len(script_errors) == http_errors, self.console_errors
        assert [url for url in self.requests if not url.startswith(origin + "/") and not url.startswith("data:")] == []


@pytest.fixture
def page(browser: Any, server: LocalServer) -> Iterator[tuple[Any, Watched]]:
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    opened = context.new_page()
    watched = Watched()
    opened.on("console", lambda message: watched.console_errors.append(message.text)
              if message.type == "error" else None)
    opened.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    opened.on("request", lambda request: watched.requests.append(request.url))
    try:
        yield opened, watched
    finally:
        context.close()


def _open(page: Any, server: LocalServer, query: str = "") -> None:
    page.goto(f"{server.url}/playground{query}")
    page.locator("body[data-ready=true]").wait_for()
    page.locator("#indices-status", has_text="kb_demo").wait_for()  # ListIndices answered


def _run(page: Any, *, keyboard: bool = False) -> None:
    if keyboard:
        page.locator("#query").press("Control+Enter")
    else:
        page.click("#run")
    page.locator("#nodes li.node, #error:not([hidden])").first.wait_for()
    page.locator("#run:enabled").wait_for()


def _sent(page: Any) -> dict[str, Any]:
    return json.loads(page.text_content("#request-body"))


def _api(server: LocalServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = requests.post(f"{server.url}/{path}", json=body, timeout=60)
    return reply.json()


def _marks(text: str, matches: list[dict[str, Any]]) -> list[str]:
    """The highlighted strings the page must show: code-point slices, overlaps merged as the page merges them."""
    chars, cursor, marked = list(text), 0, []
    for match in sorted(matches, key=lambda item: (item["Start"], -item["End"])):
        start, end = max(match["Start"], cursor), min(match["End"], len(chars))
        if end > start:
            marked.append("".join(chars[start:end]))
            cursor = end
    return marked


def _bar(card: Any, leg: str, nth: int = 0) -> float | None:
    value = card.locator(f".bar[data-leg={leg}]").nth(nth).get_attribute("data-value")
    return float(value) if value else None


def test_a_query_on_the_demo_index_shows_the_apis_nodes_and_a_request_that_works(
        page: tuple[Any, Watched], server: LocalServer) -> None:
    tab, watched = page
    _open(tab, server)
    assert tab.input_value("#workspace") == "ws_demo" and tab.input_value("#index") == "kb_demo"
    tab.fill("#query", "how long is the tent covered?")
    tab.uncheck("#explain")
    tab.fill("#top-n", "3")
    _run(tab)

    sent = _sent(tab)
    assert sent == {"IndexId": "kb_demo", "Query": "how long is the tent covered?", "RerankTopN": 3,
                    "EnableReranking": True, "EnableRewrite": False}
    expected = _api(server, "ws_demo/index/retrieve", sent)["Data"]["Nodes"]
    cards = tab.locator("#nodes li.node")
    assert cards.count() == len(expected) == 3
    assert [cards.nth(i).locator(".node-text").text_content() for i in range(3)] == [node["Text"] for node in expected]
    assert tab.locator("#nodes .bar").count() == 0 and tab.locator("#nodes mark").count() == 0  # Explain off
    assert tab.text_content("#summary").startswith("3 nodes · HTTP 200")
    first = cards.nth(0)
    first.locator("summary", has_text="Metadata").click()
    assert expected[0]["Metadata"]["doc_name"] in first.locator("table.metadata").text_content()

    # The curl command, pasted into a shell: the same request, the same nodes.
    command = tab.text_content("#curl")
    arguments = shlex.split(command)
    assert arguments[:2] == ["curl", "-s"] and arguments[2] == f"{server.url}/ws_demo/index/retrieve"
    assert json.loads(arguments[arguments.index("-d") + 1]) == sent
    if shutil.which("curl"):
        ran = subprocess.run(arguments, capture_output=True, timeout=60, check=True)
        answer = json.loads(ran.stdout)
    else:  # the same request the command describes
        answer = requests.post(arguments[2], data=arguments[arguments.index("-d") + 1].encode(),
                               headers={"Content-Type": "application/json"}, timeout=60).json()
    assert [node["Text"] for node in answer["Data"]["Nodes"]] == [node["Text"] for node in expected]

    # The Python SDK call, run as it is shown: the official client finds the same documents.
    snippet = tab.text_content("#sdk")
    assert "models.RetrieveRequest(" in snippet and 'client.retrieve("ws_demo", request)' in snippet
    ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    assert ast.literal_eval(ran.stdout.strip().splitlines()[-1]) == [node["Metadata"]["doc_name"] for node in expected]

    # Copy puts exactly the shown command on the clipboard.
    tab.locator("#request-panel summary").click()
    tab.click("button[data-target=curl]")
    tab.locator("#status", has_text="Copied").wait_for()
    assert tab.evaluate("navigator.clipboard.readText()") == command
    watched.assert_clean(server.url)


def test_an_explained_query_shows_each_legs_score_bars_and_the_matches(
        page: tuple[Any, Watched], server: LocalServer) -> None:
    tab, watched = page
    _open(tab, server)
    tab.fill("#query", "how long is the tent covered?")
    assert tab.is_checked("#explain") and tab.is_checked("#rerank")  # the defaults
    tab.fill("#top-n", "3")
    _run(tab)

    sent = _sent(tab)
    assert sent["Explain"] is True
    expected = _api(server, "ws_demo/index/retrieve", sent)["Data"]["Nodes"]
    cards = tab.locator("#nodes li.node")
    assert cards.count() == len(expected) == 3
    marked = 0
    for position, node in enumerate(expected):
        card, explain = cards.nth(position), node["Explain"]
        query = explain["Queries"][0]
        for leg, value in (("dense", query["Dense"]), ("sparse", query["Sparse"])):
            assert _bar(card, leg) == (pytest.approx(value["Normalized"]) if value else None), leg
        assert _bar(card, "fused") == pytest.approx(query["FusedScore"])
        assert _bar(card, "rerank") == pytest.approx(explain["Rerank"]["Score"])
        assert _bar(card, "score") == pytest.approx(explain["Score"])
        width = card.locator(".bar[data-leg=rerank] .fill").evaluate("fill => fill.style.width")
        assert width.endswith("%") and float(width[:-1]) == pytest.approx(
            min(1.0, max(0.0, explain["Rerank"]["Score"])) * 100, abs=0.06)
        shown = card.locator(".node-text mark").all_text_contents()
        assert shown == _marks(node["Text"], explain["Matches"])
        marked += len(shown)
        assert card.locator(".node-text").text_content() == node["Text"]  # highlighting changed no character
    assert marked > 0
    assert {text.lower() for text in cards.nth(0).locator(".node-text mark").all_text_contents()} & {
        "long", "covered", "tent", "tents"}
    assert "confidence · dense weight" in cards.nth(0).locator(".bar-row:has(.bar[data-leg=fused])").first.text_content()

    tab.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOT))
    watched.assert_clean(server.url)


def test_the_fusion_selector_sends_the_fusion_extension(page: tuple[Any, Watched], server: LocalServer) -> None:
    tab, watched = page
    _open(tab, server)
    tab.fill("#query", "warranty")
    tab.select_option("#fusion-method", "rrf")
    assert tab.is_disabled("#dense-weight") and tab.is_enabled("#rrf-k")
    tab.fill("#rrf-k", "30")
    tab.uncheck("#rerank")
    _run(tab)

    sent = _sent(tab)
    assert sent["Fusion"] == {"Method": "rrf", "RrfK": 30} and sent["EnableReranking"] is False
    expected = _api(server, "ws_demo/index/retrieve", sent)["Data"]["Nodes"]
    cards = tab.locator("#nodes li.node")
    assert cards.count() == len(expected) > 0
    assert "rrf · k 30 · 2 legs" in cards.nth(0).locator(".bar-row:has(.bar[data-leg=fused])").first.text_content()
    assert cards.nth(0).locator(".bar[data-leg=rerank]").count() == 0  # no rerank ran
    assert _bar(cards.nth(0), "score") == pytest.approx(expected[0]["Explain"]["Score"])
    assert "# Explain and Fusion: Sift extensions" in tab.text_content("#sdk")

    tab.select_option("#fusion-method", "minmax")
    assert tab.is_enabled("#dense-weight") and tab.is_disabled("#rrf-k")
    tab.fill("#dense-weight", "0.8")
    _run(tab)
    assert _sent(tab)["Fusion"] == {"Method": "minmax", "DenseWeight": 0.8}
    assert "minmax · dense weight 0.80" in tab.locator("#nodes li.node").nth(0).locator(
        ".bar-row:has(.bar[data-leg=fused])").first.text_content()
    watched.assert_clean(server.url)


def test_a_conversation_with_rewrite_runs_from_the_keyboard(page: tuple[Any, Watched], server: LocalServer) -> None:
    tab, watched = page
    _open(tab, server)
    tab.click("#add-message")
    tab.keyboard.type("Tell me about the Trailhead 2P tent")  # the new message's box has the focus
    tab.click("#add-message")
    tab.keyboard.type("It is a two-person backpacking tent that weighs 1.8 kg.")
    assert tab.locator("#history li label").all_text_contents() == ["1. user", "2. assistant"]
    tab.check("#rewrite")
    tab.fill("#query", "how long is it covered?")
    tab.fill("#top-n", "3")
    _run(tab, keyboard=True)

    sent = _sent(tab)
    assert sent["QueryHistory"] == [
        {"role": "user", "content": "Tell me about the Trailhead 2P tent"},
        {"role": "assistant", "content": "It is a two-person backpacking tent that weighs 1.8 kg."},
    ]
    assert sent["EnableRewrite"] is True
    expected = _api(server, "ws_demo/index/retrieve", sent)["Data"]["Nodes"]
    cards = tab.locator("#nodes li.node")
    assert [cards.nth(i).locator(".node-text").text_content() for i in range(cards.count())] == [
        node["Text"] for node in expected]
    assert "5-year warranty" in expected[0]["Text"]  # the README's promise, here with the hashing embedder
    searched = expected[0]["Explain"]["Queries"][0]["Text"]
    assert searched != "how long is it covered?"  # rewritten with the conversation's subject
    assert f"searched: “{searched}”" in cards.nth(0).locator(".query-title").text_content()
    snippet = tab.text_content("#sdk")
    assert "models.RetrieveRequestQueryHistory(role=\"user\", content=\"Tell me about the Trailhead 2P tent\")" in snippet
    watched.assert_clean(server.url)


def test_server_errors_are_shown_with_their_code_and_message(page: tuple[Any, Watched], server: LocalServer) -> None:
    tab, watched = page
    _open(tab, server)
    tab.fill("#filters", '[{"year": {"bogus": 1}}]')
    _run(tab)
    error = tab.locator("#error")
    assert error.is_visible()
    assert tab.text_content("#error h3").startswith("HTTP 400")
    assert tab.text_content("#error .error-code") == "Index.InvalidParameter"
    assert "SearchFilters[0].year.bogus" in tab.text_content("#error .error-message")
    assert "RequestId" in error.text_content()
    assert tab.get_attribute("#filters", "aria-invalid") == "true"
    assert "SearchFilters[0].year.bogus" in tab.text_content("#filters-error")
    assert tab.locator("#nodes li").count() == 0

    # Not JSON at all: said next to the field, and nothing is sent.
    tab.fill("#filters", '[{"year": ')
    sent_before = sum(url.endswith("/index/retrieve") for url in watched.requests)
    _run(tab)
    assert "not valid JSON" in tab.text_content("#error .error-message")
    assert tab.text_content("#filters-error").startswith("Not JSON")
    assert sum(url.endswith("/index/retrieve") for url in watched.requests) == sent_before

    # An index that does not exist: the envelope's own code.
    tab.fill("#filters", "")
    tab.fill("#index", "kb_nowhere")
    _run(tab)
    status, body = tab.text_content("#error h3"), _api(server, "ws_demo/index/retrieve", _sent(tab))
    assert status.startswith(f"HTTP {body['Status']}") and tab.text_content("#error .error-code") == body["Code"]
    assert tab.text_content("#error .error-message") == body["Message"]
    watched.assert_clean(server.url, http_errors=2)  # the two error answers, logged by Chromium itself


def test_contextual_retrieval_on_a_dataset(page: tuple[Any, Watched], server: LocalServer) -> None:
    tab, watched = page
    _open(tab, server)
    tab.check('input[name=operation][value="ContextualRetrieval"]')
    assert tab.is_hidden("#kb-target") and tab.is_visible("#imm-target")
    tab.locator("#datasets-status", has_text=DATASET).wait_for()  # ListDatasets answered
    assert tab.input_value("#project") == PROJECT and tab.input_value("#dataset") == DATASET
    tab.fill("#query", "how long is the warranty?")
    _run(tab)

    sent = _sent(tab)
    assert sent == {"ProjectName": PROJECT, "DatasetName": DATASET, "Explain": True,
                    "Messages": [{"Role": "user", "Content": "how long is the warranty?"}]}
    results = _api(server, "imm/ContextualRetrieval", sent)["Results"]
    cards = tab.locator("#nodes li.node")
    assert cards.count() == len(results) > 0
    assert [cards.nth(i).locator(".node-title").text_content() for i in range(cards.count())] == [
        file["Filename"] for file in results]
    first = results[0]
    assert first["Filename"] == "warranty-policy.md"
    assert cards.nth(0).locator(".node-text").first.text_content() == first["Explain"]["Content"]
    assert cards.nth(0).locator(".node-text").first.locator("mark").all_text_contents() == _marks(
        first["Explain"]["Content"], first["Explain"]["Matches"])
    assert _bar(cards.nth(0), "fused") == pytest.approx(first["Explain"]["Queries"][0]["FusedScore"])

    snippet = tab.text_content("#sdk")
    assert "models.ContextualRetrievalRequest(" in snippet and "client.contextual_retrieval(request)" in snippet
    ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    assert ast.literal_eval(ran.stdout.strip().splitlines()[-1]) == [file["URI"] for file in results]

    # SemanticQuery on the same dataset: no conversation, MediaTypes and MaxResults instead.
    tab.check('input[name=operation][value="SemanticQuery"]')
    assert tab.is_hidden("#history-block") and tab.is_visible("#media-types")
    tab.fill("#query", "warranty")
    _run(tab)
    sent = _sent(tab)
    assert sent == {"ProjectName": PROJECT, "DatasetName": DATASET, "Query": "warranty", "MaxResults": 10,
                    "MediaTypes": ["document"], "Explain": True}
    files = _api(server, "imm/SemanticQuery", sent)["Files"]
    cards = tab.locator("#nodes li.node")
    assert [cards.nth(i).locator(".node-title").text_content() for i in range(cards.count())] == [
        file["Filename"] for file in files]
    assert files and cards.nth(0).locator(".bar").count() > 0
    watched.assert_clean(server.url)


def test_explain_offsets_are_code_points(page: tuple[Any, Watched], server: LocalServer) -> None:
    """An answer whose text has characters outside the BMP (two UTF-16 units each) before the matches, and a node with
    a leg that missed it, two queries and a rerank below its depth: rendered from a canned answer."""
    tab, watched = page
    text = "🏕️ 帐篷 tent — 😀 warranty 🙂"
    matches = [{"Term": "帐篷", "Start": 3, "End": 5}, {"Term": "tent", "Start": 6, "End": 10},
               {"Term": "warranty", "Start": 15, "End": 23}]
    explain = {
        "Score": 0.4, "FusedScore": 0.45,
        "Queries": [
            {"Text": "帐篷 tent warranty", "Dense": None, "Sparse": {"Score": 7.5, "Normalized": 0.9, "Rank": 1},
             "Image": None, "Fusion": {"Method": "minmax", "DenseWeight": 0.5, "PriorDenseWeight": 0.5, "RrfK": None,
                                        "Legs": 2}, "FusedScore": 0.45},
            {"Text": "the whole conversation", "Dense": {"Score": 0.7, "Normalized": 0.3, "Rank": 4}, "Sparse": None,
             "Image": None, "Fusion": None, "FusedScore": 0.45},
        ],
        "Rerank": {"Model": "qwen3-rerank-hybrid", "Mode": "qa", "Score": None, "Rank": None, "Depth": 20},
        "Matches": matches,
    }
    canned = {"Code": "Success", "Message": "success", "RequestId": "canned", "Status": "200", "Success": True,
              "Data": {"Nodes": [{"Text": text, "Score": 0.4, "Metadata": {"doc_name": "canned.md"}, "Explain": explain}]}}
    tab.route("**/index/retrieve", lambda route: route.fulfill(
        status=200, content_type="application/json; charset=utf-8", body=json.dumps(canned, ensure_ascii=False)))
    _open(tab, server)
    _run(tab)

    card = tab.locator("#nodes li.node").nth(0)
    assert card.locator(".node-text mark").all_text_contents() == ["帐篷", "tent", "warranty"]
    assert card.locator(".node-text").text_content() == text
    assert _bar(card, "dense", 0) is None and _bar(card, "sparse", 0) == pytest.approx(0.9)
    assert _bar(card, "dense", 1) == pytest.approx(0.3) and _bar(card, "sparse", 1) is None
    assert "not found by this leg" in card.locator(".bar-row:has(.bar[data-leg=dense])").nth(0).text_content()
    assert card.locator(".query-title").all_text_contents()[0].startswith("Query 1 (focus)")
    assert _bar(card, "rerank") is None
    assert "below the rerank depth (20)" in card.locator(".bar-row:has(.bar[data-leg=rerank])").text_content()
    assert card.locator(".bar-row", has_text="Fused (mean)").count() == 1
    watched.assert_clean(server.url)
