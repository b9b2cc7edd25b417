"""The state machine definitions of infra/, as deployed and as moto can execute them.

``definition(name, substitutions)`` is the JSON file with its ``${...}`` placeholders filled in, as
``DefinitionSubstitutions`` fill them in on AWS. ``for_moto`` adapts it to what moto 5.2.5's ASL interpreter accepts,
with two mechanical rewrites and nothing else (infra/README.md lists why):

- ``ItemBatcher`` is not in moto's ASL grammar (CreateStateMachine rejects it). Each Map's batcher becomes an
  ``ItemSelector`` that hands every child execution a batch of one item in the batcher's own shape,
  ``{"Items": [item], "BatchInput": {...}}`` — ``BatchInput`` paths resolve against the Map's input either way — so the
  ItemProcessor runs unchanged; only the batch size differs (one item instead of up to 20).
- ``ResultWriter`` is parsed but moto writes an empty manifest (no result files). Without it the Map's output is the
  inline list of the children's outputs, which FinishJob / CommitReindex read just as well; reading a real export is
  tested on its own (tests/infra/test_tasks.py).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parents[2] / "infra"
MACHINES = ("batch_index", "reindex")


def raw_definition(name: str) -> str:
    return (INFRA / f"{name}.asl.json").read_text()


def definition(name: str, substitutions: Mapping[str, str]) -> dict[str, Any]:
    text = raw_definition(name)
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        raise AssertionError(f"{name}: a placeholder was left unsubstituted")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def map_states(states: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every Map state, nested ones included."""
    found: list[dict[str, Any]] = []
    for state in states.values():
        if state.get("Type") == "Map":
            found.append(state)
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            found.extend(map_states(processor.get("States", {})))
    return found


def for_moto(asl: Mapping[str, Any]) -> dict[str, Any]:
    adapted = copy.deepcopy(dict(asl))
    for state in map_states(adapted["States"]):
        batcher = state.pop("ItemBatcher", None)
        if batcher is not None:
            assert "ItemSelector" not in state, "a batcher after a selector cannot be emulated by a selector"
            state["ItemSelector"] = {
                "Items.$": "States.Array($$.Map.Item.Value)",
                "BatchInput": batcher.get("BatchInput", {}),
            }
        state.pop("ResultWriter", None)
    return adapted
