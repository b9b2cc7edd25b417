"""``infra/resources.json``, what ``chalice package --merge-template`` merges into Chalice's SAM template.

The stage's resources (buckets, catalog table, search collection and its policies, access-key KMS key, dead-letter
queue, state machines) and the patches to Chalice's own: the functions' environment, the object-event rule's bucket
and failed-invocation destination, and the API's gateway responses. One template for all AWS stages: the stage is its
``Stage`` parameter.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final

from chalice.package import to_cfn_resource_name

from chalicelib.core.data_center import UPLOADS_PREFIX
from chalicelib.store.dynamodb import TABLE_DEFINITION, TIME_TO_LIVE
from scripts.infra.api_gateway import gateway_responses
from scripts.infra.cfn import Json, function_logical_id, get_att, ref, retained, role_logical_id, sub
from scripts.infra.functions import OBJECT_EVENTS_FUNCTION, SEARCH_PERMISSIONS, TASKS_FUNCTION, Access
from scripts.infra.resource_names import (
    ACCESS_KEYS_CONDITION,
    ACCESS_KEYS_SUFFIX,
    BUCKET_SUFFIX,
    DATA_CENTER_SUFFIX,
    DEAD_LETTER_SUFFIX,
    RESULTS_BUCKET_SUFFIX,
    TABLE_SUFFIX,
)
from scripts.infra.state_machines import state_machine_resources

# Standby replicas double an OpenSearch Serverless collection's minimum capacity: worth it in production only.
STANDBY_REPLICAS: Final[Mapping[str, str]] = {"dev": "DISABLED", "prod": "ENABLED"}


def bucket(app_name: str, suffix: str, **properties: Any) -> Json:
    """A private, encrypted bucket ``<app>-<stage>-<suffix>-<account>-<region>``."""
    return {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            "BucketName": sub(f"{app_name}-${{Stage}}-{suffix}-${{AWS::AccountId}}-${{AWS::Region}}"),
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            **properties,
        },
    }


def catalog_table(app_name: str) -> Json:
    return retained(
        {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": sub(f"{app_name}-${{Stage}}-{TABLE_SUFFIX}"),
                **copy.deepcopy(TABLE_DEFINITION),  # the CreateTable parameters are the CloudFormation properties
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "TimeToLiveSpecification": copy.deepcopy(TIME_TO_LIVE),  # upload leases no AddFile took
            },
        }
    )


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
            data_rules.append(
                {
                    "Rules": [
                        {**collection_rule, "Permission": list(collection_permissions)},
                        {
                            "ResourceType": "index",
                            "Resource": [f"index/{collection}/{collection}-*"],
                            "Permission": list(index_permissions),
                        },
                    ],
                    "Principal": principals,
                }
            )

    def policy(resource_type: str, policy_type: str, document: Any) -> Json:
        return {
            "Type": f"AWS::OpenSearchServerless::{resource_type}",
            "Properties": {
                "Name": sub(f"{collection}-{policy_type}"),
                "Type": policy_type,
                "Policy": sub(json.dumps(document, separators=(",", ":"))),
            },
        }

    return {
        "SearchEncryptionPolicy": policy("SecurityPolicy", "encryption", encryption),
        "SearchNetworkPolicy": policy("SecurityPolicy", "network", network),
        "SearchDataAccessPolicy": policy("AccessPolicy", "data", data_rules),
        "SearchCollection": {
            "Type": "AWS::OpenSearchServerless::Collection",
            "DependsOn": ["SearchEncryptionPolicy", "SearchNetworkPolicy"],
            "Properties": {
                "Name": sub(collection),
                "Type": "VECTORSEARCH",
                "StandbyReplicas": {"Fn::FindInMap": ["StageSettings", ref("Stage"), "StandbyReplicas"]},
                "Description": sub(f"{app_name} ${{Stage}}: chunks and document records"),
            },
        },
    }


def function_patches(access: Mapping[str, Access], cloudwatch_events: Mapping[str, Json]) -> Json:
    """What the template changes in Chalice's functions: environment (merged per variable), and for the S3 event
    handler the bucket of its rule and where failed asynchronous invocations go."""
    patches: Json = {}
    for name in access:
        variables: Json = {
            "SIFT_OPENSEARCH_URL": get_att("SearchCollection", "CollectionEndpoint"),
            "SIFT_CATALOG_TABLE": ref("CatalogTable"),
            "SIFT_DATA_CENTER_BUCKET": ref("DataCenterBucket"),
            "SIFT_KMS_KEY_ID": {"Fn::If": [ACCESS_KEYS_CONDITION, ref("AccessKeysKey"), ""]},
        }
        if name != TASKS_FUNCTION:  # the machines' definitions name IndexingTasks: a reference back would be a cycle
            variables |= {
                "SIFT_JOB_RUNNER": "stepfunctions",
                "SIFT_BATCH_INDEX_STATE_MACHINE": ref("BatchIndexStateMachine"),
                "SIFT_REINDEX_STATE_MACHINE": ref("ReindexStateMachine"),
            }
        patches[function_logical_id(name)] = {"Properties": {"Environment": {"Variables": variables}}}
    for name, pattern in cloudwatch_events.items():
        properties = patches[function_logical_id(name)]["Properties"]
        if pattern.get("source") == ["aws.s3"]:
            event_id = to_cfn_resource_name(f"{name}-event")  # Chalice's logical id of the function's rule
            detail = {"bucket": {"name": [ref("DocumentsBucket")]}}
            properties["Events"] = {event_id: {"Properties": {"Pattern": {"detail": detail}}}}
    patches[function_logical_id(OBJECT_EVENTS_FUNCTION)]["Properties"]["EventInvokeConfig"] = {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 6 * 3600,
        "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": get_att("ObjectEventsDeadLetters", "Arn")}},
    }
    return patches


def access_keys_resources(app_name: str) -> Json:
    """The KMS key that seals access-key secrets, on the stages that verify access keys (``VerifiesAccessKeys``).
    Retained: without it no stored secret opens. The account administers it; the functions may only decrypt (their
    policies name it by its alias)."""
    return {
        "AccessKeysKey": retained(
            {
                "Type": "AWS::KMS::Key",
                "Condition": ACCESS_KEYS_CONDITION,
                "Properties": {
                    "Description": sub(f"{app_name} ${{Stage}}: seals access-key secrets"),
                    "EnableKeyRotation": True,
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "AccountAdministers",
                                "Effect": "Allow",
                                "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                                "Action": "kms:*",
                                "Resource": "*",
                            }
                        ],
                    },
                },
            }
        ),
        "AccessKeysKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Condition": ACCESS_KEYS_CONDITION,
            "Properties": {
                "AliasName": sub(f"alias/{app_name}-${{Stage}}-{ACCESS_KEYS_SUFFIX}"),
                "TargetKeyId": ref("AccessKeysKey"),
            },
        },
    }


def template(
    app_name: str,
    stages: list[str],
    access: Mapping[str, Access],
    asl: Mapping[str, str],
    cloudwatch_events: Mapping[str, Json],
    access_key_stages: frozenset[str] = frozenset(),
) -> Json:
    """``infra/resources.json``."""
    resources: Json = {
        **access_keys_resources(app_name),
        "DocumentsBucket": retained(
            bucket(
                app_name,
                BUCKET_SUFFIX,
                NotificationConfiguration={"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
            )
        ),
        # Read once by FinishJob / CommitReindex; kept a week for a look after a failure. Not the documents bucket:
        # an export there would be an object event, and could be indexed.
        "JobResultsBucket": bucket(
            app_name,
            RESULTS_BUCKET_SUFFIX,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "Id": "ExpireJobResults",
                        "Status": "Enabled",
                        "ExpirationInDays": 7,
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    }
                ]
            },
        ),
        # Data-center files (ApplyFileUploadLease → presigned PUT → AddFile): the only copy, so retained. No events:
        # files are indexed when an index job names them, never because they arrived.
        "DataCenterBucket": retained(
            bucket(
                app_name,
                DATA_CENTER_SUFFIX,
                LifecycleConfiguration={
                    "Rules": [
                        {
                            "Id": "AbortIncompleteUploads",
                            "Status": "Enabled",
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        },
                        # AddFile copies the uploads it keeps to files/ (chalicelib/core/data_center.py): what stays expires.
                        {
                            "Id": "ExpireAbandonedUploads",
                            "Status": "Enabled",
                            "ExpirationInDays": 1,
                            "Prefix": UPLOADS_PREFIX,
                        },
                    ]
                },
            )
        ),
        "CatalogTable": catalog_table(app_name),
        **search_resources(app_name, access),
        **state_machine_resources(app_name, asl),
        "ObjectEventsDeadLetters": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub(f"{app_name}-${{Stage}}-{DEAD_LETTER_SUFFIX}"),
                "MessageRetentionPeriod": 14 * 24 * 3600,
                "SqsManagedSseEnabled": True,
            },
        },
        **function_patches(access, cloudwatch_events),
        **gateway_responses(),
    }
    outputs = {
        "DocumentsBucketName": ref("DocumentsBucket"),
        "JobResultsBucketName": ref("JobResultsBucket"),
        "DataCenterBucketName": ref("DataCenterBucket"),
        "CatalogTableName": ref("CatalogTable"),
        "SearchCollectionEndpoint": get_att("SearchCollection", "CollectionEndpoint"),
        "BatchIndexStateMachineArn": ref("BatchIndexStateMachine"),
        "ReindexStateMachineArn": ref("ReindexStateMachine"),
        "ObjectEventsDeadLetterQueueUrl": ref("ObjectEventsDeadLetters"),
    }
    conditional_outputs = {"AccessKeysKmsKeyId": (ref("AccessKeysKey"), ACCESS_KEYS_CONDITION)}
    return {
        "Description": f"{app_name}: Chalice's functions and API plus infra/resources.json (scripts/build_infra.py)",
        "Parameters": {
            "Stage": {
                "Type": "String",
                "AllowedValues": stages,
                "Description": "The Chalice stage this template was packaged for",
            }
        },
        "Mappings": {
            "StageSettings": {
                stage: {
                    "StandbyReplicas": STANDBY_REPLICAS.get(stage, "ENABLED"),
                    "AccessKeys": "true" if stage in access_key_stages else "false",
                }
                for stage in stages
            }
        },
        "Conditions": {
            ACCESS_KEYS_CONDITION: {
                "Fn::Equals": [{"Fn::FindInMap": ["StageSettings", ref("Stage"), "AccessKeys"]}, "true"]
            }
        },
        "Resources": resources,
        "Outputs": {
            **{name: {"Value": value} for name, value in outputs.items()},
            **{
                name: {"Value": value, "Condition": condition}
                for name, (value, condition) in conditional_outputs.items()
            },
        },
    }
