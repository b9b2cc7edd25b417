"""``chalice package`` runs shared by the packaging tests: once per session and format, without AWS credentials.

Packaging must need none (CI has none, and a template built from someone's credentials could differ): every
``AWS_*`` variable is removed, the config and credentials files point at ``/dev/null`` and the instance metadata
service is off. Only a region is given, which Chalice needs to name the Lambda service principal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"
REGION = "us-east-1"
MERGE_TEMPLATE = ROOT / "infra" / "resources.json"


def credential_free_environment() -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return environment | {
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": REGION,
    }


def chalice_package(out: Path, *options: str) -> Path:
    """Run ``chalice package --stage dev <options> <out>`` and return ``out``; fail with Chalice's output."""
    chalice = Path(sys.executable).with_name("chalice")
    completed = subprocess.run(
        [str(chalice), "package", "--stage", STAGE, *options, str(out)],
        cwd=ROOT, env=credential_free_environment(), capture_output=True, text=True, timeout=600, check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SAM package with ``infra/resources.json`` merged in, as the README deploys it."""
    return chalice_package(tmp_path_factory.mktemp("sam") / STAGE, "--merge-template", str(MERGE_TEMPLATE))


@pytest.fixture(scope="session")
def terraform_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chalice_package(tmp_path_factory.mktemp("terraform") / STAGE, "--pkg-format", "terraform")
