"""Generate the AWS resources merged into ``chalice package`` and the per-function IAM policies of the AWS stages.

    python -m scripts.build_infra            # write the files
    python -m scripts.build_infra --check    # exit 1 if a committed file differs from what would be written

Outputs, all committed (``tests/packaging`` asserts they equal what this script generates):

- ``infra/resources.json``: the template given to ``chalice package --merge-template``. Chalice merges it into its
  SAM template with ``TemplateDeepMerger``: objects are merged key by key, anything else (strings, lists) is
  replaced by ours. A resource here with the logical id of one Chalice generates therefore *patches* it; that is how
  every function gets ``SIFT_OPENSEARCH_URL`` from the collection endpoint, the table and state machine references,
  and how ``OnObjectEvent`` gets its dead-letter queue and an EventBridge rule (Chalice's, from ``@app.on_cw_event``)
  restricted to the documents bucket. Terraform packaging (``--pkg-format terraform``) takes no merge template:
  there the rule matches every bucket and these resources must come from elsewhere.
- ``.chalice/policy-<stage>-<profile>.json``: one least-privilege policy per access profile (functions with the
  same needs share a file), and ``.chalice/policy-<stage>.json``, the union, for the API handler, which serves
  every route. Chalice gives every function its own role from these files, for ``chalice deploy`` and both
  package formats alike.
- ``.chalice/config.json``: only ``iam_policy_file`` and ``autogen_policy`` of each AWS stage, and of each of its
  functions those two plus ``lambda_memory_size`` and ``lambda_timeout``, are (re)written; everything else in the
  file is left as it is.

The template is one for all AWS stages: the stage is its ``Stage`` parameter (no default, so a deployment must name
it: ``--parameter-overrides Stage=dev``), and resources are named ``<app>-<stage>-...``. The IAM policies are static
files, so they can only name resources by those names (account and region are wildcards). Which function needs what,
and how large it is, comes from the operation registry (``chalicelib.api.operations.OPERATIONS``: each operation's
``access`` group, ``size`` and ``timeout_s``) and, for the functions that are not operations, from
``OTHER_FUNCTIONS`` (``scripts/infra/functions.py``); a function in ``app.py`` missing from them (or the reverse) is
an error.

The pieces are in ``scripts/infra/``: ``functions`` (the function table), ``resource_names``, ``policies`` (the IAM
policies) and ``template`` (``infra/resources.json``, with ``cfn``, ``state_machines`` and ``api_gateway``). This
module reads the config, the app and the ASL files, puts the pieces together and writes or checks the outputs.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from chalicelib.api.calls import LambdaSize
from chalicelib.settings import Settings
from scripts.infra.cfn import Json
from scripts.infra.functions import (
    API_HANDLER,
    API_HANDLER_TIMEOUT,
    FUNCTIONS,
    STAGE_MEMORY,
    Access,
    api_handler_access,
)
from scripts.infra.policies import policy_document, policy_file
from scripts.infra.resource_names import STATE_MACHINES, StageNames
from scripts.infra.template import template

ROOT: Final = Path(__file__).resolve().parent.parent
CONFIG_PATH: Final = ROOT / ".chalice" / "config.json"
RESOURCES_PATH: Final = ROOT / "infra" / "resources.json"


@dataclass(frozen=True, slots=True)
class AppFunctions:
    """The functions ``chalice package`` generates for ``app.py``, by Chalice name."""

    routes: tuple[str, ...]  # the pure Lambda functions that are also routes: the API handler serves them
    all: tuple[str, ...]
    cloudwatch_events: Mapping[str, Json]  # function -> event pattern

    @classmethod
    def load(cls) -> AppFunctions:
        from app import app  # importing app.py is cheap: it builds no service
        from chalicelib.api.operations import OPERATIONS

        pure = [function.name for function in app.pure_lambda_functions]
        events = {
            source.name: dict(source.event_pattern) for source in app.event_sources if hasattr(source, "event_pattern")
        }
        names = [*pure, *events, *([API_HANDLER] if app.routes else [])]
        routes = tuple(operation.name for operation in OPERATIONS if operation.name in pure)
        return cls(routes, tuple(names), events)


def accesses(functions: AppFunctions) -> dict[str, Access]:
    """Every function's access; refuses a function without an entry in ``FUNCTIONS`` or an entry without one."""
    known = set(FUNCTIONS) | {API_HANDLER}
    unclassified = sorted(set(functions.all) - known)
    missing = sorted(known - set(functions.all))
    if unclassified or missing:
        raise SystemExit(f"scripts/infra/functions.py FUNCTIONS: add {unclassified}, remove or register {missing}")
    return {
        name: api_handler_access(functions.routes) if name == API_HANDLER else FUNCTIONS[name][0]
        for name in functions.all
    }


def lambda_settings(stage: str, name: str, functions: AppFunctions) -> Json:
    """A function's memory and timeout on ``stage``: the registry's size and timeout. The API handler serves every
    route: it gets the query size (jobs it starts run on Step Functions) and API Gateway's timeout."""
    memory = STAGE_MEMORY.get(stage)
    if memory is None:
        raise SystemExit(f"scripts/infra/functions.py STAGE_MEMORY: add stage {stage!r}")
    if name == API_HANDLER:
        sizes = {FUNCTIONS[route][1] for route in functions.routes}
        return {
            "lambda_memory_size": max(memory[size] for size in sizes if size is not LambdaSize.INDEXING),
            "lambda_timeout": API_HANDLER_TIMEOUT,
        }
    _, size, timeout = FUNCTIONS[name]
    return {"lambda_memory_size": memory[size], "lambda_timeout": timeout}


def stage_environment(config: Json, stage: str) -> dict[str, str]:
    """The environment the stage's functions get: the app-wide variables under the stage's own."""
    if stage not in config["stages"]:
        raise SystemExit(f"no stage {stage!r} in {CONFIG_PATH.relative_to(ROOT)}")
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def stage_auth(config: Json, stage: str) -> str:
    """The stage's ``SIFT_AUTH``, as its functions will read it."""
    return Settings.from_environment(stage_environment(config, stage)).auth


def aws_stages(config: Json) -> list[str]:
    """The stages that run on AWS services (the others, ``local``, keep their own IAM settings)."""
    return [
        name
        for name, stage in config["stages"].items()
        if stage.get("environment_variables", {}).get("SIFT_BACKEND") == "opensearch"
    ]


def render(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


def generate(config: Json, functions: AppFunctions, asl: Mapping[str, str]) -> dict[Path, str]:
    """Every output file (path -> contents) for ``config`` (``.chalice/config.json``), the app and the ASL files."""
    app_name = config["app_name"]
    access = accesses(functions)
    stages = aws_stages(config)
    config = copy.deepcopy(config)
    outputs: dict[Path, str] = {}
    verifying: set[str] = set()
    for stage in stages:
        stage_config = config["stages"][stage]
        tracing = bool(stage_config.get("xray", config.get("xray", False)))
        names = StageNames.from_config(app_name, stage, stage_environment(config, stage), tracing)
        if names.verifies_signatures:
            verifying.add(stage)
        stage_config |= {"autogen_policy": False, "iam_policy_file": policy_file(stage, access[API_HANDLER].profile)}
        for name, item in access.items():
            filename = policy_file(stage, item.profile)
            outputs[CONFIG_PATH.parent / filename] = render(policy_document(item.profile, names))
            settings = stage_config.setdefault("lambda_functions", {}).setdefault(name, {})
            settings |= {
                **lambda_settings(stage, name, functions),
                "iam_policy_file": filename,
                "autogen_policy": False,
            }
    outputs[CONFIG_PATH] = render(config)
    outputs[RESOURCES_PATH] = render(
        template(app_name, stages, access, asl, functions.cloudwatch_events, frozenset(verifying))
    )
    return outputs


def read_asl() -> dict[str, str]:
    """The state machine definitions, compacted (they become strings in the template)."""
    definitions = {}
    for filename, _ in STATE_MACHINES.values():
        path = RESOURCES_PATH.parent / filename
        if not path.exists():
            raise SystemExit(f"{path.relative_to(ROOT)} is missing")
        definitions[filename] = json.dumps(json.loads(path.read_text()), separators=(",", ":"), ensure_ascii=False)
    return definitions


def stale_policy_files(outputs: Mapping[Path, str]) -> list[Path]:
    """Policy files of the AWS stages that nothing uses any more."""
    config = json.loads(outputs[CONFIG_PATH])
    patterns = [f"policy-{stage}.json" for stage in aws_stages(config)]
    patterns += [f"policy-{stage}-*.json" for stage in aws_stages(config)]
    existing = {path for pattern in patterns for path in CONFIG_PATH.parent.glob(pattern)}
    return sorted(existing - set(outputs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any do")
    parser.add_argument("--auth", metavar="STAGE", help="print the stage's SIFT_AUTH (what `make package` packages)")
    args = parser.parse_args(argv)
    if args.auth:
        print(stage_auth(json.loads(CONFIG_PATH.read_text()), args.auth))
        return 0
    outputs = generate(json.loads(CONFIG_PATH.read_text()), AppFunctions.load(), read_asl())
    differing = [path for path, text in outputs.items() if not path.exists() or path.read_text() != text]
    stale = stale_policy_files(outputs)
    if args.check:
        for path in differing:
            print(f"out of date: {path.relative_to(ROOT)}", file=sys.stderr)
        for path in stale:
            print(f"unused: {path.relative_to(ROOT)}", file=sys.stderr)
        return 1 if differing or stale else 0
    for path in differing:
        path.write_text(outputs[path])
        print(f"wrote {path.relative_to(ROOT)}")
    for path in stale:
        path.unlink()
        print(f"removed {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
