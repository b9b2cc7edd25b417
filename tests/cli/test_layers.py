"""The CLI is an adapter over the service: ``sift_cli`` imports ``chalicelib``, never the other way round."""

from __future__ import annotations

import ast

from tests.cli.conftest import REPO_ROOT


def test_chalicelib_never_imports_the_cli() -> None:
    for path in (REPO_ROOT / "chalicelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            assert not [name for name in names if name.split(".")[0] == "sift_cli"], path
