"""The catalogs' one record codec: each record dataclass to a JSON-able dict (a row's or item's ``body``) and back.

Both catalogs store every record through ``dumps`` and read it through ``loads``, so they read the same bodies the
same way. Stored bodies outlive the code that wrote them, in both directions, so decoding is lenient by policy:

- **An unknown key is ignored.** During a rolling deploy (or after a rollback) older code reads records written by
  newer code, which may carry a field the older code does not have yet; the record must still read.
- **A missing key takes the field's default.** A record written before a field existed reads with that default
  (a knowledge base from before index versions is version 1), without a migration.
- A missing key whose field has no default is a corrupt record: the record's constructor raises ``TypeError``.

Enums are stored by their value; a job's documents are nested records, decoded by the same rules.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chalicelib.core.ports.catalog import Job, JobDocument, JobStatus

R = TypeVar("R")

# The fields that JSON cannot give back as they were: decoded by these, every other field is taken as it is.
_FIELD_DECODERS: Mapping[type[Any], Mapping[str, Callable[[Any], Any]]] = {
    Job: {
        "status": JobStatus,
        "documents": lambda documents: tuple(from_dict(JobDocument, document) for document in documents),
    },
}


def to_dict(record: Any) -> dict[str, Any]:
    """The record (a dataclass instance) as a dict of JSON values: ``dataclasses.asdict``, enums by value, tuples as
    lists (so the dict equals what ``json.loads`` gives back of ``dumps``)."""
    return dataclasses.asdict(record, dict_factory=_json_dict)


def from_dict(cls: type[R], body: Mapping[str, Any]) -> R:
    """The record of type ``cls`` in ``body``: unknown keys ignored, missing keys defaulted (the module's policy)."""
    decoders = _FIELD_DECODERS.get(cls, {})
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]  # R is any record dataclass
        if field.name in body:
            value = body[field.name]
            decode = decoders.get(field.name)
            values[field.name] = decode(value) if decode else value
    return cls(**values)


def dumps(record: Any) -> str:
    """The record as the JSON text both catalogs store (non-ASCII kept as it is)."""
    return json.dumps(to_dict(record), ensure_ascii=False)


def loads(cls: type[R], text: str | bytes) -> R:
    """The record of type ``cls`` stored as ``text``."""
    return from_dict(cls, json.loads(text))


def _json_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: _json_value(value) for key, value in pairs}


def _json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    return list(value) if isinstance(value, tuple) else value  # what JSON gives back, so a dict equals its reading
