"""The AWS resources merged into ``chalice package`` and the per-function IAM policies (``scripts/build_infra.py``).

What is checked, without AWS credentials: the committed files are what the script generates; the merged SAM template
passes cfn-lint, and so does the CloudFormation the SAM transform makes of it (aws-sam-translator, offline); the
merged template wires every function to the collection, the table and the state machines; every function's role has
the policy its profile says, and the profiles are least-privilege where it matters (read-only functions cannot write,
only job submitters start executions, ...); Terraform packaging works with the same per-function policies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from chalicelib.store.dynamodb import TABLE_DEFINITION
from scripts import build_infra
from scripts.infra import api_gateway, cfn, functions, resource_names
from tests.packaging.conftest import REGION, ROOT, STAGE

CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
FUNCTIONS = CONFIG["stages"][STAGE]["lambda_functions"]
READ_ONLY = ["Retrieve", "ContextualRetrieval", "SemanticQuery", "ContextualAnswer", "ListIndices",
             "ListIndexDocuments", "ListDatasets", "GetFileMeta", "GetIndexJobStatus", "ListRetrieverHistory"]
CATALOG_WRITES = {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"}


def _template(package: Path) -> dict[str, Any]:
    return json.loads((package / "sam.json").read_text())


def _logical_id(name: str) -> str:
    return cfn.function_logical_id(name)


def _policy_file(name: str) -> dict[str, Any]:
    return json.loads((ROOT / ".chalice" / FUNCTIONS[name]["iam_policy_file"]).read_text())


def _actions(policy: dict[str, Any]) -> set[str]:
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def _cfn_lint(template: Path) -> None:
    """No errors and no warnings (none are ignored: the templates have none)."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    completed = subprocess.run([str(cfn_lint), "--format", "parseable", str(template)],
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode & 0b110 == 0, completed.stdout + completed.stderr  # 2: errors, 4: warnings


def test_committed_files_are_what_the_script_generates() -> None:
    outputs = build_infra.generate(CONFIG, build_infra.AppFunctions.load(), build_infra.read_asl())
    stale = [str(path) for path, text in outputs.items() if not path.exists() or path.read_text() != text]
    assert not stale, "run `python -m scripts.build_infra`"
    assert not build_infra.stale_policy_files(outputs)


def test_merged_sam_template_passes_cfn_lint(package: Path) -> None:
    _cfn_lint(package / "sam.json")


@pytest.fixture(scope="module")
def cloudformation(package: Path) -> dict[str, Any]:
    """The SAM transform of the merged template, as CloudFormation runs it after ``aws cloudformation package``
    has uploaded the code (hence the S3 CodeUri)."""
    template = _template(package)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://deployment-bucket/deployment.zip"
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=REGION))
    transformed: dict[str, Any] = translator.translate(
        template, parameter_values={"Stage": STAGE}, get_managed_policy_map=dict)
    return transformed


def test_sam_transform_of_the_merged_template_passes_cfn_lint(
    cloudformation: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "cloudformation.json"
    path.write_text(json.dumps(cloudformation))
    _cfn_lint(path)


def test_s3_events_of_the_documents_bucket_reach_on_object_event_and_failures_reach_the_queue(
    cloudformation: dict[str, Any]
) -> None:
    resources = cloudformation["Resources"]
    bucket = resources["DocumentsBucket"]["Properties"]
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    [rule] = [resource["Properties"] for resource in resources.values() if resource["Type"] == "AWS::Events::Rule"]
    assert rule["EventPattern"] == {"source": ["aws.s3"], "detail-type": ["Object Created", "Object Deleted"],
                                    "detail": {"bucket": {"name": [{"Ref": "DocumentsBucket"}]}}}
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["OnObjectEvent", "Arn"]}
    [invoke_config] = [resource["Properties"] for resource in resources.values()
                       if resource["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert invoke_config["FunctionName"] == {"Ref": "OnObjectEvent"}
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["ObjectEventsDeadLetters", "Arn"]}
    assert resources["ObjectEventsDeadLetters"]["Type"] == "AWS::SQS::Queue"


def test_every_function_finds_the_collection_the_table_and_the_state_machines(package: Path) -> None:
    resources = _template(package)["Resources"]
    for name in FUNCTIONS:
        variables = resources[_logical_id(name)]["Properties"]["Environment"]["Variables"]
        assert variables["SIFT_OPENSEARCH_URL"] == {"Fn::GetAtt": ["SearchCollection", "CollectionEndpoint"]}
        assert variables["SIFT_CATALOG_TABLE"] == {"Ref": "CatalogTable"}
        assert variables["SIFT_STAGE"] == STAGE  # Chalice's variables are kept: the merge adds, per variable
        if name != functions.TASKS_FUNCTION:  # it is what the machines invoke
            assert variables["SIFT_JOB_RUNNER"] == "stepfunctions"
            assert variables["SIFT_BATCH_INDEX_STATE_MACHINE"] == {"Ref": "BatchIndexStateMachine"}
            assert variables["SIFT_REINDEX_STATE_MACHINE"] == {"Ref": "ReindexStateMachine"}
    table = resources["CatalogTable"]["Properties"]
    assert {key: table[key] for key in TABLE_DEFINITION} == TABLE_DEFINITION
    assert resources["SearchCollection"]["Properties"]["Type"] == "VECTORSEARCH"


def test_state_machines_run_the_asl_files_with_the_indexing_tasks_function(package: Path) -> None:
    resources = _template(package)["Resources"]
    for logical_id, (filename, _) in resource_names.STATE_MACHINES.items():
        properties = resources[logical_id]["Properties"]
        assert json.loads(properties["DefinitionString"]) == json.loads((ROOT / "infra" / filename).read_text())
        assert properties["DefinitionSubstitutions"] == {"IndexingTasksArn": {"Fn::GetAtt": ["IndexingTasks", "Arn"]},
                                                         "JobResultsBucket": {"Ref": "JobResultsBucket"}}
    role = resources["StateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert _actions(role) == {"lambda:InvokeFunction", "s3:ListBucket", "s3:PutObject", "s3:GetObject",
                              "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload", "states:StartExecution",
                              "states:DescribeExecution", "states:StopExecution"}
    resources = {action: statement["Resource"] for statement in role["Statement"] for action in statement["Action"]}
    assert resources["s3:ListBucket"] == [{"Fn::GetAtt": ["DocumentsBucket", "Arn"]}]
    assert resources["s3:GetObject"] == resources["s3:PutObject"] == [{"Fn::Sub": "${JobResultsBucket.Arn}/*"}]
    [invoke] = [statement for statement in role["Statement"] if statement["Action"] == ["lambda:InvokeFunction"]]
    assert invoke["Resource"] == [{"Fn::GetAtt": ["IndexingTasks", "Arn"]}, {"Fn::Sub": "${IndexingTasks.Arn}:*"}]


def test_collection_data_access_names_every_function_role_once_with_its_level(package: Path) -> None:
    resources = _template(package)["Resources"]
    policy = resources["SearchDataAccessPolicy"]["Properties"]["Policy"]["Fn::Sub"]
    levels: dict[str, set[str]] = {}
    for rule_set in json.loads(policy):
        [index_rule] = [rule for rule in rule_set["Rules"] if rule["ResourceType"] == "index"]
        assert index_rule["Resource"] == ["index/sift-${Stage}/sift-${Stage}-*"]
        for principal in rule_set["Principal"]:
            role = principal.removeprefix("${").removesuffix(".Arn}")
            assert resources[role]["Type"] == "AWS::IAM::Role"
            assert role not in levels
            levels[role] = set(index_rule["Permission"])
    searching = {name for name, (access, _, _) in functions.FUNCTIONS.items() if access.search}
    searching |= {functions.API_HANDLER}
    assert set(levels) == {cfn.role_logical_id(name) for name in searching}
    for name in READ_ONLY:
        if name in searching:
            assert levels[cfn.role_logical_id(name)] == {"aoss:DescribeIndex", "aoss:ReadDocument"}
    assert "aoss:CreateIndex" in levels["CreateIndexRole"]
    assert "aoss:CreateIndex" not in levels["OnObjectEventRole"]


def test_every_function_has_its_own_role_with_the_policy_of_its_profile(package: Path) -> None:
    resources = _template(package)["Resources"]
    for name in FUNCTIONS:
        function = resources[_logical_id(name)]["Properties"]
        role = cfn.role_logical_id(name)
        assert function["Role"] == {"Fn::GetAtt": [role, "Arn"]}
        assert resources[role]["Properties"]["Policies"][0]["PolicyDocument"] == _policy_file(name)


def test_policies_are_least_privilege() -> None:
    actions = {name: _actions(_policy_file(name)) for name in FUNCTIONS}
    for name in READ_ONLY:
        assert not actions[name] & CATALOG_WRITES, name
        assert "s3:ListBucket" not in actions[name], name
    assert [name for name in FUNCTIONS if "dynamodb:PutItem" in actions[name] and name in READ_ONLY] == ["Retrieve"]
    assert {name for name in FUNCTIONS if "states:StartExecution" in actions[name]} == {
        "SubmitIndexJob", "SubmitIndexAddDocumentsJob", "SubmitReindexJob", "CreateBinding", "api_handler"}
    # Data-center files: ApplyFileUploadLease may only presign uploads (under uploads/), AddFile move them to files/,
    # DeleteFile delete files; the indexers read files/ only.
    def s3_grants(name: str) -> set[tuple[str, str]]:
        return {(action, resource.rsplit("-*", 1)[-1]) for statement in _policy_file(name)["Statement"]
                for action in statement["Action"] if action.startswith("s3:")
                for resource in statement["Resource"] if "datacenter" in resource}

    assert s3_grants("ApplyFileUploadLease") == {("s3:PutObject", "/uploads/*")}
    assert s3_grants("AddFile") == {("s3:GetObject", "/uploads/*"), ("s3:DeleteObject", "/uploads/*"),
                                    ("s3:PutObject", "/files/*"), ("s3:ListBucket", "")}
    assert s3_grants("DeleteFile") == {("s3:DeleteObject", "/files/*")}
    for indexer in ("SubmitIndexJob", "SubmitIndexAddDocumentsJob", "IndexingTasks"):
        assert s3_grants(indexer) == {("s3:GetObject", "/files/*"), ("s3:ListBucket", "")}
    assert s3_grants("OnObjectEvent") == s3_grants("DescribeFile") == set()
    assert actions["DescribeFile"] == actions["GetIndexJobStatus"]  # the catalog alone
    assert {name for name in FUNCTIONS if "sqs:SendMessage" in actions[name]} == {"OnObjectEvent"}
    assert {name for name in FUNCTIONS if "bedrock:Rerank" in actions[name]} == {
        "Retrieve", "ContextualRetrieval", "SemanticQuery", "ContextualAnswer", "api_handler"}
    every_function = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                      "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert actions["GetIndexJobStatus"] == every_function | {"dynamodb:GetItem", "dynamodb:Query"}
    assert actions["CreateProject"] == every_function | {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem",
                                                         "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    routes = build_infra.AppFunctions.load().routes
    assert set[str]().union(*(actions[name] for name in routes)) == actions["api_handler"]
    unscoped = [["bedrock:Rerank"], ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]]  # no resource-level
    for policy in map(_policy_file, FUNCTIONS):
        for statement in policy["Statement"]:
            assert statement["Resource"] != ["*"] or statement["Action"] in unscoped


def test_terraform_package_gives_every_function_its_own_role_and_policy(terraform_package: Path) -> None:
    resources = json.loads((terraform_package / "chalice.tf.json").read_text())["resource"]
    policies = resources["aws_iam_role_policy"]
    for name in FUNCTIONS:
        assert json.loads(policies[f"{name}_role"]["policy"]) == _policy_file(name)


def test_api_gateway_answers_in_the_envelope_and_the_api_has_no_local_catch_alls(package: Path) -> None:
    # Issue 12 #12 on AWS: what API Gateway answers itself (no route, no signature, throttling) comes in the Bailian
    # envelope; the local stage's catch-all routes are not deployed (API Gateway forbids sibling path variables).
    template = _template(package)
    api = template["Resources"]["RestAPI"]
    assert api["Type"] == "AWS::Serverless::Api"
    responses = api["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    assert set(responses) == set(api_gateway.GATEWAY_RESPONSES)
    for kind, properties in responses.items():
        status, code = api_gateway.GATEWAY_RESPONSES[kind]
        assert properties["statusCode"] == status
        rendered = properties["responseTemplates"]["application/json"].replace(
            "$context.error.messageString", '"Missing Authentication Token"').replace("$context.requestId", "id-1")
        assert json.loads(rendered) == {"Code": code, "Message": "Missing Authentication Token", "RequestId": "id-1",
                                        "Status": status, "Success": False}
    paths = api["Properties"]["DefinitionBody"]["paths"]
    assert not [path for path in paths if "{z0}" in path]
    assert "options" in paths["/{WorkspaceId}/index/retrieve"]  # the 405 in the envelope, from the function
