"""The media-dataset service: the operations of the IMM family (projects, datasets, bindings, file metadata,
ContextualRetrieval), independent of any wire format.

A dataset is a backend collection. Each file is a document whose id derives from its URI (indexing the same URI again
replaces it) and whose chunks are its Elements (how a file becomes them: ``chalicelib.core.media_files``). The fields
a caller gives (Labels, Figures, Insights, EXIF, ...) are stored as given in the document's ``attributes`` and
returned unchanged; the fields Sift computes (ObjectId, MediaType, times, statuses, Elements, similarities) are
derived here. SmartClusterIds filter on the clusters a file was given.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Protocol

from chalicelib.core.answer import Answer, Answerer
from chalicelib.core.answer_sources import answer_files
from chalicelib.core.clock import new_id, utc_now
from chalicelib.core.conversation import Conversation, conversation_queries
from chalicelib.core.errors import InvalidParameterError, NotFoundError
from chalicelib.core.explain import Explanation, QueryExplanation
from chalicelib.core.extractive_answer import ExtractiveAnswerer
from chalicelib.core.file_fields import label_values, place_values
from chalicelib.core.filters import AnyOf, Group, Like, Node, Range, all_of
from chalicelib.core.fusion import FusionOverride, LegScore
from chalicelib.core.indexing import Indexer, document_id, require_settled
from chalicelib.core.media_files import (
    LABELS_FIELD,
    MEDIA_TYPE_FIELD,
    PLACES_FIELD,
    PRODUCE_TIME_FIELD,
    SMART_CLUSTER_FIELD,
    MediaFiles,
    seconds,
)
from chalicelib.core.ports.catalog import Binding, Catalog, Dataset, JobDocument, Project
from chalicelib.core.ports.models import QueryRewriter
from chalicelib.core.ports.search import DocumentRecord, DocumentStatus, RecallQuery, ScoredChunk, SearchBackend
from chalicelib.core.ports.sources import SourceError, is_sidecar
from chalicelib.core.query_conditions import QueryConditions, Vocabulary
from chalicelib.core.retrieval import RerankOptions, RetrievalQuery, RetrievedChunk, Retriever, require_same_model
from chalicelib.core.tenancy import SourcePolicy

# Files a ContextualRetrieval returns at most (the documented response sets no number; README).
MAX_RESULT_FILES: Final = 10
# Chunks recalled per request before they are grouped into files: both legs at their documented maximum.
RECALL_DEPTH: Final = 100
# SemanticQuery returns at most this many files (documented), whatever MaxResults says.
MAX_SEMANTIC_FILES: Final = 100
_VOCABULARY_TTL: Final = 30.0  # seconds a dataset's vocabulary is reused before it is read again



class BindingRunner(Protocol):
    """Runs a binding's initial indexing elsewhere (Step Functions on AWS: ``chalicelib.workflows``)."""

    def start_binding(self, job_id: str, binding: Binding) -> None:
        """Index every object under ``binding.uri`` into its dataset; the binding's state tells the outcome."""


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A stored file with, when it comes from a retrieval, its similarity and its matching elements."""

    record: DocumentRecord
    similarity: float | None = None
    elements: tuple[RetrievedChunk, ...] = ()

    @property
    def given(self) -> Mapping[str, Any]:
        return self.record.attributes

    @property
    def media_type(self) -> str:
        return str(self.record.metadata.get(MEDIA_TYPE_FIELD, "other"))


class MediaService:
    def __init__(
        self,
        catalog: Catalog,
        backend: SearchBackend,
        indexer: Indexer,
        retriever: Retriever,
        embedding_model: str,
        dimension: int,
        *,
        rewriter: QueryRewriter | None = None,
        query_parser: QueryParser | None = None,
        answerer: Answerer | None = None,
        source_policy: SourcePolicy | None = None,
        job_runner: BindingRunner | None = None,
    ) -> None:
        self._catalog = catalog
        self._backend = backend
        self._indexer = indexer
        self._retriever = retriever
        self._embedding_model = embedding_model
        self._dimension = dimension
        self._rewriter = rewriter  # an LLM rewriter for the focus query; None: the local method
        self._query_parser = query_parser  # SemanticQuery's parser; None: the local one (chalicelib.core.query_parse)
        self._vocabularies: dict[str, tuple[float, Vocabulary]] = {}
        self._answerer = answerer or ExtractiveAnswerer()  # ContextualAnswer's; an LLM one when configured
        self._sources = source_policy or SourcePolicy()  # which source objects a project may read
        # None: a binding's initial indexing runs inside CreateBinding (the local stage); else the runner starts it.
        self._job_runner = job_runner

    # projects and datasets ---------------------------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> Project:
        now = utc_now()
        project = Project(name=name, description=description, created_at=now, updated_at=now)
        self._catalog.create_project(project)
        return project

    def get_project(self, name: str) -> Project:
        project = self._catalog.get_project(name)
        if project is None:
            raise NotFoundError("project", name)
        return project

    def create_dataset(self, project_name: str, name: str, description: str = "") -> Dataset:
        self.get_project(project_name)
        now = utc_now()
        dataset = Dataset(
            project_name=project_name, name=name, description=description, embedding_model=self._embedding_model,
            created_at=now, updated_at=now,
        )
        self._catalog.create_dataset(dataset)
        self._backend.create_collection(dataset.collection, self._dimension, dataset.image_dimension)
        return dataset

    def get_dataset(self, project_name: str, name: str) -> Dataset:
        self.get_project(project_name)
        dataset = self._catalog.get_dataset(project_name, name)
        if dataset is None:
            raise NotFoundError("dataset", name)
        return dataset

    def list_datasets(
        self, project_name: str, *, prefix: str | None, offset: int, limit: int
    ) -> tuple[list[Dataset], int]:
        self.get_project(project_name)
        return self._catalog.list_datasets(project_name, prefix=prefix, offset=offset, limit=limit)

    def file_count(self, dataset: Dataset) -> int:
        return self._backend.list_documents(dataset.collection, offset=0, limit=1)[1]

    # bindings ----------------------------------------------------------------------------------------------------

    def create_binding(self, project_name: str, dataset_name: str, uri: str) -> Binding:
        """Bind ``uri`` (a prefix) to the dataset and index what is there now; S3 events keep it current after."""
        dataset = self.get_dataset(project_name, dataset_name)
        self._sources.check(project_name, uri, "URI")
        try:
            uris = [item for item in self._indexer.list_source(uri) if not is_sidecar(item)]
        except SourceError as exc:
            raise InvalidParameterError("URI", str(exc)) from None
        now = utc_now()
        binding = Binding(project_name, dataset_name, uri, "Running", now, now)
        self._catalog.create_binding(binding)
        if self._job_runner is not None:
            try:
                self._job_runner.start_binding(new_id("job"), binding)
            except Exception as exc:
                self.finish_binding(project_name, dataset_name, uri, [], error=getattr(exc, "message", str(exc)))
                raise
        else:
            self.index_files(dataset, [{"URI": item} for item in uris])
        return self._catalog.get_binding(project_name, dataset_name, uri) or binding

    def index_uris(self, project_name: str, dataset_name: str, uris: Sequence[str]) -> list[JobDocument]:
        """Index objects by URI, as a binding does (a batch of the binding's initial indexing on Step Functions)."""
        dataset = self.get_dataset(project_name, dataset_name)
        return self.index_files(dataset, [{"URI": uri} for uri in uris if not is_sidecar(uri)])

    def finish_binding(
        self, project_name: str, dataset_name: str, uri: str, outcomes: Sequence[JobDocument], *, error: str = ""
    ) -> Binding | None:
        """Record how the binding's initial indexing ended: ``Failed`` with a reason when it could not run (``error``)
        or no file could be indexed; else it stays ``Running`` (the files' own statuses tell any single failure)."""
        binding = self._catalog.get_binding(project_name, dataset_name, uri)
        if binding is None:
            return None
        failed = [outcome for outcome in outcomes if outcome.status == DocumentStatus.FAILED.value]
        reason = error
        if not reason and outcomes and len(failed) == len(outcomes):
            reason = f"None of the {len(outcomes)} files could be indexed; the first: {failed[0].message}"
        if not reason:
            return binding
        updated = replace(binding, state="Failed", reason=reason[:1000], updated_at=utc_now())
        self._catalog.put_binding(updated)
        return updated

    def on_object_created(self, uri: str) -> list[JobDocument]:
        """Index a new or changed object into every dataset bound to a prefix of it, keeping its given fields."""
        if is_sidecar(uri):
            uri = uri[: -len(".metadata.json")]
        outcomes: list[JobDocument] = []
        for binding in self._catalog.bindings_for_uri(uri):
            dataset = self.get_dataset(binding.project_name, binding.dataset_name)
            existing = self._backend.get_document(dataset.collection, document_id(uri))
            given = dict(existing.attributes) if existing is not None else {}
            outcomes.extend(self.index_files(dataset, [{**given, "URI": uri}], from_event=True))
        return outcomes

    def on_object_removed(self, uri: str, *, exists: Callable[[], bool] | None = None) -> int:
        """Remove a deleted object from every bound dataset, once the source confirms it is gone: a delete event
        that arrives after the object was written again indexes the object instead. ``exists`` asks the source
        (default: ``Indexer.exists``); one event's services share one answer."""
        if is_sidecar(uri):
            return len(self.on_object_created(uri))
        bindings = self._catalog.bindings_for_uri(uri)
        if bindings and (exists or functools.partial(self._indexer.exists, uri))():
            require_settled(uri, self.on_object_created(uri))
            return 0
        removed = 0
        for binding in bindings:
            dataset = self.get_dataset(binding.project_name, binding.dataset_name)
            removed += self._backend.delete_document(dataset.collection, document_id(uri))
        return removed

    # file metadata -----------------------------------------------------------------------------------------------

    def index_files(
        self, dataset: Dataset, files: Sequence[Mapping[str, Any]], *, from_event: bool = False
    ) -> list[JobDocument]:
        """Index each file (``files`` hold the given fields, ``URI`` required); one outcome per file, in order."""
        return self._indexer.ingest(dataset.collection, files, MediaFiles(dataset, self._sources, from_event=from_event))

    def get_file(self, dataset: Dataset, uri: str) -> MediaFile:
        record = self._backend.get_document(dataset.collection, document_id(uri))
        if record is None:
            raise NotFoundError("file", uri)
        return MediaFile(record)

    def delete_files(self, dataset: Dataset, uris: Sequence[str]) -> tuple[list[str], list[str]]:
        """Delete by URI; returns (deleted, not found). A deleted file is gone from results at once."""
        deleted: list[str] = []
        missing: list[str] = []
        for uri in uris:
            (deleted if self._backend.delete_document(dataset.collection, document_id(uri)) else missing).append(uri)
        return deleted, missing

    # retrieval ---------------------------------------------------------------------------------------------------

    def contextual_retrieval(
        self,
        dataset: Dataset,
        conversation: Conversation,
        *,
        recall_only: bool = False,
        smart_cluster_ids: Sequence[str] = (),
        fusion: FusionOverride | None = None,
        explain: bool = False,
    ) -> list[MediaFile]:
        """Files for the conversation, best first, each with its matching elements (ContextualRetrieval)."""
        require_same_model(f"dataset {dataset.name!r}", dataset.embedding_model, self._embedding_model)
        queries = conversation_queries(conversation, self._rewriter)
        query = RetrievalQuery(
            conversation.question, dense_top_k=RECALL_DEPTH, sparse_top_k=RECALL_DEPTH, top_n=RECALL_DEPTH,
            filters=_cluster_filter(smart_cluster_ids),
            rerank=None if recall_only else RerankOptions(model_name=None), fusion=fusion, explain=explain,
        )
        result = self._retriever.retrieve_many(dataset.collection, queries.texts, query, rerank_text=queries.focus)
        return self._files(dataset, result.chunks)

    def _files(
        self, dataset: Dataset, chunks: Sequence[RetrievedChunk], limit: int = MAX_RESULT_FILES
    ) -> list[MediaFile]:
        grouped: dict[str, list[RetrievedChunk]] = {}
        for item in chunks:
            if item.chunk.doc_id in grouped or len(grouped) < limit:
                grouped.setdefault(item.chunk.doc_id, []).append(item)
        records = self._backend.get_documents(dataset.collection, list(grouped))  # one round trip for the page
        return [
            MediaFile(records[doc_id], max(item.score for item in elements), tuple(elements))
            for doc_id, elements in grouped.items()
            if doc_id in records  # deleted between recall and now: left out
        ]

    # ContextualAnswer --------------------------------------------------------------------------------------------

    def contextual_answer(
        self, project_name: str, conversation: Conversation, files: Sequence[Mapping[str, Any]]
    ) -> Answer:
        """An answer grounded in ``files`` (ContextualRetrieval's Results, passed straight in), citing those used."""
        self.get_project(project_name)
        return self._answerer.answer(conversation, answer_files(files))

    # SemanticQuery -----------------------------------------------------------------------------------------------

    def semantic_query(
        self,
        dataset: Dataset,
        *,
        query: str | None,
        source_uri: str | None = None,
        max_results: int = MAX_SEMANTIC_FILES,
        media_types: Sequence[str] = ("image",),
        now: datetime | None = None,
        fusion: FusionOverride | None = None,
        explain: bool = False,
    ) -> tuple[QueryConditions | None, list[MediaFile]]:
        """Files matching every condition of ``query`` (or like the file at ``source_uri``), best first.

        The conditions (time, places, labels) filter inside both recall legs; what remains of the query ranks the
        files that pass. With no remaining text the whole query ranks them (its words are the labels and places).
        """
        limit = min(max_results, MAX_SEMANTIC_FILES)
        media_filter = AnyOf(MEDIA_TYPE_FIELD, tuple(media_types))
        if source_uri:
            return None, self._similar_files(dataset, source_uri, media_filter, limit, explain=explain)
        require_same_model(f"dataset {dataset.name!r}", dataset.embedding_model, self._embedding_model)
        text = (query or "").strip()
        parse = self._query_parser or _local_parser()
        conditions = parse(text, self.vocabulary(dataset), now or datetime.now())
        filters = all_of(media_filter, *condition_filters(conditions))
        recall = RetrievalQuery(
            conditions.text or text, dense_top_k=RECALL_DEPTH, sparse_top_k=RECALL_DEPTH, top_n=RECALL_DEPTH,
            filters=filters, fusion=fusion, explain=explain,
        )
        result = self._retriever.retrieve(dataset.collection, recall)
        return conditions, self._files(dataset, result.chunks, limit)

    def vocabulary(self, dataset: Dataset) -> Vocabulary:
        """Every label and place the dataset's files hold (read at most every 30 s per dataset; README: cost)."""
        cached = self._vocabularies.get(dataset.collection)
        if cached is not None and time.monotonic() - cached[0] < _VOCABULARY_TTL:
            return cached[1]
        labels: set[str] = set()
        places: set[str] = set()
        offset = 0
        while True:
            records, total = self._backend.list_documents(dataset.collection, offset=offset, limit=500)
            for record in records:
                labels.update(label_values(record.attributes))
                places.update(place_values(record.attributes))
            offset += len(records)
            if not records or offset >= total:
                break
        vocabulary = Vocabulary(frozenset(labels), frozenset(places))
        self._vocabularies[dataset.collection] = (time.monotonic(), vocabulary)
        return vocabulary

    def _similar_files(
        self, dataset: Dataset, source_uri: str, media_filter: Node, limit: int, *, explain: bool = False
    ) -> list[MediaFile]:
        """Files closest to the indexed file at ``source_uri`` by its stored vector, the file itself left out. One
        leg and no fusion: the score is the cosine (clamped to [0, 1]), which is what an explanation reports."""
        doc_id = document_id(source_uri)
        vector = self._backend.document_vector(dataset.collection, doc_id)
        if vector is None:
            raise NotFoundError("file", source_uri)
        recalled = self._backend.recall(
            dataset.collection,
            RecallQuery("", vector, RECALL_DEPTH, 0, all_of(media_filter)),
        )
        hits: list[RetrievedChunk] = []
        for rank, hit in enumerate(recalled.dense, start=1):  # the rank in the leg's list, the file's own included
            if hit.chunk.doc_id != doc_id:
                score = max(0.0, min(1.0, hit.score))
                hits.append(RetrievedChunk(hit.chunk, score, _similarity_explanation(hit, rank, score) if explain else None))
        return self._files(dataset, hits, limit)


def _similarity_explanation(hit: ScoredChunk, rank: int, score: float) -> Explanation:
    """A search by one stored vector: the dense leg alone, its clamped cosine standing in for a normalised score."""
    dense = LegScore(hit.score, score, rank)
    return Explanation(score, score, (QueryExplanation("", dense, None, None, None, score),), None, ())


def _cluster_filter(smart_cluster_ids: Sequence[str]) -> Group | None:
    if not smart_cluster_ids:
        return None
    return all_of(AnyOf(SMART_CLUSTER_FIELD, tuple(smart_cluster_ids)))


QueryParser = Callable[[str, Vocabulary, datetime], QueryConditions]


def _local_parser() -> QueryParser:
    from chalicelib.core.query_parse import parse_query

    return lambda text, vocabulary, now: parse_query(text, vocabulary, now=now)


def condition_filters(conditions: QueryConditions) -> list[Node]:
    """Filter conditions (to be ANDed) for the query's conditions: the time range, a ``like`` per place and label."""
    nodes: list[Node] = []
    if conditions.time is not None:
        nodes.append(Range(PRODUCE_TIME_FIELD, gte=seconds(conditions.time.start), lt=seconds(conditions.time.end)))
    nodes.extend(Like(PLACES_FIELD, place) for place in conditions.places)
    nodes.extend(Like(LABELS_FIELD, label) for label in conditions.labels)
    return nodes
