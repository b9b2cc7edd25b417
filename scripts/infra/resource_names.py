"""What a stage's AWS resources are called (``<app>-<stage>-...``) and which Bedrock models its functions call.

The IAM policies are static files, so they can only name resources by these names (account and region are wildcards);
the merged template creates the resources under the same names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from chalicelib.models.bedrock.embedders import base_model_id
from chalicelib.settings import Settings, bedrock_model_id

TABLE_SUFFIX: Final = "catalog"
BUCKET_SUFFIX: Final = "documents"  # bucket names end in account and region: they are global
DATA_CENTER_SUFFIX: Final = "datacenter"
ACCESS_KEYS_SUFFIX: Final = "access-keys"  # the KMS key (alias) that seals access-key secrets
ACCESS_KEYS_CONDITION: Final = "VerifiesAccessKeys"  # the stage's SIFT_AUTH is accesskey
RESULTS_BUCKET_SUFFIX: Final = "job-results"
DEAD_LETTER_SUFFIX: Final = "object-events-dlq"
# Logical id -> (ASL file in infra/, state machine name suffix).
STATE_MACHINES: Final[Mapping[str, tuple[str, str]]] = {
    "BatchIndexStateMachine": ("batch_index.asl.json", "batch-index"),
    "ReindexStateMachine": ("reindex.asl.json", "reindex"),
}


@dataclass(frozen=True, slots=True)
class StageNames:
    """What a stage's resources are called (``prefix`` is ``<app>-<stage>``), the Bedrock models it calls and whether
    its functions send traces to X-Ray (``"xray": true``, which ``chalicelib.observability`` needs)."""

    prefix: str
    table: str
    embedding_models: tuple[str, ...]
    all_models: tuple[str, ...]
    tracing: bool
    verifies_signatures: bool = False  # SIFT_AUTH=accesskey: the functions verify the SDKs' signatures

    @property
    def access_keys_alias(self) -> str:
        return f"alias/{self.prefix}-{ACCESS_KEYS_SUFFIX}"

    @classmethod
    def from_config(cls, app_name: str, stage: str, environment: Mapping[str, str], tracing: bool) -> StageNames:
        prefix = f"{app_name}-{stage}"
        expected = {"SIFT_CATALOG_TABLE": f"{prefix}-{TABLE_SUFFIX}", "SIFT_OPENSEARCH_INDEX_PREFIX": prefix}
        for variable, value in expected.items():
            if environment.get(variable) != value:
                raise SystemExit(f"stage {stage!r}: {variable} must be {value!r}; the template names it so")
        settings = Settings.from_environment(environment)
        embedding = (settings.embedder, settings.image_embedder)
        every = (*embedding, settings.reranker, *settings.rerank_models.values(), settings.rewriter, settings.generator)
        return cls(
            prefix,
            expected["SIFT_CATALOG_TABLE"],
            _model_arns(embedding),
            _model_arns(every),
            tracing,
            settings.auth == "accesskey",
        )

    def state_machine(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"


def _model_arns(selectors: Iterable[str]) -> tuple[str, ...]:
    """The ARNs ``bedrock:InvokeModel`` needs for these selectors: an inference profile is invoked in the regions of
    its geography, so it needs the profile and the model in every region (hence the region wildcards)."""
    arns: list[str] = []
    for selector in selectors:
        model_id = bedrock_model_id(selector)
        if model_id is None:
            continue
        if model_id.startswith("arn:"):
            arns.append(model_id)
            continue
        base = base_model_id(model_id)
        arns.append(f"arn:aws:bedrock:*::foundation-model/{base}")
        if base != model_id:
            arns.append(f"arn:aws:bedrock:*:*:inference-profile/{model_id}")
    return tuple(sorted(set(arns)))
