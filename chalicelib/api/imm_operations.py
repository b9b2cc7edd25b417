"""The media-dataset operations (IMM family): handlers, the views they answer with (File, Project, Dataset, Binding),
and their registry entries under ``/imm``.

Sift extensions, documented in the README: IndexFileMeta and BatchIndexFileMeta index synchronously and answer, next
to the documented ``EventId``, ``Files`` — one ``{URI, ObjectId, ObjectStatus, Reason}`` per file, in request order;
BatchDeleteFileMeta answers ``DeletedURIs`` and ``NotFoundURIs``.

Times
    Responses give times in RFC 3339 with a numeric offset (IMM's ``2021-06-29T14:50:13.011643661+08:00`` style):
    Sift's stored ``…Z`` times become ``…+00:00``, fractional seconds without trailing zeros.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from chalicelib import observability
from chalicelib.api import imm, responses
from chalicelib.api.calls import Access, Call, LambdaSize, Operation
from chalicelib.api.common import RequestModel
from chalicelib.api.envelopes import Family
from chalicelib.api.extensions import explanation_view, fusion_override
from chalicelib.api.responses import Shape
from chalicelib.core.conversation import Conversation
from chalicelib.core.errors import NotFoundError
from chalicelib.core.ports.catalog import Binding, Dataset, JobDocument, Project
from chalicelib.core.ports.models import ChatMessage
from chalicelib.core.ports.search import DocumentStatus

if TYPE_CHECKING:  # annotations only: importing app does not load the services
    from chalicelib.core.media import MediaFile, MediaService
    from chalicelib.core.retrieval import RetrievedChunk

_PREFIX: Final = "/imm"


# --- views ------------------------------------------------------------------------------------------------------------


def rfc3339(stamp: str) -> str:
    """A stored time in IMM's response format: RFC 3339 with a numeric offset, no trailing zeros in the fraction.

    ``2026-11-21T08:30:00.120Z`` → ``2026-11-21T08:30:00.12+00:00``. A time without an offset is UTC (Sift stores
    UTC); an unparseable stamp is returned as stored rather than failing a read.
    """
    if not stamp:
        return stamp
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.isoformat(timespec="seconds")
    base, offset = seconds[:19], seconds[19:]
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return f"{base}.{fraction}{offset}" if fraction else f"{base}{offset}"


def project_view(project: Project, *, dataset_count: int | None = None) -> dict[str, Any]:
    """The documented ``Project`` structure, with the fields Sift keeps (quotas and templates are not kept)."""
    view: dict[str, Any] = {
        "ProjectName": project.name,
        "Description": project.description,
        "CreateTime": rfc3339(project.created_at),
        "UpdateTime": rfc3339(project.updated_at),
    }
    if dataset_count is not None:
        view["DatasetCount"] = dataset_count
    return view


def dataset_view(
    dataset: Dataset, file_count: int | None = None, *, bind_count: int | None = None
) -> dict[str, Any]:
    """The documented ``Dataset`` structure, with the fields Sift keeps; counts where the caller of this knows them."""
    view: dict[str, Any] = {
        "ProjectName": dataset.project_name,
        "DatasetName": dataset.name,
        "Description": dataset.description,
        "CreateTime": rfc3339(dataset.created_at),
        "UpdateTime": rfc3339(dataset.updated_at),
    }
    if file_count is not None:
        view["FileCount"] = file_count
    if bind_count is not None:
        view["BindCount"] = bind_count
    return view


def binding_view(binding: Binding) -> dict[str, Any]:
    """The documented ``Binding`` structure. ``Reason`` is empty unless the binding failed."""
    return {
        "ProjectName": binding.project_name,
        "DatasetName": binding.dataset_name,
        "URI": binding.uri,
        "State": binding.state,
        "Reason": binding.reason,
        "CreateTime": rfc3339(binding.created_at),
        "UpdateTime": rfc3339(binding.updated_at),
    }


def file_view(dataset: Dataset, file: MediaFile, *, with_elements: bool = True) -> dict[str, Any]:
    """The documented File: what Sift computes, then every field the caller gave, as given (given fields win)."""
    record = file.record
    view: dict[str, Any] = {
        "ProjectName": dataset.project_name,
        "DatasetName": dataset.name,
        "ObjectType": "file",
        "ObjectId": record.doc_id,
        "URI": record.uri,
        "Filename": record.name,
        "MediaType": file.media_type,
        "ContentType": record.content_type,
        "Size": record.size,
        "FileHash": record.version,
        "CreateTime": rfc3339(record.created_at),
        "UpdateTime": rfc3339(record.updated_at),
        "ObjectStatus": "Failed" if record.status is DocumentStatus.FAILED else "Indexed",
        "FileStatus": "",
        "Reason": record.reason,
    }
    view.update(file.given)
    if file.similarity is not None:
        view["SemanticSimilarity"] = round(file.similarity, 6)
        view["SemanticTypes"] = ["content"]
    if file.similarity is not None and with_elements:
        view["Elements"] = [_element_view(element) for element in file.elements]
    return view


def _element_view(element: RetrievedChunk) -> dict[str, Any]:
    view = {
        "ObjectId": element.chunk.chunk_id,
        "ElementType": "text",
        "SemanticSimilarity": round(element.score, 6),
        "ElementContents": [{"Type": "text", "Content": element.chunk.text}],
    }
    if element.explanation is not None:
        view["Explain"] = explanation_view(element.explanation)
    return view


def with_explanation(view: dict[str, Any], file: MediaFile) -> dict[str, Any]:
    """The file's ``Explain`` (Sift extension): its best element's explanation, with that element's id and text."""
    best = max(file.elements, key=lambda element: element.score, default=None)
    if best is None or best.explanation is None:
        return view
    return view | {
        "Explain": explanation_view(best.explanation) | {"ObjectId": best.chunk.chunk_id, "Content": best.chunk.text}
    }


def _outcome_view(uri: str, outcome: JobDocument) -> dict[str, Any]:
    return {
        "URI": uri,
        "ObjectId": outcome.doc_id,
        "ObjectStatus": "Failed" if outcome.status == DocumentStatus.FAILED.value else "Indexed",
        "Reason": outcome.message,
    }


# --- handlers ---------------------------------------------------------------------------------------------------------


def _create_project(media: MediaService, call: Call) -> dict[str, Any]:
    request: imm.CreateProjectRequest = call.request
    return {"Project": project_view(media.create_project(request.project_name, request.description))}


def _create_dataset(media: MediaService, call: Call) -> dict[str, Any]:
    request: imm.CreateDatasetRequest = call.request
    dataset = media.create_dataset(request.project_name, request.dataset_name, request.description)
    return {"Dataset": dataset_view(dataset, 0, bind_count=0)}


def _list_datasets(media: MediaService, call: Call) -> dict[str, Any]:
    request: imm.ListDatasetsRequest = call.request
    datasets, total = media.list_datasets(
        request.project_name, prefix=request.prefix, offset=request.offset, limit=request.limit
    )
    return {
        "Datasets": [dataset_view(dataset) for dataset in datasets],
        "NextToken": imm.next_token(request.offset, len(datasets), total),
    }


def _create_binding(media: MediaService, call: Call) -> dict[str, Any]:
    request: imm.CreateBindingRequest = call.request
    return {"Binding": binding_view(media.create_binding(request.project_name, request.dataset_name, request.uri))}


def _index_files(media: MediaService, call: Call, files: list[imm.FileInput]) -> dict[str, Any]:
    request: imm.IndexFileMetaRequest | imm.BatchIndexFileMetaRequest = call.request
    dataset = media.get_dataset(request.project_name, request.dataset_name)
    outcomes = media.index_files(dataset, [file.given_fields() for file in files])
    observability.record_document_outcomes(outcome.status for outcome in outcomes)
    return {
        "EventId": f"{call.request_id}-index",
        "Files": [_outcome_view(file.uri, outcome) for file, outcome in zip(files, outcomes)],
    }


def _index_file_meta(media: MediaService, call: Call) -> dict[str, Any]:
    return _index_files(media, call, [call.request.file])


def _batch_index_file_meta(media: MediaService, call: Call) -> dict[str, Any]:
    return _index_files(media, call, list(call.request.files))


def _get_file_meta(media: MediaService, call: Call) -> dict[str, Any]:
    request: imm.GetFileMetaRequest = call.request
    dataset = media.get_dataset(request.project_name, request.dataset_name)
    view = file_view(dataset, media.get_file(dataset, request.uri))
    return {"Files": [_projected(view, request.with_fields)]}


def _projected(view: dict[str, Any], with_fields: list[str] | None) -> dict[str, Any]:
    """``WithFields``: only the named fields (and ``URI``, which identifies the file); absent or null: all of them."""
    if not with_fields:
        return view
    wanted = set(with_fields) | {"URI"}
    return {key: value for key, value in view.items() if key in wanted}


def _delete_file_meta(media: MediaService, call: Call) -> dict[str, Any]:
    request: imm.DeleteFileMetaRequest = call.request
    dataset = media.get_dataset(request.project_name, request.dataset_name)
    _, missing = media.delete_files(dataset, [request.uri])
    if missing:
        raise NotFoundError("file", request.uri)
    return {}


def _batch_delete_file_meta(media: MediaService, call: Call) -> dict[str, Any]:
    request: imm.BatchDeleteFileMetaRequest = call.request
    dataset = media.get_dataset(request.project_name, request.dataset_name)
    deleted, missing = media.delete_files(dataset, list(dict.fromkeys(request.uris)))
    return {"DeletedURIs": deleted, "NotFoundURIs": missing}


def _contextual_retrieval(media: MediaService, call: Call) -> dict[str, Any]:
    request: imm.ContextualRetrievalRequest = call.request
    dataset = media.get_dataset(request.project_name, request.dataset_name)
    conversation = _conversation(request)
    files = media.contextual_retrieval(
        dataset, conversation, recall_only=request.recall_only, smart_cluster_ids=request.smart_cluster_ids or (),
        fusion=fusion_override(request.fusion), explain=request.explain,
    )
    return {"Results": [with_explanation(file_view(dataset, file), file) for file in files]}


def _semantic_query(media: MediaService, call: Call) -> dict[str, Any]:
    request: imm.SemanticQueryRequest = call.request
    dataset = media.get_dataset(request.project_name, request.dataset_name)
    _, files = media.semantic_query(
        dataset, query=request.query, source_uri=request.source_uri, max_results=request.max_results,
        media_types=request.media_types, fusion=fusion_override(request.fusion), explain=request.explain,
    )
    return {
        "Files": [
            with_explanation(_projected(file_view(dataset, file, with_elements=False), request.with_fields), file)
            for file in files
        ]
    }


def _contextual_answer(media: MediaService, call: Call) -> dict[str, Any]:
    request: imm.ContextualAnswerRequest = call.request
    conversation = _conversation(request)
    answer = media.contextual_answer(request.project_name, conversation, request.files or [])
    return {"Answer": {"Content": answer.content, "References": [file.reference for file in answer.references]}}


def _conversation(request: imm.ContextualRetrievalRequest | imm.ContextualAnswerRequest) -> Conversation:
    """The validated Messages (history and current question) as the core's conversation."""
    history, question = request.conversation
    return Conversation(tuple(ChatMessage(role, content) for role, content in history), question)


def _operation(name: str, model: type[RequestModel], response: type[Shape], handler: Any, access: Access,
               **lambda_: Any) -> Operation:
    return Operation(name, "POST", f"{_PREFIX}/{name}", Family.IMM, model, response, handler, access,
                     component="media", **lambda_)


_QUERY: Final = {"size": LambdaSize.QUERY}
_INDEXING: Final = {"size": LambdaSize.INDEXING, "timeout_s": 900}

IMM_OPERATIONS: tuple[Operation, ...] = (
    _operation("ContextualRetrieval", imm.ContextualRetrievalRequest, responses.ResultsAnswer, _contextual_retrieval,
               Access.QUERY, **_QUERY),
    _operation("SemanticQuery", imm.SemanticQueryRequest, responses.FilesAnswer, _semantic_query, Access.QUERY,
               **_QUERY),
    _operation("ContextualAnswer", imm.ContextualAnswerRequest, responses.ContextualAnswerAnswer, _contextual_answer,
               Access.QUERY, **_QUERY, timeout_s=60),
    _operation("CreateProject", imm.CreateProjectRequest, responses.ProjectAnswer, _create_project,
               Access.CATALOG_WRITE),
    _operation("CreateDataset", imm.CreateDatasetRequest, responses.DatasetAnswer, _create_dataset, Access.ADMIN),
    _operation("ListDatasets", imm.ListDatasetsRequest, responses.DatasetsAnswer, _list_datasets, Access.BROWSE),
    _operation("CreateBinding", imm.CreateBindingRequest, responses.BindingAnswer, _create_binding,
               Access.SUBMIT_JOBS, **_INDEXING),
    _operation("IndexFileMeta", imm.IndexFileMetaRequest, responses.IndexedFilesAnswer, _index_file_meta,
               Access.INDEX, **_INDEXING),
    _operation("BatchIndexFileMeta", imm.BatchIndexFileMetaRequest, responses.IndexedFilesAnswer,
               _batch_index_file_meta, Access.INDEX, **_INDEXING),
    _operation("GetFileMeta", imm.GetFileMetaRequest, responses.FilesAnswer, _get_file_meta, Access.BROWSE),
    _operation("DeleteFileMeta", imm.DeleteFileMetaRequest, responses.Empty, _delete_file_meta,
               Access.DELETE_DOCUMENTS),
    _operation("BatchDeleteFileMeta", imm.BatchDeleteFileMetaRequest, responses.DeletedFilesAnswer,
               _batch_delete_file_meta, Access.DELETE_DOCUMENTS),
)
