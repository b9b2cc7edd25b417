"""What an operation is and what its handler receives: shared by the registries of both API families."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.api.common import RequestModel
from chalicelib.api.envelopes import Family
from chalicelib.api.responses import Shape
from chalicelib.api.wire import WireSpec


@dataclass(frozen=True, slots=True)
class Call:
    """The path's WorkspaceId (knowledge-base family; empty for IMM), the validated request, the request id, the
    raw parameters (kept for the retriever history) and the URL the caller reached Sift at (for URLs Sift hands out,
    such as the local stage's upload leases; empty on a direct Lambda invocation)."""

    workspace_id: str
    request: Any
    request_id: str
    raw: Mapping[str, Any]
    endpoint: str = ""


Handler = Callable[[Any, Call], Any]


class LambdaSize(enum.Enum):
    """How much an operation's Lambda does; each AWS stage gives each size its memory (``scripts/build_infra.py``)."""

    SMALL = "small"  # catalog reads and writes, listings
    QUERY = "query"  # embeds a query, searches, reranks (and may generate)
    INDEXING = "indexing"  # reads, extracts, chunks and embeds documents


class Access(enum.Enum):
    """What an operation's Lambda may reach on AWS: ``scripts/build_infra.py`` turns each group into an IAM policy and
    a rule of the search collection's data-access policy."""

    RETRIEVE = "retrieve"  # search, every model, write the retriever history, read query images
    QUERY = "query"  # search and every model
    BROWSE = "browse"  # read the catalog and the search collection
    DELETE_DOCUMENTS = "delete-documents"  # browse, and delete documents from the search collection
    CATALOG_READ = "catalog-read"
    CATALOG_WRITE = "catalog-write"
    ADMIN = "admin"  # create and delete search indexes
    INDEX = "index"  # read sources, embed and write documents
    SUBMIT_JOBS = "submit-jobs"  # index, and start the state machines
    REINDEX = "reindex"  # submit jobs, and create and drop index versions (an in-process reindex does)
    FILES_UPLOAD = "files-upload"  # write the catalog, presign uploads to the data-center bucket
    FILES_ADD = "files-add"  # write the catalog, read data-center files (to check and parse an upload)
    FILES_DELETE = "files-delete"  # write the catalog, delete data-center files


# The access groups of operations that only read: a read key may call them (the documented RAM actions' split).
READ_ONLY_ACCESS: frozenset[Access] = frozenset({Access.RETRIEVE, Access.QUERY, Access.BROWSE, Access.CATALOG_READ})


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented operation: its route, its request and response models, its handler, and its Lambda (size,
    timeout, access).

    ``handler`` receives the service ``component`` names (an attribute of ``Services``) and the parsed call, and
    returns what ``response_model`` (``chalicelib.api.responses``) describes.
    """

    name: str
    method: str
    path: str
    family: Family
    request_model: type[RequestModel]
    response_model: type[Shape]
    handler: Handler
    access: Access
    size: LambdaSize = LambdaSize.SMALL
    timeout_s: int = 30
    component: str = "knowledge_bases"
    wire: WireSpec = field(default_factory=WireSpec)
    extension: bool = False  # a Sift extension: no official SDK has it (the README says so of each)

    @property
    def writes(self) -> bool:
        return self.access not in READ_ONLY_ACCESS
