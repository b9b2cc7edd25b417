"""The import layers of ``chalicelib`` (issue 13), read from the source with ``ast`` so a wrong-way import fails CI.

    core (records, ports, errors, services)  ←  api (wire models, envelopes, operations)
        ↑                                    ←  settings (configuration, a leaf over core), observability
    adapters: search, store, models, sources, blobs, sealing, workflows  ←  composition (wires them; the only root)

Every import counts, those inside functions too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"
ADAPTERS = {"search", "store", "models", "sources", "blobs", "sealing", "workflows"}
AWS_AND_SEARCH_SDKS = {"boto3", "botocore", "opensearchpy"}


def _unit(module: str) -> str:
    """The package (or top-level module) of ``chalicelib`` a module belongs to: ``chalicelib.core.media`` → core."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports() -> dict[str, set[str]]:
    """Each unit's imported modules (absolute names), from every ``import`` of every file."""
    imported: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported[unit].add(node.module)
            elif isinstance(node, ast.Import):
                imported[unit].update(alias.name for alias in node.names)
    return imported


def _graph() -> dict[str, set[str]]:
    return {unit: {_unit(name) for name in names if name.startswith("chalicelib.")} - {unit}
            for unit, names in _imports().items()}


def test_the_package_graph_has_no_cycle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(unit: str, path: list[str]) -> None:
        if unit in path:
            raise AssertionError("import cycle: " + " → ".join([*path[path.index(unit):], unit]))
        if unit in done:
            return
        for target in sorted(graph.get(unit, ())):
            visit(target, [*path, unit])
        done.add(unit)

    for unit in sorted(graph):
        visit(unit, [])


def test_the_core_imports_nothing_outside_the_core() -> None:
    assert _graph()["core"] == set()


def test_the_api_and_the_adapters_import_only_inward() -> None:
    graph = _graph()
    # playground: the retrieval playground's static files (issue 15), a leaf importing nothing of chalicelib; the
    # OpenAPI document (api.openapi) names its files.
    assert graph.get("playground", set()) == set()
    assert graph["api"] <= {"core", "playground"}
    assert graph["settings"] <= {"core"}
    assert graph["observability"] <= {"core"}
    for adapter in ADAPTERS:
        assert graph.get(adapter, set()) <= {"core", "settings"} | ADAPTERS, adapter
        assert "composition" not in graph.get(adapter, set()), adapter


def test_only_adapters_and_the_composition_root_use_the_aws_and_search_sdks() -> None:
    for unit, names in _imports().items():
        sdks = {name.split(".")[0] for name in names} & AWS_AND_SEARCH_SDKS
        assert not sdks or unit in ADAPTERS | {"composition"}, (unit, sdks)


def test_chalicelib_never_imports_chalice() -> None:
    for unit, names in _imports().items():
        assert not {name for name in names if name.split(".")[0] == "chalice"}, unit
