"""The Step Functions part of the merged template: the state machines, their definitions (``infra/*.asl.json``) with
their ``${...}`` placeholders substituted, and the one role they run under."""

from __future__ import annotations

import re
from collections.abc import Mapping

from scripts.infra.cfn import Json, function_logical_id, get_att, ref, sub
from scripts.infra.functions import TASKS_FUNCTION
from scripts.infra.policies import statement
from scripts.infra.resource_names import STATE_MACHINES


def state_machine_resources(app_name: str, asl: Mapping[str, str]) -> Json:
    """The state machines (definitions from ``infra/*.asl.json``) and their one role: invoke ``IndexingTasks``, list
    the documents bucket (Distributed Map's ItemReader), export the maps' results (ResultWriter) and run their own
    child executions (whose ARNs are ``execution:<machine>/<map run>:<id>``)."""
    substitutions = {
        "IndexingTasksArn": get_att(function_logical_id(TASKS_FUNCTION), "Arn"),
        "JobResultsBucket": ref("JobResultsBucket"),
    }
    machine_arn = (
        f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{app_name}-${{Stage}}"
    )
    execution_arn = machine_arn.replace(":stateMachine:", ":execution:")
    suffixes = [suffix for _, suffix in STATE_MACHINES.values()]
    tasks = function_logical_id(TASKS_FUNCTION)
    resources: Json = {
        "StateMachineRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "states.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "StateMachines",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                statement(
                                    "InvokeIndexingTasks",
                                    ["lambda:InvokeFunction"],
                                    [get_att(tasks, "Arn"), sub(f"${{{tasks}.Arn}}:*")],
                                ),
                                statement("ListDocuments", ["s3:ListBucket"], [get_att("DocumentsBucket", "Arn")]),
                                statement(
                                    "ExportResults",
                                    [
                                        "s3:PutObject",
                                        "s3:GetObject",
                                        "s3:ListMultipartUploadParts",
                                        "s3:AbortMultipartUpload",
                                    ],
                                    [sub("${JobResultsBucket.Arn}/*")],
                                ),
                                statement(
                                    "StartChildExecutions",
                                    ["states:StartExecution"],
                                    [sub(f"{machine_arn}-{suffix}") for suffix in suffixes],
                                ),
                                statement(
                                    "ManageChildExecutions",
                                    ["states:DescribeExecution", "states:StopExecution"],
                                    [
                                        sub(f"{execution_arn}-{suffix}{tail}")
                                        for suffix in suffixes
                                        for tail in ("/*", ":*")
                                    ],
                                ),
                            ],
                        },
                    }
                ],
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
            "StateMachineName": sub(f"{app_name}-${{Stage}}-{suffix}"),
            "StateMachineType": "STANDARD",  # Distributed Map runs in standard workflows only
            "RoleArn": get_att("StateMachineRole", "Arn"),
            "DefinitionString": definition,
        }
        if used:
            properties["DefinitionSubstitutions"] = {name: substitutions[name] for name in used}
        resources[logical_id] = {"Type": "AWS::StepFunctions::StateMachine", "Properties": properties}
    return resources
