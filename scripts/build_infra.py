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
``OTHER_FUNCTIONS`` below; a function in ``app.py`` missing from them (or the reverse) is an error.
"""

from __future__ import annotations

import argparse
import copy
import enum
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from chalice.package import to_cfn_resource_name

from chalicelib.api.calls import Access as OperationAccess
from chalicelib.api.calls import LambdaSize
from chalicelib.core.data_center import FILES_PREFIX, UPLOADS_PREFIX
from chalicelib.models.bedrock.embedders import base_model_id
from chalicelib.settings import Settings, bedrock_model_id
from chalicelib.store.dynamodb import TABLE_DEFINITION, TIME_TO_LIVE

ROOT: Final = Path(__file__).resolve().parent.parent
CONFIG_PATH: Final = ROOT / ".chalice" / "config.json"
RESOURCES_PATH: Final = ROOT / "infra" / "resources.json"
API_HANDLER: Final = "api_handler"  # Chalice's name of the function behind every HTTP route
TASKS_FUNCTION: Final = "IndexingTasks"  # the Lambda the state machines' Task states invoke
OBJECT_EVENTS_FUNCTION: Final = "OnObjectEvent"

Json = dict[str, Any]


# --- who needs what ---------------------------------------------------------------------------------------------------


class Grant(enum.Enum):
    """One IAM permission set of a function; ``statements`` turns it into policy statements for a stage."""

    CATALOG_READ = "CatalogRead"
    CATALOG_HISTORY = "CatalogHistory"  # Retrieve's SaveRetrieverHistory
    CATALOG_WRITE = "CatalogWrite"
    DOCUMENTS_GET = "DocumentsGet"  # Retrieve's query Images given as S3 URIs
    DOCUMENTS_READ = "DocumentsRead"
    SEARCH = "Search"  # the IAM half of OpenSearch Serverless; what a function may do there is its ``SearchAccess``
    EMBEDDING_MODELS = "EmbeddingModels"
    ALL_MODELS = "AllModels"
    START_JOBS = "StartJobs"
    JOB_RESULTS = "JobResults"  # what the state machines' Distributed Maps export (ResultWriter), read by the tasks
    DEAD_LETTERS = "DeadLetters"
    FILES_UPLOAD = "FilesUpload"  # presign PUTs under uploads/ (a presigned URL acts with the signer's rights)
    FILES_ADD = "FilesAdd"  # read an upload, copy it to files/, delete it (AddFile)
    FILES_READ = "FilesRead"  # read data-center files (indexing)
    FILES_DELETE = "FilesDelete"
    # SIFT_AUTH=accesskey: read keys and record nonces in the catalog, open sealed secrets with the stack's KMS key
    VERIFY_SIGNATURES = "VerifySignatures"


# A grant that includes others: a union keeps only the wider one, so the API handler's policy has no repetitions.
SUBSUMES: Final[Mapping[Grant, frozenset[Grant]]] = {
    Grant.CATALOG_WRITE: frozenset({Grant.CATALOG_READ, Grant.CATALOG_HISTORY}),
    Grant.DOCUMENTS_READ: frozenset({Grant.DOCUMENTS_GET}),
    Grant.ALL_MODELS: frozenset({Grant.EMBEDDING_MODELS}),
}


class SearchAccess(enum.IntEnum):
    """A function's rule in the collection's data-access policy; ordered, so a union is the maximum."""

    NONE = 0
    READ = 1
    WRITE = 2
    ADMIN = 3  # create and delete indexes, and their aliases (alias permissions are collection permissions)


# (collection permissions, index permissions) of each level; see "Supported policy permissions" in the OpenSearch
# Serverless data access documentation.
SEARCH_PERMISSIONS: Final[Mapping[SearchAccess, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    SearchAccess.READ: (("aoss:DescribeCollectionItems",), ("aoss:DescribeIndex", "aoss:ReadDocument")),
    SearchAccess.WRITE: (
        ("aoss:DescribeCollectionItems",),
        ("aoss:DescribeIndex", "aoss:ReadDocument", "aoss:WriteDocument"),
    ),
    SearchAccess.ADMIN: (
        ("aoss:CreateCollectionItems", "aoss:DeleteCollectionItems", "aoss:UpdateCollectionItems",
         "aoss:DescribeCollectionItems"),
        ("aoss:CreateIndex", "aoss:DeleteIndex", "aoss:UpdateIndex", "aoss:DescribeIndex", "aoss:ReadDocument",
         "aoss:WriteDocument"),
    ),
}


@dataclass(frozen=True, slots=True)
class Profile:
    """A named set of grants: one policy file per stage, shared by the functions that have exactly these needs."""

    name: str
    grants: frozenset[Grant]


@dataclass(frozen=True, slots=True)
class Access:
    """What one function may do: its IAM profile, and its level in the collection's data-access policy."""

    profile: Profile
    search: SearchAccess


def _profile(name: str, *grants: Grant) -> Profile:
    return Profile(name, frozenset(grants))


CATALOG_READER: Final = _profile("catalog-read", Grant.CATALOG_READ)
CATALOG_WRITER: Final = _profile("catalog-write", Grant.CATALOG_WRITE)
SEARCHER: Final = _profile("search", Grant.CATALOG_READ, Grant.SEARCH)
QUERY: Final = _profile("query", Grant.CATALOG_READ, Grant.SEARCH, Grant.ALL_MODELS)
RETRIEVE: Final = _profile("retrieve", *QUERY.grants, Grant.CATALOG_HISTORY, Grant.DOCUMENTS_GET)
ADMIN: Final = _profile("admin", Grant.CATALOG_WRITE, Grant.SEARCH)
INDEXER: Final = _profile("index", Grant.CATALOG_WRITE, Grant.DOCUMENTS_READ, Grant.SEARCH, Grant.EMBEDDING_MODELS,
                          Grant.FILES_READ)
# Job submitters keep the indexing grants: `chalice deploy` creates no state machines, so there a job runs in-process
# (the default SIFT_JOB_RUNNER); the merged template switches them to Step Functions.
JOB_SUBMITTER: Final = _profile("submit-jobs", *INDEXER.grants, Grant.START_JOBS)
OBJECT_EVENTS: Final = _profile("object-events", *(INDEXER.grants - {Grant.FILES_READ}), Grant.DEAD_LETTERS)
TASKS: Final = _profile("indexing-tasks", *INDEXER.grants, Grant.JOB_RESULTS)
FILES_UPLOADER: Final = _profile("files-upload", Grant.CATALOG_WRITE, Grant.FILES_UPLOAD)
FILES_ADDER: Final = _profile("files-add", Grant.CATALOG_WRITE, Grant.FILES_ADD)
FILES_DELETER: Final = _profile("files-delete", Grant.CATALOG_WRITE, Grant.FILES_DELETE)

# What each access group of the operation registry (``chalicelib.api.calls.Access``) may do.
ACCESS_GROUPS: Final[Mapping[OperationAccess, Access]] = {
    OperationAccess.RETRIEVE: Access(RETRIEVE, SearchAccess.READ),
    OperationAccess.QUERY: Access(QUERY, SearchAccess.READ),
    OperationAccess.BROWSE: Access(SEARCHER, SearchAccess.READ),  # e.g. ListIndices' DocumentCount reads the index
    OperationAccess.DELETE_DOCUMENTS: Access(SEARCHER, SearchAccess.WRITE),
    OperationAccess.CATALOG_READ: Access(CATALOG_READER, SearchAccess.NONE),
    OperationAccess.CATALOG_WRITE: Access(CATALOG_WRITER, SearchAccess.NONE),
    OperationAccess.ADMIN: Access(ADMIN, SearchAccess.ADMIN),
    OperationAccess.INDEX: Access(INDEXER, SearchAccess.WRITE),
    OperationAccess.SUBMIT_JOBS: Access(JOB_SUBMITTER, SearchAccess.WRITE),  # a binding's initial indexing is a job
    OperationAccess.REINDEX: Access(JOB_SUBMITTER, SearchAccess.ADMIN),  # in-process it builds and drops versions
    OperationAccess.FILES_UPLOAD: Access(FILES_UPLOADER, SearchAccess.NONE),
    OperationAccess.FILES_ADD: Access(FILES_ADDER, SearchAccess.NONE),
    OperationAccess.FILES_DELETE: Access(FILES_DELETER, SearchAccess.NONE),
}

# The functions that are not operations: the S3 event handler and the state machines' tasks.
OTHER_FUNCTIONS: Final[Mapping[str, tuple[Access, LambdaSize, int]]] = {
    OBJECT_EVENTS_FUNCTION: (Access(OBJECT_EVENTS, SearchAccess.WRITE), LambdaSize.INDEXING, 900),
    # a reindex creates an index version and drops the old one
    TASKS_FUNCTION: (Access(TASKS, SearchAccess.ADMIN), LambdaSize.INDEXING, 900),
}

# The profiles of the functions that serve no HTTP route (they never verify a signature).
NOT_ROUTES: Final = frozenset({OBJECT_EVENTS, TASKS})

# Each stage's memory (MB) per Lambda size. 1,769 MB is one full vCPU; 3,008 MB nearly two.
STAGE_MEMORY: Final[Mapping[str, Mapping[LambdaSize, int]]] = {
    "dev": {LambdaSize.SMALL: 512, LambdaSize.QUERY: 1024, LambdaSize.INDEXING: 2048},
    "prod": {LambdaSize.SMALL: 512, LambdaSize.QUERY: 1769, LambdaSize.INDEXING: 3008},
}
API_HANDLER_TIMEOUT: Final = 30  # API Gateway answers 504 after 29 s whatever the function's timeout


def operation_functions() -> dict[str, tuple[Access, LambdaSize, int]]:
    """Every operation's function, from the registry: its access, size and timeout."""
    from chalicelib.api.operations import OPERATIONS

    return {operation.name: (ACCESS_GROUPS[operation.access], operation.size, operation.timeout_s)
            for operation in OPERATIONS}


FUNCTIONS: Final[Mapping[str, tuple[Access, LambdaSize, int]]] = {**operation_functions(), **OTHER_FUNCTIONS}


def api_handler_access(route_functions: Iterable[str]) -> Access:
    """The API handler serves every route, so it needs what the functions of all operations need."""
    accesses = [FUNCTIONS[name][0] for name in route_functions]
    grants = frozenset[Grant]().union(*(access.profile.grants for access in accesses))
    wider = frozenset[Grant]().union(*(SUBSUMES.get(grant, frozenset()) for grant in grants))
    return Access(Profile("api", grants - wider), max(access.search for access in accesses))


# --- names ------------------------------------------------------------------------------------------------------------


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
# Standby replicas double an OpenSearch Serverless collection's minimum capacity: worth it in production only.
STANDBY_REPLICAS: Final[Mapping[str, str]] = {"dev": "DISABLED", "prod": "ENABLED"}


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
        return cls(prefix, expected["SIFT_CATALOG_TABLE"], _model_arns(embedding), _model_arns(every), tracing,
                   settings.auth == "accesskey")

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


# --- IAM policies of the functions ------------------------------------------------------------------------------------


def _statement(sid: str, actions: Iterable[str], resources: Iterable[str | Json]) -> Json:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


def statements(grant: Grant, names: StageNames) -> list[Json]:
    """The IAM statements of ``grant`` on ``names``' resources."""
    table = f"arn:aws:dynamodb:*:*:table/{names.table}"
    bucket = f"arn:aws:s3:::{names.prefix}-{BUCKET_SUFFIX}-*"
    files = f"arn:aws:s3:::{names.prefix}-{DATA_CENTER_SUFFIX}-*"
    sid = grant.value
    match grant:
        case Grant.CATALOG_READ:
            return [_statement(sid, ["dynamodb:GetItem", "dynamodb:Query"], [table, f"{table}/index/*"])]
        case Grant.CATALOG_HISTORY:
            return [_statement(sid, ["dynamodb:PutItem"], [table])]
        case Grant.CATALOG_WRITE:
            # TransactWriteItems is authorised per item: PutItem and DeleteItem.
            actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem",
                       "dynamodb:BatchWriteItem"]
            return [_statement(sid, actions, [table, f"{table}/index/*"])]
        case Grant.DOCUMENTS_GET:
            return [_statement(sid, ["s3:GetObject"], [f"{bucket}/*"])]
        case Grant.DOCUMENTS_READ:
            return [_statement(f"{sid}Objects", ["s3:GetObject"], [f"{bucket}/*"]),
                    _statement(f"{sid}List", ["s3:ListBucket"], [bucket])]
        case Grant.SEARCH:
            # The collection id is chosen by AWS; the data-access policy limits what each role may do in it.
            return [_statement(sid, ["aoss:APIAccessAll"], ["arn:aws:aoss:*:*:collection/*"])]
        case Grant.EMBEDDING_MODELS:
            return [_statement(sid, ["bedrock:InvokeModel"], names.embedding_models)]
        case Grant.ALL_MODELS:
            # Rerank has no resource-level permissions; the rerank model itself is checked through InvokeModel.
            return [_statement(sid, ["bedrock:InvokeModel"], names.all_models),
                    _statement("Rerank", ["bedrock:Rerank"], ["*"])]
        case Grant.START_JOBS:
            machines = [f"arn:aws:states:*:*:stateMachine:{names.state_machine(suffix)}"
                        for _, suffix in STATE_MACHINES.values()]
            return [_statement(sid, ["states:StartExecution"], machines)]
        case Grant.JOB_RESULTS:
            return [_statement(sid, ["s3:GetObject"], [f"arn:aws:s3:::{names.prefix}-{RESULTS_BUCKET_SUFFIX}-*/*"])]
        case Grant.FILES_UPLOAD:
            return [_statement(sid, ["s3:PutObject"], [f"{files}/{UPLOADS_PREFIX}*"])]
        case Grant.FILES_ADD:
            # ListBucket makes S3 answer 404 rather than 403 for a key not uploaded yet ("nothing uploaded" is a 400).
            return [_statement(f"{sid}Uploads", ["s3:GetObject", "s3:DeleteObject"], [f"{files}/{UPLOADS_PREFIX}*"]),
                    _statement(f"{sid}Files", ["s3:PutObject"], [f"{files}/{FILES_PREFIX}*"]),
                    _statement(f"{sid}List", ["s3:ListBucket"], [files])]
        case Grant.FILES_READ:
            return [_statement(f"{sid}Objects", ["s3:GetObject"], [f"{files}/{FILES_PREFIX}*"]),
                    _statement(f"{sid}List", ["s3:ListBucket"], [files])]
        case Grant.FILES_DELETE:
            return [_statement(sid, ["s3:DeleteObject"], [f"{files}/{FILES_PREFIX}*"])]
        case Grant.VERIFY_SIGNATURES:
            return [_statement(f"{sid}Catalog", ["dynamodb:GetItem", "dynamodb:PutItem"], [table]),
                    {**_statement(f"{sid}Secrets", ["kms:Decrypt"], ["arn:aws:kms:*:*:key/*"]),
                     "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": names.access_keys_alias}}}]
        case Grant.DEAD_LETTERS:
            return [_statement(sid, ["sqs:SendMessage"], [f"arn:aws:sqs:*:*:{names.prefix}-{DEAD_LETTER_SUFFIX}"])]
    raise AssertionError(grant)


def policy_document(profile: Profile, names: StageNames) -> Json:
    """Logs (and traces) for every function, then the statements of the profile's grants; on a stage that verifies
    access keys, every function that serves HTTP routes verifies signatures too."""
    common = [_statement("Logs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                         ["arn:aws:logs:*:*:log-group:/aws/lambda/*"])]
    if names.tracing:  # X-Ray has no resource-level permissions
        common.append(_statement("Traces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]))
    grants = set(profile.grants)
    if names.verifies_signatures and profile not in NOT_ROUTES:
        grants.add(Grant.VERIFY_SIGNATURES)
    ordered = [grant for grant in Grant if grant in grants]
    return {"Version": "2012-10-17",
            "Statement": [*common, *(item for grant in ordered for item in statements(grant, names))]}


def policy_file(stage: str, profile: Profile) -> str:
    return f"policy-{stage}.json" if profile.name == "api" else f"policy-{stage}-{profile.name}.json"


# --- the merged template ----------------------------------------------------------------------------------------------


def _sub(text: str) -> Json:
    return {"Fn::Sub": text}


def _get_att(logical_id: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [logical_id, attribute]}


def _ref(logical_id: str) -> Json:
    return {"Ref": logical_id}


def _retained(resource: Json) -> Json:
    """Data that cannot be rebuilt survives the stack (and a replacement of the resource)."""
    return {**resource, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def function_logical_id(name: str) -> str:
    return "APIHandler" if name == API_HANDLER else to_cfn_resource_name(name)


def role_logical_id(name: str) -> str:
    """The logical id of the role Chalice generates for a function with its own policy file (``<name>_role``)."""
    return to_cfn_resource_name(f"{name}_role")


def bucket(app_name: str, suffix: str, **properties: Any) -> Json:
    """A private, encrypted bucket ``<app>-<stage>-<suffix>-<account>-<region>``."""
    return {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            "BucketName": _sub(f"{app_name}-${{Stage}}-{suffix}-${{AWS::AccountId}}-${{AWS::Region}}"),
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            **properties,
        },
    }


def catalog_table(app_name: str) -> Json:
    return _retained({
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": _sub(f"{app_name}-${{Stage}}-{TABLE_SUFFIX}"),
            **copy.deepcopy(TABLE_DEFINITION),  # the CreateTable parameters are the CloudFormation properties
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": copy.deepcopy(TIME_TO_LIVE),  # upload leases no AddFile took
        },
    })


def search_resources(app_name: str, access: Mapping[str, Access]) -> Json:
    """The OpenSearch Serverless vector collection ``<app>-<stage>`` and its three policies."""
    collection = f"{app_name}-${{Stage}}"
    collection_rule = {"ResourceType": "collection", "Resource": [f"collection/{collection}"]}
    encryption = {"Rules": [collection_rule], "AWSOwnedKey": True}
    # Lambdas outside a VPC reach the collection over its public endpoint; the data-access policy and SigV4 guard it.
    network = [{"Rules": [collection_rule], "AllowFromPublic": True}]  # no dashboards rule: no dashboards
    data_rules = []
    for level, (collection_permissions, index_permissions) in SEARCH_PERMISSIONS.items():
        principals = [f"${{{role_logical_id(name)}.Arn}}" for name, item in access.items() if item.search is level]
        if principals:
            data_rules.append({
                "Rules": [{**collection_rule, "Permission": list(collection_permissions)},
                          {"ResourceType": "index", "Resource": [f"index/{collection}/{collection}-*"],
                           "Permission": list(index_permissions)}],
                "Principal": principals,
            })

    def policy(resource_type: str, policy_type: str, document: Any) -> Json:
        return {"Type": f"AWS::OpenSearchServerless::{resource_type}", "Properties": {
            "Name": _sub(f"{collection}-{policy_type}"), "Type": policy_type,
            "Policy": _sub(json.dumps(document, separators=(",", ":")))}}

    return {
        "SearchEncryptionPolicy": policy("SecurityPolicy", "encryption", encryption),
        "SearchNetworkPolicy": policy("SecurityPolicy", "network", network),
        "SearchDataAccessPolicy": policy("AccessPolicy", "data", data_rules),
        "SearchCollection": {
            "Type": "AWS::OpenSearchServerless::Collection",
            "DependsOn": ["SearchEncryptionPolicy", "SearchNetworkPolicy"],
            "Properties": {
                "Name": _sub(collection),
                "Type": "VECTORSEARCH",
                "StandbyReplicas": {"Fn::FindInMap": ["StageSettings", _ref("Stage"), "StandbyReplicas"]},
                "Description": _sub(f"{app_name} ${{Stage}}: chunks and document records"),
            },
        },
    }


def state_machine_resources(app_name: str, asl: Mapping[str, str]) -> Json:
    """The state machines (definitions from ``infra/*.asl.json``) and their one role: invoke ``IndexingTasks``, list
    the documents bucket (Distributed Map's ItemReader), export the maps' results (ResultWriter) and run their own
    child executions (whose ARNs are ``execution:<machine>/<map run>:<id>``)."""
    substitutions = {"IndexingTasksArn": _get_att(function_logical_id(TASKS_FUNCTION), "Arn"),
                     "JobResultsBucket": _ref("JobResultsBucket")}
    machine_arn = f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{app_name}-${{Stage}}"
    execution_arn = machine_arn.replace(":stateMachine:", ":execution:")
    suffixes = [suffix for _, suffix in STATE_MACHINES.values()]
    tasks = function_logical_id(TASKS_FUNCTION)
    resources: Json = {
        "StateMachineRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": _ref("AWS::AccountId")}}}]},
                "Policies": [{"PolicyName": "StateMachines", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    _statement("InvokeIndexingTasks", ["lambda:InvokeFunction"],
                               [_get_att(tasks, "Arn"), _sub(f"${{{tasks}.Arn}}:*")]),
                    _statement("ListDocuments", ["s3:ListBucket"], [_get_att("DocumentsBucket", "Arn")]),
                    _statement("ExportResults", ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts",
                                                 "s3:AbortMultipartUpload"], [_sub("${JobResultsBucket.Arn}/*")]),
                    _statement("StartChildExecutions", ["states:StartExecution"],
                               [_sub(f"{machine_arn}-{suffix}") for suffix in suffixes]),
                    _statement("ManageChildExecutions", ["states:DescribeExecution", "states:StopExecution"],
                               [_sub(f"{execution_arn}-{suffix}{tail}") for suffix in suffixes for tail in ("/*", ":*")]),
                ]}}],
            },
        },
    }
    for logical_id, (filename, suffix) in STATE_MACHINES.items():
        definition = asl[filename]
        used = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
        unknown = sorted(set(used) - set(substitutions))
        if unknown:
            raise SystemExit(f"infra/{filename}: unknown placeholders {unknown}; known: {sorted(substitutions)}")
        properties: Json = {
            "StateMachineName": _sub(f"{app_name}-${{Stage}}-{suffix}"),
            "StateMachineType": "STANDARD",  # Distributed Map runs in standard workflows only
            "RoleArn": _get_att("StateMachineRole", "Arn"),
            "DefinitionString": definition,
        }
        if used:
            properties["DefinitionSubstitutions"] = {name: substitutions[name] for name in used}
        resources[logical_id] = {"Type": "AWS::StepFunctions::StateMachine", "Properties": properties}
    return resources


def function_patches(access: Mapping[str, Access], cloudwatch_events: Mapping[str, Json]) -> Json:
    """What the template changes in Chalice's functions: environment (merged per variable), and for the S3 event
    handler the bucket of its rule and where failed asynchronous invocations go."""
    patches: Json = {}
    for name in access:
        variables: Json = {"SIFT_OPENSEARCH_URL": _get_att("SearchCollection", "CollectionEndpoint"),
                           "SIFT_CATALOG_TABLE": _ref("CatalogTable"),
                           "SIFT_DATA_CENTER_BUCKET": _ref("DataCenterBucket"),
                           "SIFT_KMS_KEY_ID": {"Fn::If": [ACCESS_KEYS_CONDITION, _ref("AccessKeysKey"), ""]}}
        if name != TASKS_FUNCTION:  # the machines' definitions name IndexingTasks: a reference back would be a cycle
            variables |= {"SIFT_JOB_RUNNER": "stepfunctions",
                          "SIFT_BATCH_INDEX_STATE_MACHINE": _ref("BatchIndexStateMachine"),
                          "SIFT_REINDEX_STATE_MACHINE": _ref("ReindexStateMachine")}
        patches[function_logical_id(name)] = {"Properties": {"Environment": {"Variables": variables}}}
    for name, pattern in cloudwatch_events.items():
        properties = patches[function_logical_id(name)]["Properties"]
        if pattern.get("source") == ["aws.s3"]:
            event_id = to_cfn_resource_name(f"{name}-event")  # Chalice's logical id of the function's rule
            detail = {"bucket": {"name": [_ref("DocumentsBucket")]}}
            properties["Events"] = {event_id: {"Properties": {"Pattern": {"detail": detail}}}}
    patches[function_logical_id(OBJECT_EVENTS_FUNCTION)]["Properties"]["EventInvokeConfig"] = {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 6 * 3600,
        "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": _get_att("ObjectEventsDeadLetters", "Arn")}},
    }
    return patches


def access_keys_resources(app_name: str) -> Json:
    """The KMS key that seals access-key secrets, on the stages that verify access keys (``VerifiesAccessKeys``).
    Retained: without it no stored secret opens. The account administers it; the functions may only decrypt (their
    policies name it by its alias)."""
    return {
        "AccessKeysKey": _retained({
            "Type": "AWS::KMS::Key",
            "Condition": ACCESS_KEYS_CONDITION,
            "Properties": {
                "Description": _sub(f"{app_name} ${{Stage}}: seals access-key secrets"),
                "EnableKeyRotation": True,
                "KeyPolicy": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "AccountAdministers", "Effect": "Allow",
                    "Principal": {"AWS": _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                    "Action": "kms:*", "Resource": "*"}]},
            },
        }),
        "AccessKeysKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Condition": ACCESS_KEYS_CONDITION,
            "Properties": {"AliasName": _sub(f"alias/{app_name}-${{Stage}}-{ACCESS_KEYS_SUFFIX}"),
                           "TargetKeyId": _ref("AccessKeysKey")},
        },
    }


# What API Gateway answers itself, before a request reaches a function (no such route, a bad or missing SigV4
# signature, throttling, a body over its limit, a function that failed or timed out): in the Bailian envelope, the
# family of every path but "/", with the status API Gateway gives each. (Sift's functions answer everything else.)
GATEWAY_RESPONSES: Final = {
    # API Gateway gives an unknown route and an unsigned request to an IAM route the same answer; it cannot tell.
    "MISSING_AUTHENTICATION_TOKEN": ("403", "MissingAuthenticationToken"),
    "ACCESS_DENIED": ("403", "Forbidden.RAM"),
    "INVALID_SIGNATURE": ("403", "InvalidSignature"),
    "EXPIRED_TOKEN": ("403", "ExpiredToken"),
    "THROTTLED": ("429", "Throttling"),
    "REQUEST_TOO_LARGE": ("413", "Index.InvalidParameter"),
    "INTEGRATION_TIMEOUT": ("504", "ServiceUnavailable"),
    "DEFAULT_5XX": ("502", "InternalError"),
}


def gateway_responses() -> Json:
    """``GATEWAY_RESPONSES`` as ``x-amazon-apigateway-gateway-responses`` of Chalice's ``RestAPI`` definition (merged
    into it: separate GatewayResponse resources would drift from an API whose body CloudFormation owns)."""
    return {"RestAPI": {"Properties": {"DefinitionBody": {"x-amazon-apigateway-gateway-responses": {
        kind: {
            "statusCode": status,
            "responseTemplates": {"application/json": (
                f'{{"Code": "{code}", "Message": $context.error.messageString, '
                f'"RequestId": "$context.requestId", "Status": "{status}", "Success": false}}'
            )},
        }
        for kind, (status, code) in GATEWAY_RESPONSES.items()
    }}}}}


def template(app_name: str, stages: list[str], access: Mapping[str, Access], asl: Mapping[str, str],
             cloudwatch_events: Mapping[str, Json], access_key_stages: frozenset[str] = frozenset()) -> Json:
    """``infra/resources.json``."""
    resources: Json = {
        **access_keys_resources(app_name),
        "DocumentsBucket": _retained(bucket(app_name, BUCKET_SUFFIX, NotificationConfiguration={
            "EventBridgeConfiguration": {"EventBridgeEnabled": True}})),
        # Read once by FinishJob / CommitReindex; kept a week for a look after a failure. Not the documents bucket:
        # an export there would be an object event, and could be indexed.
        "JobResultsBucket": bucket(app_name, RESULTS_BUCKET_SUFFIX, LifecycleConfiguration={"Rules": [
            {"Id": "ExpireJobResults", "Status": "Enabled", "ExpirationInDays": 7,
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]}),
        # Data-center files (ApplyFileUploadLease → presigned PUT → AddFile): the only copy, so retained. No events:
        # files are indexed when an index job names them, never because they arrived.
        "DataCenterBucket": _retained(bucket(app_name, DATA_CENTER_SUFFIX, LifecycleConfiguration={"Rules": [
            {"Id": "AbortIncompleteUploads", "Status": "Enabled",
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
            # AddFile copies the uploads it keeps to files/ (chalicelib/core/data_center.py): what stays expires.
            {"Id": "ExpireAbandonedUploads", "Status": "Enabled", "ExpirationInDays": 1, "Prefix": UPLOADS_PREFIX}]})),
        "CatalogTable": catalog_table(app_name),
        **search_resources(app_name, access),
        **state_machine_resources(app_name, asl),
        "ObjectEventsDeadLetters": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": _sub(f"{app_name}-${{Stage}}-{DEAD_LETTER_SUFFIX}"),
                           "MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True},
        },
        **function_patches(access, cloudwatch_events),
        **gateway_responses(),
    }
    outputs = {
        "DocumentsBucketName": _ref("DocumentsBucket"),
        "JobResultsBucketName": _ref("JobResultsBucket"),
        "DataCenterBucketName": _ref("DataCenterBucket"),
        "CatalogTableName": _ref("CatalogTable"),
        "SearchCollectionEndpoint": _get_att("SearchCollection", "CollectionEndpoint"),
        "BatchIndexStateMachineArn": _ref("BatchIndexStateMachine"),
        "ReindexStateMachineArn": _ref("ReindexStateMachine"),
        "ObjectEventsDeadLetterQueueUrl": _ref("ObjectEventsDeadLetters"),
    }
    conditional_outputs = {"AccessKeysKmsKeyId": (_ref("AccessKeysKey"), ACCESS_KEYS_CONDITION)}
    return {
        "Description": f"{app_name}: Chalice's functions and API plus infra/resources.json (scripts/build_infra.py)",
        "Parameters": {"Stage": {"Type": "String", "AllowedValues": stages,
                                 "Description": "The Chalice stage this template was packaged for"}},
        "Mappings": {"StageSettings": {stage: {"StandbyReplicas": STANDBY_REPLICAS.get(stage, "ENABLED"),
                                               "AccessKeys": "true" if stage in access_key_stages else "false"}
                                       for stage in stages}},
        "Conditions": {ACCESS_KEYS_CONDITION: {"Fn::Equals": [
            {"Fn::FindInMap": ["StageSettings", _ref("Stage"), "AccessKeys"]}, "true"]}},
        "Resources": resources,
        "Outputs": {**{name: {"Value": value} for name, value in outputs.items()},
                    **{name: {"Value": value, "Condition": condition}
                       for name, (value, condition) in conditional_outputs.items()}},
    }


# --- putting it together ----------------------------------------------------------------------------------------------


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
        events = {source.name: dict(source.event_pattern)
                  for source in app.event_sources if hasattr(source, "event_pattern")}
        names = [*pure, *events, *([API_HANDLER] if app.routes else [])]
        routes = tuple(operation.name for operation in OPERATIONS if operation.name in pure)
        return cls(routes, tuple(names), events)


def accesses(functions: AppFunctions) -> dict[str, Access]:
    """Every function's access; refuses a function without an entry in ``FUNCTIONS`` or an entry without one."""
    known = set(FUNCTIONS) | {API_HANDLER}
    unclassified = sorted(set(functions.all) - known)
    missing = sorted(known - set(functions.all))
    if unclassified or missing:
        raise SystemExit(f"scripts/build_infra.py FUNCTIONS: add {unclassified}, remove or register {missing}")
    return {name: api_handler_access(functions.routes) if name == API_HANDLER else FUNCTIONS[name][0]
            for name in functions.all}


def lambda_settings(stage: str, name: str, functions: AppFunctions) -> Json:
    """A function's memory and timeout on ``stage``: the registry's size and timeout. The API handler serves every
    route: it gets the query size (jobs it starts run on Step Functions) and API Gateway's timeout."""
    memory = STAGE_MEMORY.get(stage)
    if memory is None:
        raise SystemExit(f"scripts/build_infra.py STAGE_MEMORY: add stage {stage!r}")
    if name == API_HANDLER:
        sizes = {FUNCTIONS[route][1] for route in functions.routes}
        return {"lambda_memory_size": max(memory[size] for size in sizes if size is not LambdaSize.INDEXING),
                "lambda_timeout": API_HANDLER_TIMEOUT}
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
    return [name for name, stage in config["stages"].items()
            if stage.get("environment_variables", {}).get("SIFT_BACKEND") == "opensearch"]


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
            settings |= {**lambda_settings(stage, name, functions), "iam_policy_file": filename,
                         "autogen_policy": False}
    outputs[CONFIG_PATH] = render(config)
    outputs[RESOURCES_PATH] = render(template(app_name, stages, access, asl, functions.cloudwatch_events,
                                              frozenset(verifying)))
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
