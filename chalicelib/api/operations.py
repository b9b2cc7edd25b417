"""The operation registry: every operation once — name, route, request model, handler.

``app.py`` generates the HTTP routes and the per-operation Lambdas from ``OPERATIONS``; both paths end in
``invoke``, which parses, calls the service and wraps the answer in the family's envelope. Nothing here imports
Chalice: the adapter hands over plain values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import observability
from chalicelib.api import bailian, responses
from chalicelib.api.calls import Access, Call, LambdaSize, Operation
from chalicelib.api.common import RequestModel, parse_request
from chalicelib.api.data_center import DATA_CENTER_OPERATIONS, LEASE_ID_PATTERN
from chalicelib.api.envelopes import INTERNAL_MESSAGE, Family, failure, success
from chalicelib.api.extensions import explanation_view, fusion_override
from chalicelib.api.imm_operations import IMM_OPERATIONS
from chalicelib.api.responses import Shape
from chalicelib.api.wire import RPC_PROTOCOL_PARAMETERS, WireSpec, request_parameters, with_path_parameters
from chalicelib.core.access_keys import EVERYTHING, SignedRequest, TenantKind
from chalicelib.core.clock import new_request_id
from chalicelib.core.data_center import parse_file_uri
from chalicelib.core.errors import (
    InternalError,
    InvalidParameterError,
    InvalidVersionError,
    MethodNotAllowedError,
    ServiceError,
    UnknownActionError,
    UnknownRouteError,
)
from chalicelib.core.ports.catalog import Job, KnowledgeBase
from chalicelib.core.ports.models import ChatMessage, RerankMode
from chalicelib.core.ports.search import DocumentRecord
from chalicelib.core.retrieval import RerankOptions, RetrievalQuery, RetrievedChunk
from chalicelib.core.text_values import finite

if TYPE_CHECKING:  # annotations only: importing app does not load the services
    from chalicelib.core.index_jobs import IndexJobs
    from chalicelib.core.knowledge_base import KnowledgeBaseService
    from chalicelib.core.reindex import Reindexer
    from chalicelib.core.services import Services


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: dict[str, Any]


def invoke(
    service: Callable[[], Services],
    operation: Operation,
    *,
    path_params: Mapping[str, object],
    query_params: Mapping[str, str | Sequence[str]] | None = None,
    body: bytes | object = None,
    content_type: str = "",
    request_id: str | None = None,
    lambda_context: object | None = None,
    host: str = "",
    version: str = "",
    endpoint: str = "",
    signed: SignedRequest | None = None,
    iam_identity: str = "",
) -> Response:
    """Run ``operation``; every outcome, including an unexpected one, is an enveloped response with a status.

    An HTTP request hands over its query string, raw body (``bytes`` or ``None``) and content type: the parameters
    are gathered from all three (``chalicelib.api.wire``), so the official SDKs' query-string and form encodings and
    Sift's JSON bodies all work. A direct Lambda invocation hands over its event (a mapping) as ``body``: typed JSON.

    Each call is observed (``chalicelib.observability``): one JSON log line with the RequestId, the request's metrics
    and a trace subsegment. ``lambda_context`` (the Lambda's, when there is one) adds the Lambda request id to the log.
    ``version`` is the API version the client named (``x-acs-version``), if it named one; ``host`` the endpoint it
    called (IMM errors carry it as ``HostId``), ``endpoint`` its URL (``http://host:port``). ``signed`` is what
    authentication reads of an HTTP request (None for a direct Lambda invocation), ``iam_identity`` the caller API
    Gateway authenticated with SigV4, if it did: the request is admitted under ``SIFT_AUTH`` before its parameters are
    read, and its tenant and level are authorized once they are.
    """
    def run() -> Any:
        # A direct Lambda invocation (no HTTP request) was authorized by IAM's lambda:InvokeFunction already.
        grant = EVERYTHING if signed is None else service().access.admit(signed, iam_identity=iam_identity)
        if version and version != operation.family.api_version:
            raise InvalidVersionError(version, operation.family.api_version)
        drop = RPC_PROTOCOL_PARAMETERS if operation.family is Family.IMM else ()
        parameters = request_parameters(operation.request_model, query_params, body, content_type,
                                        comma_lists=operation.wire.comma_lists, drop=drop)
        payload = with_path_parameters(parameters, path_params)
        workspace_id = _workspace(path_params.get("WorkspaceId", "")) if operation.family is Family.BAILIAN else ""
        request = parse_request(operation.request_model, payload)
        if operation.family is Family.BAILIAN:
            grant.authorize(TenantKind.WORKSPACE, workspace_id, write=operation.writes)
        else:
            grant.authorize(TenantKind.PROJECT, str(getattr(request, "project_name", "")), write=operation.writes)
        query = getattr(request, "query", None)
        if isinstance(query, str):  # its size, never its text: queries are the caller's content
            observability.annotate(query_chars=len(query))
        component = getattr(service(), operation.component)
        data = operation.handler(component, Call(workspace_id, request, request_id_, payload, endpoint))
        if responses.checking():
            responses.check(operation.name, operation.response_model, data)
        return data

    request_id_ = request_id or new_request_id()
    return _observed(operation.name, operation.family, run, request_id=request_id_, lambda_context=lambda_context,
                     host=host)


def receive_upload(
    service: Callable[[], Services], *, workspace_id: str, lease_id: str, body: bytes | None,
    request_id: str | None = None,
) -> Response:
    """The local stage's upload route (``PUT /sift-uploads/{WorkspaceId}/{LeaseId}``, the URL ApplyFileUploadLease
    hands out there): the body is the file. Answers in the knowledge-base family's envelope."""

    def run() -> Any:
        if not re.fullmatch(LEASE_ID_PATTERN, lease_id):
            raise InvalidParameterError("LeaseId", "is not an upload lease id (lease_ and 32 hex digits)")
        lease = service().data_center.receive_upload(_workspace(workspace_id), lease_id, body or b"")
        return {"FileUploadLeaseId": lease.lease_id, "SizeInBytes": lease.size}

    return _observed("UploadFile", Family.BAILIAN, run, request_id=request_id or new_request_id())


def _observed(
    name: str, family: Family, run: Callable[[], Any], *, request_id: str, lambda_context: object | None = None,
    host: str = "",
) -> Response:
    """Run ``run`` inside the request's telemetry; every outcome, an unexpected one too, is an enveloped response."""
    with observability.request_scope(
        name, family=family.value, request_id=request_id, lambda_context=lambda_context
    ) as telemetry:
        try:
            response = Response(200, finite(success(family, run(), request_id)))  # never a bare NaN
            telemetry.finish(response.status)
        except ServiceError as error:
            response = Response(error.kind.status, failure(family, error, request_id, host=host))
            telemetry.finish(response.status, response.body["Code"], error_field=getattr(error, "field", None))
        except Exception as exc:  # noqa: BLE001 - the last line of defence: logged with the RequestId, never leaked
            internal = InternalError(INTERNAL_MESSAGE)
            response = Response(500, failure(family, internal, request_id, host=host))
            telemetry.finish(response.status, response.body["Code"], exception=exc)
    return response


def invoke_rpc(service: Callable[[], Services], *, action: str, **call: Any) -> Response:
    """The IMM family's RPC endpoint (``/``): the operation is named by ``x-acs-action`` (or the older ``Action`` query
    parameter); an unknown or missing one answers ``InvalidAction.NotFound``. ``call`` is ``invoke``'s keywords."""
    operation = RPC_OPERATIONS.get(action)
    if operation is None:
        request_id = call.get("request_id") or new_request_id()
        return Response(404, failure(Family.IMM, UnknownActionError(action), request_id, host=call.get("host", "")))
    return invoke(service, operation, path_params={}, **call)


def refuse_route(
    *, method: str, path: str, allowed: Sequence[str], request_id: str | None, host: str = ""
) -> Response:
    """The answer to a request no operation takes, in the envelope of the family the path belongs to (IMM at ``/``,
    Bailian elsewhere): 405 ``UnsupportedHTTPMethod`` where the path has operations for other methods, else 404
    ``InvalidAction.NotFound``, as for an unknown RPC action."""
    family = Family.IMM if path == "/" else Family.BAILIAN
    error: ServiceError = MethodNotAllowedError(method, path, allowed) if allowed else UnknownRouteError(method, path)
    return Response(error.kind.status, failure(family, error, request_id or new_request_id(), host=host))


def _workspace(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(bailian.ID_PATTERN, value):
        raise InvalidParameterError("WorkspaceId", "must be a string of 1-64 letters, digits, '_' or '-'")
    return value


# --- handlers -------------------------------------------------------------------------------------------------------


def _retrieve(service: KnowledgeBaseService, call: Call) -> dict[str, Any]:
    request: bailian.RetrieveRequest = call.request
    config = request.rerank_config
    rerank = (
        RerankOptions(
            model_name=config.model_name,
            mode=RerankMode(config.rerank_mode),
            instruction=config.rerank_instruct or "",
            min_score=request.min_score,
        )
        if request.enable_reranking
        else None
    )
    history = [ChatMessage(message.role, message.content) for message in request.query_history or []]
    query = RetrievalQuery(
        text=request.query or "",
        dense_top_k=request.dense_similarity_top_k,
        sparse_top_k=request.sparse_similarity_top_k,
        top_n=request.top_n,
        filters=request.search_filters,
        rerank=rerank,
        history=history,
        rewrite=request.enable_rewrite,
        images=tuple(request.images or ()),
        fusion=fusion_override(request.fusion),
        explain=request.explain,
    )
    result = service.retrieve(
        call.workspace_id, request.index_id, query, request_id=call.request_id,
        save_history=request.save_retriever_history, request=call.raw,
    )
    return {"Nodes": [_node(call.workspace_id, request.index_id, item) for item in result.chunks]}


def _node(workspace_id: str, index_id: str, item: RetrievedChunk) -> dict[str, Any]:
    chunk = item.chunk
    metadata = dict(chunk.metadata)
    metadata.update(
        nid=chunk.chunk_id, content=chunk.text, workspace_id=workspace_id, pipeline_id=index_id, _id=chunk.chunk_id
    )
    node = {"Text": chunk.text, "Score": round(item.score, 6), "Metadata": metadata}
    if item.explanation is not None:
        node["Explain"] = explanation_view(item.explanation)
    return node


def _create_index(service: KnowledgeBaseService, call: Call) -> dict[str, Any]:
    request: bailian.CreateIndexRequest = call.request
    kb = service.create(
        call.workspace_id, name=request.name, description=request.description, source_uri=request.source_uri,
        chunk_size=request.chunk_size, overlap_size=request.overlap_size,
        rerank_model_name=request.rerank_model_name, rerank_min_score=request.rerank_min_score,
        source_type=request.source_type or "", document_ids=request.file_ids, category_ids=request.categories,
    )
    return {"Id": kb.index_id, "Name": kb.name}


def _index_view(service: KnowledgeBaseService, kb: KnowledgeBase) -> dict[str, Any]:
    return {
        "Id": kb.index_id, "Name": kb.name, "Description": kb.description, "StructureType": "unstructured",
        "SourceURI": kb.source_uri, "ChunkSize": kb.chunk_size, "OverlapSize": kb.overlap_size,
        "RerankModelName": kb.rerank_model_name, "RerankMinScore": kb.rerank_min_score,
        "EmbeddingModelName": kb.embedding_model, "DocumentCount": service.document_count(kb),
        "CreateTime": kb.created_at, "SinkType": "BUILT_IN", "SourceType": kb.source_type or None,
        "DocumentIds": list(kb.document_ids) or None, "CategoryIds": list(kb.category_ids) or None,
    }


def _list_indices(service: KnowledgeBaseService, call: Call) -> dict[str, Any]:
    request: bailian.ListIndicesRequest = call.request
    offset = (request.page_number - 1) * request.page_size
    kbs, total = service.list_indexes(call.workspace_id, name=request.index_name, offset=offset, limit=request.page_size)
    return {"Indices": [_index_view(service, kb) for kb in kbs], "PageNumber": request.page_number,
            "PageSize": request.page_size, "TotalCount": total}


def _delete_index(service: KnowledgeBaseService, call: Call) -> dict[str, Any]:
    service.delete(call.workspace_id, call.request.index_id)
    return {"Id": call.request.index_id}


def _submit_job(service: IndexJobs, call: Call) -> dict[str, Any]:
    request: bailian.SubmitJobRequest = call.request
    if request.source_type:
        job = service.submit_files_job(call.workspace_id, request.index_id, file_ids=request.file_ids,
                                       category_ids=request.categories)
    else:
        job = service.submit_job(call.workspace_id, request.index_id, request.source_uris)
    return _job_started(job)


def _submit_index_job(service: IndexJobs, call: Call) -> dict[str, Any]:
    request: bailian.IndexRef = call.request
    return _job_started(service.submit_index_job(call.workspace_id, request.index_id)) | {"IndexId": request.index_id}


def _submit_reindex_job(service: Reindexer, call: Call) -> dict[str, Any]:
    request: bailian.ReindexRequest = call.request
    job = service.reindex(call.workspace_id, request.index_id, force=request.force)
    return _job_started(job) | {"IndexId": request.index_id}


def _job_started(job: Job) -> dict[str, Any]:
    # The in-process runner has run the job by now; a job still running reports its documents where it finishes.
    observability.record_document_outcomes(document.status for document in job.documents)
    return {"Id": job.job_id, "Status": job.status.value}


def _job_status(service: IndexJobs, call: Call) -> dict[str, Any]:
    request: bailian.JobStatusRequest = call.request
    job = service.get_job(call.workspace_id, request.index_id, request.job_id)
    documents = list(job.documents)
    if request.page_size is not None:
        start = (request.page_number - 1) * request.page_size
        documents = documents[start:start + request.page_size]
    return {
        "JobId": job.job_id, "Status": job.status.value, "Message": job.message, "CreateTime": job.created_at,
        "UpdateTime": job.updated_at,
        "Documents": [
            {"DocId": doc.doc_id, "DocName": doc.name, "Status": doc.status, "Message": doc.message}
            for doc in documents
        ],
        # Sift extension: a large job's record lists only its failed documents, so the counts say how it went.
        "Counts": {key.capitalize(): value for key, value in job.counts.items()},
    }


def _document_view(record: DocumentRecord) -> dict[str, Any]:
    data_center_file = parse_file_uri(record.uri)
    return {
        "Id": record.doc_id, "Name": record.name, "Title": record.title, "SourceURI": record.uri,
        "SourceId": data_center_file[1] if data_center_file else "",
        "DocumentType": record.content_type, "Size": record.size, "Status": record.status.value,
        "Message": record.reason, "ChunkCount": record.chunk_count, "Metadata": dict(record.metadata),
        "GmtCreate": record.created_at, "GmtModified": record.updated_at,
    }


def _list_documents(service: KnowledgeBaseService, call: Call) -> dict[str, Any]:
    request: bailian.ListDocumentsRequest = call.request
    offset = (request.page_number - 1) * request.page_size
    records, total = service.list_documents(
        call.workspace_id, request.index_id, name=request.document_name, status=request.document_status,
        name_like=request.enable_name_like, offset=offset, limit=request.page_size,
    )
    return {"Documents": [_document_view(record) for record in records], "PageNumber": request.page_number,
            "PageSize": request.page_size, "TotalCount": total}


def _delete_documents(service: KnowledgeBaseService, call: Call) -> dict[str, Any]:
    request: bailian.DeleteDocumentsRequest = call.request
    deleted, missing = service.delete_documents(call.workspace_id, request.index_id, request.document_ids)
    return {"DeletedDocument": deleted, "FailedDocument": missing}


def _history(service: KnowledgeBaseService, call: Call) -> dict[str, Any]:
    request: bailian.HistoryRequest = call.request
    offset = (request.page_number - 1) * request.page_size
    records, total = service.history(call.workspace_id, request.index_id, offset=offset, limit=request.page_size)
    return {
        "Records": [
            {"RequestId": r.request_id, "Query": r.query, "RewrittenQuery": r.rewritten_query, "Request": r.request,
             "Nodes": list(r.nodes), "CreateTime": r.created_at}
            for r in records
        ],
        "PageNumber": request.page_number, "PageSize": request.page_size, "TotalCount": total,
    }


_KB = "/{WorkspaceId}/index"


def _kb(name: str, method: str, path: str, model: type[RequestModel], response: type[Shape], handler: Any,
        access: Access, **lambda_: Any) -> Operation:
    return Operation(name, method, f"{_KB}/{path}", Family.BAILIAN, model, response, handler, access, **lambda_)


OPERATIONS: tuple[Operation, ...] = (
    _kb("Retrieve", "POST", "retrieve", bailian.RetrieveRequest, responses.RetrieveData, _retrieve, Access.RETRIEVE,
        size=LambdaSize.QUERY, wire=WireSpec(comma_lists=frozenset({"Images"}))),
    _kb("CreateIndex", "POST", "create", bailian.CreateIndexRequest, responses.CreatedIndex, _create_index,
        Access.ADMIN),
    _kb("ListIndices", "GET", "list_indices", bailian.ListIndicesRequest, responses.ListIndicesData, _list_indices,
        Access.BROWSE),
    _kb("DeleteIndex", "POST", "delete", bailian.IndexRef, responses.IndexRefData, _delete_index, Access.ADMIN,
        timeout_s=120),
    _kb("SubmitIndexJob", "POST", "submit_index_job", bailian.IndexRef, responses.IndexJobStarted, _submit_index_job,
        Access.SUBMIT_JOBS, size=LambdaSize.INDEXING, timeout_s=900, component="jobs"),
    _kb("SubmitIndexAddDocumentsJob", "POST", "add_documents_to_index", bailian.SubmitJobRequest,
        responses.JobStarted, _submit_job, Access.SUBMIT_JOBS, size=LambdaSize.INDEXING, timeout_s=900,
        component="jobs"),
    # A Sift extension: no Bailian SDK has it; GetIndexJobStatus follows the job it starts.
    _kb("SubmitReindexJob", "POST", "reindex", bailian.ReindexRequest, responses.IndexJobStarted, _submit_reindex_job,
        Access.REINDEX, size=LambdaSize.INDEXING, timeout_s=900, component="reindex", extension=True),
    _kb("GetIndexJobStatus", "GET", "job/status", bailian.JobStatusRequest, responses.JobStatusData, _job_status,
        Access.CATALOG_READ, component="jobs"),
    _kb("ListIndexDocuments", "GET", "list_index_documents", bailian.ListDocumentsRequest,
        responses.ListDocumentsData, _list_documents, Access.BROWSE),
    _kb("DeleteIndexDocument", "POST", "delete_index_document", bailian.DeleteDocumentsRequest,
        responses.DeletedDocumentsData, _delete_documents, Access.DELETE_DOCUMENTS),
    _kb("ListRetrieverHistory", "GET", "retriever_history", bailian.HistoryRequest, responses.HistoryData, _history,
        Access.CATALOG_READ, extension=True),  # reads what SaveRetrieverHistory stores; no SDK has it
)
OPERATIONS = OPERATIONS + DATA_CENTER_OPERATIONS + IMM_OPERATIONS
BY_NAME: dict[str, Operation] = {operation.name: operation for operation in OPERATIONS}
RPC_OPERATIONS: dict[str, Operation] = {operation.name: operation for operation in IMM_OPERATIONS}
