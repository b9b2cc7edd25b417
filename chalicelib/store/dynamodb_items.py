"""The DynamoDB catalog's table layout: the table's definition, the key of every item, and an item's record body.

One table with generic ``pk``/``sk`` string keys and one sparse GSI. ``{ws}``, ``{index}``, ``{project}`` and
``{dataset}`` are escaped, so a ``#`` inside an id cannot make two keys collide; the last component of a key needs no
escaping, since nothing follows it::

    pk                  sk                            item
    WS#{ws}             KB#{index_id}                 a knowledge base (+ gsi1pk/gsi1sk when it has a source_uri)
    WS#{ws}             NAME#{name}                   the reservation that makes (workspace, name) unique
    IDX#{ws}#{index}    JOB#{job_id}                  an indexing job (ids sort, so a Query lists jobs by id)
    IDX#{ws}#{index}    HIST#{ns:020d}#{random hex}   a retrieval history record (newest first = Query backwards)
    PRJ#{project}       PROJECT                       a media project
    PRJ#{project}       DS#{name}                     a dataset of the project (names sort, so a Query lists them)
    PRJ#{project}       BIND#{dataset}#URI#{uri}      a binding of the dataset (+ gsi1pk/gsi1sk, always)
    PRJ#{project}       BIND#{dataset}#SHA256#{hex}   the same, when the URI would not fit in a sort key (1024 bytes)
    DC#{ws}             CAT#{category_id}             a data-center category
    DC#{ws}             LEASE#{lease_id}              an upload lease (taken by AddFile; else expired by its TTL)
    DC#{ws}             FILE#{file_id}                a data-center file
    ACCESSKEYS          KEY#{key_id}                  an access key (its secret sealed)
    NONCE#{key_id}      {nonce}                       a nonce the key used (expired by its TTL)

    gsi1 (sparse):  gsi1pk = "SOURCE",  gsi1sk = "URI#" + source_uri   (only knowledge bases with a source_uri)
                    gsi1pk = "BINDING", gsi1sk = "URI#" + uri          (every binding)

Why this shape:

- **Bodies are JSON strings** written and read by ``chalicelib.store.codec`` (as in SQLite), not DynamoDB maps:
  floats survive without ``Decimal``, and a field added later with a default round-trips without a migration (unknown
  body keys are ignored on read: see the codec).
- **Uniqueness.** DynamoDB has no unique constraint besides the primary key, so (workspace, name) gets an item of
  its own. ``create_knowledge_base`` writes the knowledge base and the reservation in one ``TransactWriteItems``,
  both conditioned on ``attribute_not_exists``: either both exist or neither, and the cancellation reason says which
  rule was broken (reported like SQLite: the index id when it is taken, otherwise the name).
- **One partition per knowledge base for its jobs and history**, so deleting a knowledge base is one paged Query of
  that partition plus ``BatchWriteItem`` deletes.
- **No OFFSET in DynamoDB.** Listings read the partition with pagination and slice in Python. Knowledge bases: the
  whole workspace partition is read (needed anyway to sort by (created_at, index id), filter by name substring and
  count); it holds one knowledge base and one reservation item per index of the workspace, which stays small.
  History: the page is read newest-first and the Query stops after offset + limit items; the total is a
  ``Select=COUNT`` Query, which transfers no items but is billed for every item it counts — a deep page or the total
  of a long history costs read capacity proportional to the history of that one knowledge base.
- **History order.** SQLite orders by an autoincrement sequence, i.e. by insertion, whatever ``created_at`` says
  (it is caller-supplied, may be empty and has one-second resolution). The sort key here is the catalog's own
  clock in nanoseconds, forced strictly increasing per catalog instance (one per process; a Lambda container serves
  one request at a time), so records added in the same instant keep their insertion order. A random suffix keeps
  two writers (containers) from ever overwriting each other; between containers, order is only as good as their
  clocks, which is inherent without a global counter.
- **``knowledge_bases_for_uri``** must find every knowledge base of any workspace whose source_uri is a prefix of an
  object URI. DynamoDB cannot match "key is a prefix of this value", so all knowledge bases with a source_uri share
  one GSI partition sorted by source_uri; every prefix of the URI sorts at or before it, so the Query asks for
  ``gsi1sk <= "URI#" + uri`` and Python keeps the real prefixes. Trade-off: each S3 event reads every source-bound
  knowledge base sorting below its URI (all of them, in the worst case), and the GSI partition takes every such
  knowledge base's writes (rare: create and delete only). Partitioning by bucket would bound the read, but a raw
  prefix like ``s3://b`` would then need a lookup per candidate bucket; at the expected number of knowledge bases a
  single partition is cheaper and simpler. The GSI is eventually consistent: a knowledge base created a moment ago
  may miss an event.
- **Media: one partition per project** holds the project, its datasets and their bindings, so a future delete of a
  project is one Query of its partition, like a knowledge base's jobs and history. Each of them is unique by its
  primary key alone, so a create is one ``PutItem`` conditioned on ``attribute_not_exists`` (no reservation item, no
  transaction); a failed condition becomes ``AlreadyExistsError("project" | "dataset" | "binding", name or URI)``.
  The catalog does not check that a dataset's project (or a binding's dataset) exists: the protocol leaves that to the
  caller, as SQLite does.
- **Datasets are listed by a Query of** ``begins_with(sk, "DS#" + prefix)``: the key sorts by name in UTF-8 byte
  order (= code point order, SQLite's BINARY collation), and ``begins_with`` is the literal, case-sensitive prefix
  test, so DynamoDB filters and orders; the whole match is read to count it and sliced in Python (a ``Select=COUNT``
  Query would read the same items again for the total).
- **Bindings by URI** use the knowledge bases' GSI with their own partition value ``BINDING``: a Query names one
  ``gsi1pk``, so ``knowledge_bases_for_uri`` and ``bindings_for_uri`` never see each other's items and the table
  definition is unchanged. The trade-offs are those of the knowledge bases (above), per partition, except that a
  binding is rewritten as its state changes (a few writes per binding). In the base-table key, the URI is the
  binding's identity and cannot be cut like the GSI sort key, so a URI too long for the 1024-byte sort key is replaced
  by its SHA-256 (a different marker, so the two forms never collide); the body keeps the URI.
- **The data center: one partition per workspace** holds its categories, upload leases and files. Listings Query the
  partition by sort-key prefix and order in Python by (created_at, id), as SQLite orders by insertion; a workspace's
  data center is expected to stay within what one paged Query reads comfortably (thousands of files). A lease is
  taken by a conditional ``DeleteItem`` (``attribute_exists``), so exactly one AddFile makes a file of it.
- Base-table reads are strongly consistent, like SQLite's read-your-writes (a job polled right after it is put).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from chalicelib.store.codec import dumps, loads

R = TypeVar("R")

GSI_NAME: Final = "gsi1"
# Items with this attribute (epoch seconds) are deleted by DynamoDB after that time: upload leases no AddFile took.
TIME_TO_LIVE_ATTRIBUTE: Final = "expires"
TIME_TO_LIVE: Final[dict[str, Any]] = {"AttributeName": TIME_TO_LIVE_ATTRIBUTE, "Enabled": True}

# The table, as CreateTable parameters (minus TableName). The property names and shapes are those of an
# ``AWS::DynamoDB::Table`` resource too, so the template can be generated from this dict.
TABLE_DEFINITION: Final[dict[str, Any]] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "gsi1pk", "AttributeType": "S"},
        {"AttributeName": "gsi1sk", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": GSI_NAME,
            "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["body"]},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def create_table(client: Any, table_name: str) -> None:
    """Create the catalog table (tests, local development) and wait until it is usable."""
    client.create_table(TableName=table_name, **copy.deepcopy(TABLE_DEFINITION))
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=TIME_TO_LIVE)


# --- keys -------------------------------------------------------------------------------------------------------------

SOURCE_PARTITION: Final = "SOURCE"
BINDING_PARTITION: Final = "BINDING"  # the GSI partition of bindings: never "SOURCE" (see chalicelib.store.dynamodb)
ACCESS_KEYS_PK: Final = "ACCESSKEYS"
PROJECT_SK: Final = "PROJECT"
MAX_SORT_KEY_BYTES: Final = 1024  # DynamoDB's limit for a sort key value


def escape(part: str) -> str:
    """Make ``#`` (the key separator) impossible inside a key component."""
    return part.replace("%", "%25").replace("#", "%23")


def workspace_pk(workspace_id: str) -> str:
    return f"WS#{escape(workspace_id)}"


def kb_sk(index_id: str) -> str:
    return f"KB#{index_id}"


def name_sk(name: str) -> str:
    return f"NAME#{name}"


def index_pk(workspace_id: str, index_id: str) -> str:
    return f"IDX#{escape(workspace_id)}#{escape(index_id)}"


def job_sk(job_id: str) -> str:
    return f"JOB#{job_id}"


def project_pk(project_name: str) -> str:
    return f"PRJ#{escape(project_name)}"


def dataset_sk(name: str) -> str:
    return f"DS#{name}"


def binding_sk(dataset_name: str, uri: str) -> str:
    """The binding's identity within its project: the URI itself when it fits in a sort key, else its SHA-256.

    Unlike the GSI sort key, this key cannot be cut: two URIs sharing their first kilobyte would collide. The
    ``URI#`` / ``SHA256#`` marker follows an escaped component, so the two forms can never be equal.
    """
    head = f"BIND#{escape(dataset_name)}#"
    key = f"{head}URI#{uri}"
    if len(key.encode()) <= MAX_SORT_KEY_BYTES:
        return key
    return f"{head}SHA256#{hashlib.sha256(uri.encode()).hexdigest()}"


def data_center_pk(workspace_id: str) -> str:
    return f"DC#{escape(workspace_id)}"


def uri_sort_key(uri: str) -> str:
    """``URI#`` + uri, cut to DynamoDB's 1024-byte sort key limit at a character boundary.

    Cutting keeps the GSI query correct: if ``p`` is a prefix of ``u``, the cut of ``p`` is a prefix of the cut of
    ``u`` and so sorts at or before it; the exact prefix test runs in Python on the stored body.
    """
    encoded = f"URI#{uri}".encode()
    return encoded[:MAX_SORT_KEY_BYTES].decode(errors="ignore")


def s(value: str) -> dict[str, str]:
    """A string attribute value."""
    return {"S": value}


def key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": s(pk), "sk": s(sk)}


# --- bodies -----------------------------------------------------------------------------------------------------------


def item(pk: str, sk: str, kind: str, record: Any) -> dict[str, Any]:
    """The item of ``record`` under (pk, sk): its keys, its ``type`` (for a person reading the table) and its body."""
    return {"pk": s(pk), "sk": s(sk), "type": s(kind), "body": body(record)}


def body(record: Any) -> dict[str, str]:
    """The ``body`` attribute value of a record."""
    return s(dumps(record))


def record(cls: type[R], stored: Mapping[str, Any]) -> R:
    """The record of type ``cls`` in an item (or in a Query's projection of its body)."""
    return loads(cls, stored["body"]["S"])
