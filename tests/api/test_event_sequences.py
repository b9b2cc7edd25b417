"""S3 event sequences checked against a model of what S3 holds (issue 12 #2, #3 and the must-show model check).

A small in-memory S3 (the client ``S3Source`` is given) holds objects; random sequences of puts and deletes emit
EventBridge "Object Created" / "Object Deleted" events, which are delivered late, out of order and twice, while
other writes land in the middle of a handler's read (a slow read), and reads and HEADs fail at random with S3's
``SlowDown``. A handler that fails is delivered again, as EventBridge does for an asynchronous Lambda. Once every
event is handled, each index must hold exactly what S3 holds: every object found by its own words in its current
version, no deleted object left, no record of an object that never got indexed.

One knowledge base (SourceURI) and one dataset (a binding) take the same prefix, so both ingest paths are checked.
``SIFT_EVENT_SEQUENCES`` (default 1,000) and ``SIFT_EVENT_SEED`` set the run's size and seed.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.composition import AwsClients, build_services
from chalicelib.core.indexing import ObjectNotSettled, document_id
from chalicelib.core.ports.search import DocumentStatus, RecallQuery, SearchBackend
from chalicelib.core.ports.sources import SourceUnavailable
from chalicelib.core.services import Services
from chalicelib.settings import Settings
from chalicelib.sources.local import LocalFileSource
from chalicelib.sources.s3 import S3Source

BUCKET = "model-bucket"
SEQUENCES = int(os.environ.get("SIFT_EVENT_SEQUENCES", "1000"))
SEED = int(os.environ.get("SIFT_EVENT_SEED", "12"))
CREATED, DELETED = "Object Created", "Object Deleted"
SEQUENCES_PER_HARNESS = 50
MAX_DELIVERIES = 40  # per event; with a failure rate of 1 in 5 per request, far more than any event needs


def _client_error(code: str, status: int, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       operation)


@dataclass
class ModelS3:
    """The S3 calls ``S3Source`` makes, over a dict, with injectable slow reads and failures."""

    rng: random.Random
    failure_rate: float = 0.0
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # key -> (body, ETag)
    during_read: Callable[[], None] | None = None  # runs after a GET took its snapshot, before it returns
    versions: int = 0

    # what the test does to the bucket
    def put(self, key: str, body: bytes) -> None:
        self.versions += 1
        self.objects[key] = (body, f'"etag{self.versions}"')

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    # what S3Source calls
    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._maybe_fail("GetObject")
        snapshot = self.objects.get(Key)
        if self.during_read is not None:
            self.during_read()
        if snapshot is None:
            raise _client_error("NoSuchKey", 404, "GetObject")
        body, etag = snapshot
        return {"Body": io.BytesIO(body), "ContentLength": len(body), "ETag": etag, "ContentType": "text/plain",
                "Metadata": {}}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._maybe_fail("HeadObject")
        if Key not in self.objects:
            raise _client_error("404", 404, "HeadObject")
        body, etag = self.objects[Key]
        return {"ContentLength": len(body), "ETag": etag}

    def get_paginator(self, name: str) -> Any:
        assert name == "list_objects_v2"
        objects = self.objects

        class Paginator:
            def paginate(self, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:
                yield {"Contents": [{"Key": key} for key in sorted(objects) if key.startswith(Prefix)]}

        return Paginator()

    def _maybe_fail(self, operation: str) -> None:
        if self.failure_rate and self.rng.random() < self.failure_rate:
            raise _client_error("SlowDown", 503, operation)


@dataclass
class Harness:
    services: Services
    s3: ModelS3
    kb_collection: str
    dataset_collection: str
    backend: SearchBackend  # read directly: what each index holds, by its own words

    def deliver(self, detail_type: str, key: str) -> None:
        uri = f"s3://{BUCKET}/{key}"
        if detail_type == CREATED:
            self.services.on_object_created(uri)
        else:
            self.services.on_object_removed(uri)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """In memory where the machine has a tmpfs: the check is of the logic, and a tantivy commit's fsync on a disk
    costs ten times the rest of an event."""
    if not Path("/dev/shm").is_dir():
        yield tmp_path / "sift"
        return
    directory = Path(tempfile.mkdtemp(prefix="sift-events-", dir="/dev/shm"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _harness(data_dir: Path) -> Harness:
    settings = Settings.from_environment({
        "SIFT_STAGE": "local", "SIFT_BACKEND": "embedded", "SIFT_DATA_DIR": str(data_dir),
        "SIFT_EMBEDDER": "hashing", "SIFT_EMBEDDING_CACHE": "off",
    })
    s3 = ModelS3(random.Random(SEED))
    clients = AwsClients(settings)
    clients.s3 = s3  # type: ignore[misc]  # the cached client, replaced before anything uses it
    services = build_services(settings, clients)
    kb = services.knowledge_bases.create("ws_model", name="model", source_uri=f"s3://{BUCKET}/")
    services.media.create_project("model")
    dataset = services.media.create_dataset("model", "files")
    services.media.create_binding("model", "files", f"s3://{BUCKET}/")
    backend = services.knowledge_bases._backend  # the one both services write to
    return Harness(services, s3, kb.collection, dataset.collection, backend)


def _body(token: str, version: int) -> bytes:
    return f"{token} version{version} of the model document".encode()


def _indexed_text(harness: Harness, collection: str, token: str, uri: str) -> str | None:
    """The text the index finds for the object's own word (None when nothing is found), via the sparse leg."""
    hits = harness.backend.recall(collection, RecallQuery(token, None, 0, 10)).sparse
    texts = [hit.chunk.text for hit in hits if hit.chunk.doc_id == document_id(uri)]
    return texts[0] if texts else None


def _check(harness: Harness, tokens: dict[str, str]) -> list[str]:
    """Every way the indexes differ from S3, for the keys of one sequence."""
    problems: list[str] = []
    for key, token in tokens.items():
        uri = f"s3://{BUCKET}/{key}"
        held = harness.s3.objects.get(key)
        for collection in (harness.kb_collection, harness.dataset_collection):
            record = harness.backend.get_document(collection, document_id(uri))
            text = _indexed_text(harness, collection, token, uri)
            if held is None:
                if record is not None or text is not None:
                    problems.append(f"{collection} {key}: deleted in S3, still indexed ({record and record.status})")
                continue
            expected = held[0].decode()
            if record is None or record.status is not DocumentStatus.INDEXED:
                problems.append(f"{collection} {key}: in S3, index has {record and record.status} {record and record.reason}")
            elif text is None or expected not in text:
                problems.append(f"{collection} {key}: S3 holds {expected!r}, the index finds {text!r}")
    return problems


def _run_sequence(harness: Harness, rng: random.Random, number: int) -> list[str]:
    keys = [f"seq{number}/k{index}.txt" for index in range(rng.randint(1, 3))]
    tokens = {key: f"s{number}k{index}" for index, key in enumerate(keys)}
    operations: list[tuple[str, str]] = []
    exists: set[str] = set()
    for _ in range(rng.randint(2, 7)):
        key = rng.choice(keys)
        if key in exists and rng.random() < 0.3:
            operations.append((DELETED, key))
            exists.discard(key)
        else:
            operations.append((CREATED, key))
            exists.add(key)
    versions = dict.fromkeys(keys, 0)
    pending_writes = list(operations)
    events: list[tuple[str, str, int]] = []  # (detail type, key, deliveries so far)

    def write_next() -> None:
        detail_type, key = pending_writes.pop(0)
        if detail_type == CREATED:
            versions[key] += 1
            harness.s3.put(key, _body(tokens[key], versions[key]))
        else:
            harness.s3.delete(key)
        events.append((detail_type, key, 0))
        if rng.random() < 0.25:  # EventBridge delivers at least once: some events come twice
            events.append((detail_type, key, 0))

    def during_read() -> None:
        if pending_writes and rng.random() < 0.3:
            write_next()

    harness.s3.during_read = during_read
    harness.s3.failure_rate = 0.2
    while pending_writes or events:
        if pending_writes and (not events or rng.random() < 0.5):
            write_next()
            continue
        detail_type, key, deliveries = events.pop(rng.randrange(len(events)))  # any order
        try:
            harness.deliver(detail_type, key)
        except Exception:  # noqa: BLE001 — a failed handler is delivered again, whatever it raised
            if deliveries + 1 >= MAX_DELIVERIES:
                return [f"{key}: {detail_type} failed {MAX_DELIVERIES} times"]
            events.append((detail_type, key, deliveries + 1))
    harness.s3.during_read = None
    harness.s3.failure_rate = 0.0
    return _check(harness, tokens)


def test_event_sequences_leave_every_index_as_s3_holds_it(data_dir: Path) -> None:
    rng = random.Random(SEED)
    problems: list[str] = []
    harness = _harness(data_dir / "0")
    for number in range(SEQUENCES):
        if number and number % SEQUENCES_PER_HARNESS == 0:  # a fresh stage now and then keeps the indexes small
            harness = _harness(data_dir / str(number))
        problems.extend(f"sequence {number}: {problem}" for problem in _run_sequence(harness, rng, number))
    assert problems == [], "\n".join(problems)


# --- the defects one by one -----------------------------------------------------------------------------------------


def test_a_slow_read_of_an_older_version_never_wins(data_dir: Path) -> None:
    # Issue 12 #2: v1's Created event starts; v2 is put and indexed while v1's read is on its way; v1's write lands
    # last. The check after the write sees v2 in S3 and indexes it again.
    harness = _harness(data_dir)
    harness.s3.put("doc.txt", _body("slowdoc", 1))

    def newer_version_meanwhile() -> None:
        harness.s3.during_read = None
        harness.s3.put("doc.txt", _body("slowdoc", 2))
        harness.deliver(CREATED, "doc.txt")

    harness.s3.during_read = newer_version_meanwhile
    harness.deliver(CREATED, "doc.txt")

    assert _check(harness, {"doc.txt": "slowdoc"}) == []
    assert "version2" in (_indexed_text(harness, harness.kb_collection, "slowdoc", f"s3://{BUCKET}/doc.txt") or "")


def test_a_late_delete_event_never_removes_an_object_written_again(data_dir: Path) -> None:
    harness = _harness(data_dir)
    harness.s3.put("doc.txt", _body("latedelete", 1))
    harness.deliver(CREATED, "doc.txt")
    harness.s3.delete("doc.txt")
    harness.s3.put("doc.txt", _body("latedelete", 2))  # written again before the delete event is handled

    harness.deliver(DELETED, "doc.txt")  # the delete is not confirmed: the object is there, indexed as it now reads

    assert _check(harness, {"doc.txt": "latedelete"}) == []
    assert "version2" in (_indexed_text(harness, harness.kb_collection, "latedelete", f"s3://{BUCKET}/doc.txt") or "")


def test_a_delete_event_asks_s3_once_for_every_index_that_holds_the_object(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = _harness(data_dir)  # a knowledge base and a dataset both hold the bucket
    harness.s3.put("doc.txt", _body("askedonce", 1))
    harness.deliver(CREATED, "doc.txt")
    harness.s3.delete("doc.txt")
    checks: list[str] = []
    revision = S3Source.revision
    monkeypatch.setattr(S3Source, "revision", lambda self, uri: checks.append(uri) or revision(self, uri))

    harness.deliver(DELETED, "doc.txt")

    assert checks == [f"s3://{BUCKET}/doc.txt"]  # one confirmation of the delete, shared by both services
    assert _check(harness, {"doc.txt": "askedonce"}) == []  # removed from both


def test_an_object_deleted_while_being_indexed_leaves_no_copy(data_dir: Path) -> None:
    # The delete event is handled first (nothing to remove yet), then the slow read's write lands.
    harness = _harness(data_dir)
    harness.s3.put("doc.txt", _body("vanishing", 1))

    def deleted_meanwhile() -> None:
        harness.s3.during_read = None
        harness.s3.delete("doc.txt")
        harness.deliver(DELETED, "doc.txt")

    harness.s3.during_read = deleted_meanwhile
    harness.deliver(CREATED, "doc.txt")

    assert _check(harness, {"doc.txt": "vanishing"}) == []


def test_a_failed_read_fails_the_event_so_that_it_is_delivered_again(data_dir: Path) -> None:
    # Issue 12 #1 on both ingest paths: a failed re-read keeps what was indexed (a dataset's file kept its metadata
    # and lost its content before), and the event fails so that EventBridge delivers it again.
    harness = _harness(data_dir)
    harness.s3.put("doc.txt", _body("retried", 1))
    harness.deliver(CREATED, "doc.txt")
    harness.s3.put("doc.txt", _body("retried", 2))
    harness.s3.failure_rate = 1.0

    with pytest.raises(ObjectNotSettled, match="SlowDown"):
        harness.deliver(CREATED, "doc.txt")
    for collection in (harness.kb_collection, harness.dataset_collection):  # both ingest paths keep their copy
        assert "version1" in (_indexed_text(harness, collection, "retried", f"s3://{BUCKET}/doc.txt") or "")

    harness.s3.failure_rate = 0.0
    harness.deliver(CREATED, "doc.txt")  # the redelivery
    assert _check(harness, {"doc.txt": "retried"}) == []


def test_s3_revision_covers_the_object_and_its_sidecar() -> None:
    s3 = ModelS3(random.Random(0))
    source = S3Source(s3)
    uri = f"s3://{BUCKET}/doc.txt"
    assert source.revision(uri) is None
    s3.put("doc.txt", b"text")
    first = source.revision(uri)
    assert first == source.read(uri).revision
    s3.put("doc.txt.metadata.json", b'{"metadataAttributes": {"team": "search"}}')
    assert source.revision(uri) not in (None, first)
    assert source.revision(uri) == source.read(uri).revision
    s3.failure_rate = 1.0
    with pytest.raises(SourceUnavailable):
        source.revision(uri)


def test_local_revision_changes_with_the_file_and_its_sidecar(tmp_path: Path) -> None:
    source = LocalFileSource()
    path = tmp_path / "doc.txt"
    assert source.revision(path.as_uri()) is None
    path.write_text("first")
    first = source.revision(path.as_uri())
    assert first == source.read(path.as_uri()).revision
    path.with_name("doc.txt.metadata.json").write_text('{"metadataAttributes": {"team": "search"}}')
    second = source.revision(path.as_uri())
    assert second != first and second == source.read(path.as_uri()).revision
    path.write_text("second, longer")
    assert source.revision(path.as_uri()) != second
