"""Sift's Chalice app: HTTP routes, one Lambda per documented operation, and the S3 event handler.

Thin on purpose: every route and Lambda is generated from ``chalicelib.api.operations.OPERATIONS`` and ends in the
same ``invoke``. Importing this module loads neither numpy, tantivy nor any model: the service is built on first use.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

from chalice import Chalice, IAMAuthorizer, Response

from chalicelib.api.operations import OPERATIONS, Operation, invoke, invoke_rpc, receive_upload, refuse_route
from chalicelib.api.operations import Response as Response_
from chalicelib.composition import service
from chalicelib.core.access_keys import SignedRequest
from chalicelib.core.acs3 import encode_path_parameter
from chalicelib.core.events import ObjectEvent, parse_eventbridge_s3

app = Chalice(app_name="sift")
# Debug output (tracebacks in responses) only ever on the local stage, and only when asked for.
app.debug = os.environ.get("SIFT_STAGE", "local") == "local" and os.environ.get("SIFT_DEBUG") == "true"

# Deployed routes require SigV4-signed requests (AWS_IAM) unless the stage verifies access keys (below): callers need
# execute-api:Invoke on them. `chalice local` cannot check IAM and lets requests through with a warning per request,
# which is silenced here: the local stage authenticates with SIFT_AUTH (none by default, said once at start-up).
IAM = IAMAuthorizer()
warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")
# With SIFT_AUTH=accesskey (set when packaging such a stage: `make package` reads it from the stage's config) the
# routes carry no IAM authorizer and the functions verify the SDKs' signatures themselves: API Gateway gives a Lambda
# authorizer no body, and the signature covers the body's hash. Any other value keeps the IAM authorizer, so a stage
# packaged without saying so is never open; a function whose stage expects IAM refuses requests without an IAM
# identity (chalicelib.core.access_keys.Gate).
AUTHORIZER = None if os.environ.get("SIFT_AUTH") == "accesskey" else IAM
if os.environ.get("SIFT_STAGE", "local") == "local" and os.environ.get("SIFT_AUTH", "none") == "none":
    print("WARNING: SIFT_AUTH=none: the local stage answers every request without authentication "
          "(SIFT_AUTH=accesskey checks the SDKs' signatures; keys: python -m scripts.keys)", file=sys.stderr)

# Chalice answers 415, outside the envelope, for a content type a route does not list; so any type reaches the
# operation: a form body is read as a form, every other body as JSON, and one that is not JSON is a 400 that says so.
# An upload's body is the file.
_CONTENT_TYPES = ["*/*"]
# The methods a path answers that it has no operation for (405 in the envelope). HEAD is left to the gateway: chalice
# local cannot answer it at all.
_REFUSED_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
# On the local stage, unknown paths of up to this many segments answer 404 in the envelope (catch-all routes; on AWS
# API Gateway answers them, see README "Errors outside an operation").
_LOCAL_CATCH_ALL_DEPTH = 8


def _http_call() -> dict[str, Any]:
    """What ``invoke`` needs of the current HTTP request: the query string (every value of a repeated name), the raw
    body, its content type, the API version the client named, the host it called, the gateway's request id, and
    what authentication reads (the signed request; the IAM identity API Gateway authenticated, if any)."""
    request = app.current_request
    assert request is not None, "Chalice sets current_request before calling a view"
    query = request.query_params
    headers = request.headers
    query_lists = {name: query.getlist(name) for name in query} if query else {}
    body = _raw_body(request)
    identity = (request.context or {}).get("identity") or {}
    return {
        "query_params": query_lists,
        "signed": SignedRequest(
            method=request.method, paths=_signed_paths(request.path, request.uri_params or {}), query=query_lists,
            headers={name.lower(): value for name, value in headers.items()}, body=body or b"",
        ),
        "iam_identity": str(identity.get("userArn") or identity.get("caller") or ""),
        "body": body if body else None,
        "content_type": headers.get("content-type", ""),
        "version": headers.get("x-acs-version", ""),
        "host": headers.get("host", ""),
        "endpoint": f"{headers.get('x-forwarded-proto', 'http')}://{headers.get('host', 'localhost')}",
        "request_id": (request.context or {}).get("requestId"),
        "lambda_context": app.lambda_context,
    }


def _raw_body(request: Any) -> bytes:
    """The body as sent (Chalice hands a text body over as ``str``)."""
    raw = request.raw_body
    return raw.encode() if isinstance(raw, str) else (raw or b"")


def _signed_paths(template: str, parameters: dict[str, str]) -> tuple[str, ...]:
    """The path the SDK signed: the route with its parameters encoded as the SDKs encode them; some SDK paths end in
    ``/``, which the gateway drops before routing, so both forms are candidates."""
    path = template
    for name, value in parameters.items():
        path = path.replace(f"{{{name}}}", encode_path_parameter(value))
    return (path,) if path == "/" else (path, f"{path}/")


def _respond(result: Response_) -> Response:
    return Response(body=json.dumps(result.body, ensure_ascii=False), status_code=result.status,
                    headers={"Content-Type": "application/json; charset=utf-8"})


def _http_view(operation: Operation) -> Any:
    def view(**path_params: str) -> Response:
        return _respond(invoke(service, operation, path_params=path_params, **_http_call()))

    view.__name__ = f"http_{operation.name}"
    return view


def _lambda_handler(operation: Operation) -> Any:
    def handler(event: Any, context: Any) -> dict[str, Any]:
        """Direct invocation: the event is the request body with the path parameters beside it."""
        body, path_params = event, {}
        if isinstance(event, dict):
            body = {key: value for key, value in event.items() if key != "WorkspaceId"}
            path_params = {"WorkspaceId": event.get("WorkspaceId", "")}
        result = invoke(service, operation, path_params=path_params, body=body,
                        request_id=getattr(context, "aws_request_id", None), lambda_context=context)
        return result.body

    handler.__name__ = operation.name
    return handler


for _operation in OPERATIONS:
    app.route(_operation.path, methods=[_operation.method], content_types=_CONTENT_TYPES, authorizer=AUTHORIZER)(
        _http_view(_operation)
    )
    app.lambda_function(name=_operation.name)(_lambda_handler(_operation))


@app.route("/", methods=["GET", "POST"], content_types=_CONTENT_TYPES, authorizer=AUTHORIZER)
def rpc() -> Response:
    """The IMM family's RPC endpoint, as its official SDKs call it: ``POST /`` with the operation in ``x-acs-action``
    (older signers: ``Action`` and ``Version`` in the query string)."""
    call = _http_call()
    query: dict[str, list[str]] = call["query_params"]
    request = app.current_request
    assert request is not None
    named = request.headers.get("x-acs-action", "")
    queried = (query.get("Action") or [""])[-1]
    if named and queried and named != queried:  # one request, two operations: neither is taken
        return _respond(invoke_rpc(service, action=f"{named} or {queried}", **call))
    action = named or queried
    call["version"] = call["version"] or (query.get("Version") or [""])[-1]
    return _respond(invoke_rpc(service, action=action, **call))


@app.route("/sift-uploads/{WorkspaceId}/{LeaseId}", methods=["PUT"], content_types=_CONTENT_TYPES,
           authorizer=AUTHORIZER)
def upload(WorkspaceId: str, LeaseId: str) -> Response:
    """Where the local stage's upload leases point (ApplyFileUploadLease): the body is the file. On AWS the leases
    are presigned S3 URLs and this route answers that it takes no uploads."""
    request = app.current_request
    assert request is not None
    return _respond(receive_upload(service, workspace_id=WorkspaceId, lease_id=LeaseId, body=_raw_body(request) or None,
                                   request_id=(request.context or {}).get("requestId")))


@app.route("/playground", methods=["GET"], content_types=_CONTENT_TYPES, authorizer=AUTHORIZER)
def playground_page() -> Response:
    """The retrieval playground, a static page calling this API (chalicelib/playground): on by default on the local
    stage only (SIFT_PLAYGROUND); off, it answers as an unknown path does."""
    return _playground("index.html", "/playground")


@app.route("/playground/{Asset}", methods=["GET"], content_types=_CONTENT_TYPES, authorizer=AUTHORIZER)
def playground_asset(Asset: str) -> Response:
    """The playground's stylesheet and script (only its own files; any other name is a 404)."""
    return _playground(Asset, f"/playground/{Asset}")


def _playground(name: str, path: str) -> Response:
    from chalicelib import playground

    found = playground.asset(name) if playground.enabled() else None
    if found is None:
        return _refused(path)
    body, content_type = found
    return Response(body=body, status_code=200, headers={"Content-Type": content_type, **playground.HEADERS})


@app.route("/openapi.json", methods=["GET"], content_types=_CONTENT_TYPES, authorizer=AUTHORIZER)
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of this API (chalicelib/api/openapi.py, also docs/openapi.json): on by default on the
    local stage only (SIFT_OPENAPI); off, it answers as an unknown path does."""
    from chalicelib.api import openapi

    if not openapi.enabled():
        return _refused("/openapi.json")
    return Response(body=openapi.document_json(), status_code=200,
                    headers={"Content-Type": "application/json; charset=utf-8"})


def _refused(path: str, allowed: tuple[str, ...] = ()) -> Response:
    """The current request refused in the envelope (``refuse_route``): 405 when ``allowed`` names the path's methods,
    404 as for an unknown path when it is empty."""
    request = app.current_request
    assert request is not None
    return _respond(refuse_route(method=request.method, path=path, allowed=allowed,
                                 request_id=(request.context or {}).get("requestId"),
                                 host=request.headers.get("host", "")))


def _refusal(name: str, allowed: tuple[str, ...]) -> Any:
    """A view for the requests no operation takes (see ``refuse_route``): 405 with ``Allow``, or 404."""
    def view(**_path_params: str) -> Response:
        request = app.current_request
        assert request is not None
        path = request.path
        if not allowed:  # a catch-all route: the path as sent says more to the caller than the route's template
            for parameter, value in (request.uri_params or {}).items():
                path = path.replace(f"{{{parameter}}}", value)
        response = _refused(path, allowed)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    view.__name__ = name
    return view


for _number, (_path, _entries) in enumerate(list(app.routes.items())):
    _others = [method for method in _REFUSED_METHODS if method not in _entries]
    if _others:
        app.route(_path, methods=_others, content_types=_CONTENT_TYPES, authorizer=AUTHORIZER)(
            _refusal(f"refuse_method_{_number}", tuple(sorted(_entries)))
        )
if os.environ.get("SIFT_STAGE", "local") == "local":
    # chalice local matches paths segment by segment and tries routes in sorted order, so these ({z…} sorts after
    # every real segment) take only what no operation does. Not on AWS: API Gateway forbids the sibling variables.
    for _depth in range(1, _LOCAL_CATCH_ALL_DEPTH + 1):
        app.route("/" + "/".join(f"{{z{level}}}" for level in range(_depth)), methods=list(_REFUSED_METHODS),
                  content_types=_CONTENT_TYPES, authorizer=AUTHORIZER)(_refusal(f"unknown_route_{_depth}", ()))


@app.on_cw_event(
    {"source": ["aws.s3"], "detail-type": ["Object Created", "Object Deleted"]}, name="OnObjectEvent"
)
def on_object_event(event: Any) -> dict[str, Any]:
    """S3 → EventBridge → index or remove the object in every knowledge base (SourceURI) and dataset (binding) that
    holds it."""
    from chalicelib import observability

    context = getattr(event, "context", None)
    request_id = str(getattr(context, "aws_request_id", "") or "event")
    with observability.request_scope("OnObjectEvent", family="event", request_id=request_id, lambda_context=context):
        object_event: ObjectEvent = parse_eventbridge_s3(event.to_dict())
        if object_event.created:
            result = service().on_object_created(object_event.uri)
            observability.record_document_outcomes(result["indexed"])
            return result
        return service().on_object_removed(object_event.uri)


@app.lambda_function(name="IndexingTasks")
def indexing_tasks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda task of infra/batch_index.asl.json and infra/reindex.asl.json: ``event["Task"]`` names the step."""
    from chalicelib.composition import run_task

    return run_task(event)
