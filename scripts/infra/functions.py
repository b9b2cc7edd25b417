"""The function table: what each Lambda of the app may reach on AWS, and how large it is.

The IAM side is a set of ``Grant``s, named as a ``Profile`` (one policy file per profile and stage); the OpenSearch
Serverless side is a ``SearchAccess`` level in the collection's data-access policy. The operations' functions come from
the operation registry (``chalicelib.api.operations.OPERATIONS``: each operation's ``access`` group, ``size`` and
``timeout_s``), the others from ``OTHER_FUNCTIONS``; ``STAGE_MEMORY`` gives each size its memory on each stage.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from chalicelib.api.calls import Access as OperationAccess
from chalicelib.api.calls import LambdaSize

API_HANDLER: Final = "api_handler"  # Chalice's name of the function behind every HTTP route
TASKS_FUNCTION: Final = "IndexingTasks"  # the Lambda the state machines' Task states invoke
OBJECT_EVENTS_FUNCTION: Final = "OnObjectEvent"


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
        (
            "aoss:CreateCollectionItems",
            "aoss:DeleteCollectionItems",
            "aoss:UpdateCollectionItems",
            "aoss:DescribeCollectionItems",
        ),
        (
            "aoss:CreateIndex",
            "aoss:DeleteIndex",
            "aoss:UpdateIndex",
            "aoss:DescribeIndex",
            "aoss:ReadDocument",
            "aoss:WriteDocument",
        ),
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
INDEXER: Final = _profile(
    "index", Grant.CATALOG_WRITE, Grant.DOCUMENTS_READ, Grant.SEARCH, Grant.EMBEDDING_MODELS, Grant.FILES_READ
)
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

    return {
        operation.name: (ACCESS_GROUPS[operation.access], operation.size, operation.timeout_s)
        for operation in OPERATIONS
    }


FUNCTIONS: Final[Mapping[str, tuple[Access, LambdaSize, int]]] = {**operation_functions(), **OTHER_FUNCTIONS}


def api_handler_access(route_functions: Iterable[str]) -> Access:
    """The API handler serves every route, so it needs what the functions of all operations need."""
    accesses = [FUNCTIONS[name][0] for name in route_functions]
    grants = frozenset[Grant]().union(*(access.profile.grants for access in accesses))
    wider = frozenset[Grant]().union(*(SUBSUMES.get(grant, frozenset()) for grant in grants))
    return Access(Profile("api", grants - wider), max(access.search for access in accesses))
