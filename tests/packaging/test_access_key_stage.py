"""A stage that verifies access keys (``SIFT_AUTH=accesskey``), packaged as ``make package`` packages it: its routes
carry no IAM authorizer, its functions may open sealed secrets with the stack's KMS key and record nonces, and the
merged template passes cfn-lint with no errors and no warnings. (The committed ``iam`` stages are in test_infra.py.)

The project is copied to a temporary directory with stage ``dev`` switched to ``accesskey``, its generated files
rewritten there by ``scripts/build_infra.py``, and ``chalice package`` run in the copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts import build_infra
from tests.packaging.conftest import ROOT, STAGE, credential_free_environment
from tests.packaging.test_infra import _cfn_lint

COPIED = ("app.py", "chalicelib", ".chalice", "requirements.txt", "infra")


@pytest.fixture(scope="module")
def access_key_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("accesskey") / "sift"
    project.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    config["stages"][STAGE]["environment_variables"]["SIFT_AUTH"] = "accesskey"
    for path, text in build_infra.generate(config, build_infra.AppFunctions.load(), build_infra.read_asl()).items():
        (project / path.relative_to(ROOT)).write_text(text)
    assert build_infra.stage_auth(config, STAGE) == "accesskey"
    return project


@pytest.fixture(scope="module")
def package(access_key_project: Path) -> Path:
    out = access_key_project / "dist"
    chalice = Path(sys.executable).with_name("chalice")
    completed = subprocess.run(
        [str(chalice), "package", "--stage", STAGE, "--merge-template", "infra/resources.json", str(out)],
        cwd=access_key_project, env=credential_free_environment() | {"SIFT_AUTH": "accesskey"},
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


def _template(package: Path) -> dict[str, Any]:
    return json.loads((package / "sam.json").read_text())  # type: ignore[no-any-return]


def test_the_routes_carry_no_iam_authorizer(package: Path) -> None:
    api = _template(package)["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert "sigv4" not in api.get("securityDefinitions", {})
    for path, methods in api["paths"].items():
        for method, operation in methods.items():
            assert not operation.get("security"), (path, method)


def test_the_stack_seals_secrets_with_its_own_kms_key(package: Path) -> None:
    template = _template(package)
    resources = template["Resources"]
    assert resources["AccessKeysKey"]["Type"] == "AWS::KMS::Key"
    assert resources["AccessKeysKey"]["Properties"]["EnableKeyRotation"] is True
    assert template["Mappings"]["StageSettings"][STAGE]["AccessKeys"] == "true"
    variables = resources["Retrieve"]["Properties"]["Environment"]["Variables"]
    assert variables["SIFT_KMS_KEY_ID"] == {"Fn::If": ["VerifiesAccessKeys", {"Ref": "AccessKeysKey"}, ""]}
    assert variables["SIFT_AUTH"] == "accesskey"


def test_every_route_function_may_verify_and_only_they(access_key_project: Path) -> None:
    config = json.loads((access_key_project / ".chalice" / "config.json").read_text())
    functions = config["stages"][STAGE]["lambda_functions"]

    def actions(name: str) -> set[str]:
        policy = json.loads((access_key_project / ".chalice" / functions[name]["iam_policy_file"]).read_text())
        return {action for statement in policy["Statement"] for action in statement["Action"]}

    for name in ("Retrieve", "GetIndexJobStatus", "ContextualRetrieval", "ApplyFileUploadLease", "api_handler"):
        assert {"kms:Decrypt", "dynamodb:GetItem", "dynamodb:PutItem"} <= actions(name), name
    for name in ("OnObjectEvent", "IndexingTasks"):
        assert "kms:Decrypt" not in actions(name), name


def test_the_access_key_template_passes_cfn_lint(package: Path) -> None:
    _cfn_lint(package / "sam.json")
