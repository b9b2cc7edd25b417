"""Everything one deployment serves, built once per process: knowledge bases, their jobs and reindex, media datasets,
the data center and who may call.

They share the backend, the models and the catalog; S3 object events go to both, since a prefix may feed a knowledge
base (its SourceURI) and a dataset (a binding) at once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from chalicelib.core.access_keys import Gate
from chalicelib.core.data_center import DataCenterService
from chalicelib.core.index_jobs import IndexJobs
from chalicelib.core.indexing import Indexer, require_settled
from chalicelib.core.knowledge_base import KnowledgeBaseService
from chalicelib.core.media import MediaService
from chalicelib.core.reindex import Reindexer


@dataclass(frozen=True, slots=True)
class Services:
    knowledge_bases: KnowledgeBaseService
    jobs: IndexJobs  # indexing jobs of knowledge bases
    reindex: Reindexer
    media: MediaService
    data_center: DataCenterService
    access: Gate  # who may call (SIFT_AUTH)
    indexer: Indexer  # the one both families index and read their sources through

    def on_object_created(self, uri: str) -> dict[str, Any]:
        """Index the object wherever it belongs; raises ``ObjectNotSettled`` when an index may be left behind the
        object (a read failed), so that the event fails and is delivered again — handling it twice is harmless."""
        indexed = require_settled(uri, self.knowledge_bases.on_object_created(uri) + self.media.on_object_created(uri))
        return {"uri": uri, "indexed": [item.status for item in indexed]}

    def on_object_removed(self, uri: str) -> dict[str, Any]:
        """Remove the object wherever it was indexed, once its source confirms it is gone: the source is asked once
        for the event (and only if a knowledge base or a dataset holds the object), not once per service."""
        exists = functools.cache(functools.partial(self.indexer.exists, uri))
        removed = self.knowledge_bases.on_object_removed(uri, exists=exists) + self.media.on_object_removed(
            uri, exists=exists
        )
        return {"uri": uri, "removed": removed}
