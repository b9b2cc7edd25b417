"""The retrieval playground (issue 15): one static page (``index.html`` with its CSS and JS beside it) that calls the
stage's own API from the browser. No build step and no third-party code; the files are read from disk when asked for.

On by default on the local stage, off elsewhere unless ``SIFT_PLAYGROUND=true``; ``SIFT_PLAYGROUND=false`` turns it
off locally too. Read on every request (not when app.py is imported): ``chalice package`` imports the app with the
packaging machine's environment, the stage's variables are only there at run time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
PAGE: Final = "index.html"
# The files the page loads (relative URLs: playground/<name>, so a stage prefix such as /api/ keeps working).
ASSETS: Final = {
    PAGE: "text/html; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
}
# The page talks to its own origin only: no CDN, no fonts, no inline script; the favicon is an empty data: URL.
HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the stage serves the playground: ``SIFT_PLAYGROUND`` (true/false), by default only on ``local``."""
    env = os.environ if environ is None else environ
    default = "true" if env.get("SIFT_STAGE", "local") == "local" else "false"
    return env.get("SIFT_PLAYGROUND", default).strip().lower() in ("true", "1", "yes", "on")


def asset(name: str) -> tuple[str, str] | None:
    """``(body, content type)`` of one of the playground's files, or None for any other name."""
    content_type = ASSETS.get(name)
    if content_type is None:
        return None
    return (HERE / name).read_text(encoding="utf-8"), content_type
