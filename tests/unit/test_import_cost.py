"""Importing ``app`` is what every Lambda cold start and every ``chalice deploy`` pays: it must stay cheap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Powertools is imported on the first request (chalicelib.observability), the X-Ray SDK only where tracing is on.
_PROBE = (
    "import json, sys; import app; "
    "print(json.dumps({name: name in sys.modules for name in "
    "('torch', 'sentence_transformers', 'transformers', 'numpy', 'tantivy', 'chalicelib.search.embedded.backend', "
    "'aws_lambda_powertools', 'aws_xray_sdk')}))"
)


def test_importing_app_in_the_lambda_configuration_loads_no_model_or_engine() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "SIFT_STAGE": "dev", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {name: False for name in loaded}, loaded
