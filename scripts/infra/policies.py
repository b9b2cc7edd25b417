"""The functions' IAM policies: each ``Grant`` as statements on a stage's resources, one document per profile."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.core.data_center import FILES_PREFIX, UPLOADS_PREFIX
from scripts.infra.cfn import Json
from scripts.infra.functions import NOT_ROUTES, Grant, Profile
from scripts.infra.resource_names import (
    BUCKET_SUFFIX,
    DATA_CENTER_SUFFIX,
    DEAD_LETTER_SUFFIX,
    RESULTS_BUCKET_SUFFIX,
    STATE_MACHINES,
    StageNames,
)


def statement(sid: str, actions: Iterable[str], resources: Iterable[str | Json]) -> Json:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


def statements(grant: Grant, names: StageNames) -> list[Json]:
    """The IAM statements of ``grant`` on ``names``' resources."""
    table = f"arn:aws:dynamodb:*:*:table/{names.table}"
    bucket = f"arn:aws:s3:::{names.prefix}-{BUCKET_SUFFIX}-*"
    files = f"arn:aws:s3:::{names.prefix}-{DATA_CENTER_SUFFIX}-*"
    sid = grant.value
    match grant:
        case Grant.CATALOG_READ:
            return [statement(sid, ["dynamodb:GetItem", "dynamodb:Query"], [table, f"{table}/index/*"])]
        case Grant.CATALOG_HISTORY:
            return [statement(sid, ["dynamodb:PutItem"], [table])]
        case Grant.CATALOG_WRITE:
            # TransactWriteItems is authorised per item: PutItem and DeleteItem.
            actions = [
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
            ]
            return [statement(sid, actions, [table, f"{table}/index/*"])]
        case Grant.DOCUMENTS_GET:
            return [statement(sid, ["s3:GetObject"], [f"{bucket}/*"])]
        case Grant.DOCUMENTS_READ:
            return [
                statement(f"{sid}Objects", ["s3:GetObject"], [f"{bucket}/*"]),
                statement(f"{sid}List", ["s3:ListBucket"], [bucket]),
            ]
        case Grant.SEARCH:
            # The collection id is chosen by AWS; the data-access policy limits what each role may do in it.
            return [statement(sid, ["aoss:APIAccessAll"], ["arn:aws:aoss:*:*:collection/*"])]
        case Grant.EMBEDDING_MODELS:
            return [statement(sid, ["bedrock:InvokeModel"], names.embedding_models)]
        case Grant.ALL_MODELS:
            # Rerank has no resource-level permissions; the rerank model itself is checked through InvokeModel.
            return [
                statement(sid, ["bedrock:InvokeModel"], names.all_models),
                statement("Rerank", ["bedrock:Rerank"], ["*"]),
            ]
        case Grant.START_JOBS:
            machines = [
                f"arn:aws:states:*:*:stateMachine:{names.state_machine(suffix)}"
                for _, suffix in STATE_MACHINES.values()
            ]
            return [statement(sid, ["states:StartExecution"], machines)]
        case Grant.JOB_RESULTS:
            return [statement(sid, ["s3:GetObject"], [f"arn:aws:s3:::{names.prefix}-{RESULTS_BUCKET_SUFFIX}-*/*"])]
        case Grant.FILES_UPLOAD:
            return [statement(sid, ["s3:PutObject"], [f"{files}/{UPLOADS_PREFIX}*"])]
        case Grant.FILES_ADD:
            # ListBucket makes S3 answer 404 rather than 403 for a key not uploaded yet ("nothing uploaded" is a 400).
            return [
                statement(f"{sid}Uploads", ["s3:GetObject", "s3:DeleteObject"], [f"{files}/{UPLOADS_PREFIX}*"]),
                statement(f"{sid}Files", ["s3:PutObject"], [f"{files}/{FILES_PREFIX}*"]),
                statement(f"{sid}List", ["s3:ListBucket"], [files]),
            ]
        case Grant.FILES_READ:
            return [
                statement(f"{sid}Objects", ["s3:GetObject"], [f"{files}/{FILES_PREFIX}*"]),
                statement(f"{sid}List", ["s3:ListBucket"], [files]),
            ]
        case Grant.FILES_DELETE:
            return [statement(sid, ["s3:DeleteObject"], [f"{files}/{FILES_PREFIX}*"])]
        case Grant.VERIFY_SIGNATURES:
            return [
                statement(f"{sid}Catalog", ["dynamodb:GetItem", "dynamodb:PutItem"], [table]),
                {
                    **statement(f"{sid}Secrets", ["kms:Decrypt"], ["arn:aws:kms:*:*:key/*"]),
                    "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": names.access_keys_alias}},
                },
            ]
        case Grant.DEAD_LETTERS:
            return [statement(sid, ["sqs:SendMessage"], [f"arn:aws:sqs:*:*:{names.prefix}-{DEAD_LETTER_SUFFIX}"])]
    raise AssertionError(grant)


def policy_document(profile: Profile, names: StageNames) -> Json:
    """Logs (and traces) for every function, then the statements of the profile's grants; on a stage that verifies
    access keys, every function that serves HTTP routes verifies signatures too."""
    common = [
        statement(
            "Logs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            ["arn:aws:logs:*:*:log-group:/aws/lambda/*"],
        )
    ]
    if names.tracing:  # X-Ray has no resource-level permissions
        common.append(statement("Traces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]))
    grants = set(profile.grants)
    if names.verifies_signatures and profile not in NOT_ROUTES:
        grants.add(Grant.VERIFY_SIGNATURES)
    ordered = [grant for grant in Grant if grant in grants]
    return {
        "Version": "2012-10-17",
        "Statement": [*common, *(item for grant in ordered for item in statements(grant, names))],
    }


def policy_file(stage: str, profile: Profile) -> str:
    return f"policy-{stage}.json" if profile.name == "api" else f"policy-{stage}-{profile.name}.json"
