"""CloudFormation building blocks of the merged template: intrinsic functions, retention, and the logical ids Chalice
gives a function and its role (a resource of ours under one of those ids patches Chalice's)."""

from __future__ import annotations

from typing import Any

from chalice.package import to_cfn_resource_name

from scripts.infra.functions import API_HANDLER

Json = dict[str, Any]


def sub(text: str) -> Json:
    return {"Fn::Sub": text}


def get_att(logical_id: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [logical_id, attribute]}


def ref(logical_id: str) -> Json:
    return {"Ref": logical_id}


def retained(resource: Json) -> Json:
    """Data that cannot be rebuilt survives the stack (and a replacement of the resource)."""
    return {**resource, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def function_logical_id(name: str) -> str:
    return "APIHandler" if name == API_HANDLER else to_cfn_resource_name(name)


def role_logical_id(name: str) -> str:
    """The logical id of the role Chalice generates for a function with its own policy file (``<name>_role``)."""
    return to_cfn_resource_name(f"{name}_role")
