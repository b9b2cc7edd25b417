"""Query images for the image leg of retrieval: fetch each referenced image, embed it with the multimodal model.

The loader (S3 or HTTP, with its size, type and address checks) and the embedder are adapters handed in by the
composition root; this module only fixes the order of work and which request field a failure is blamed on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chalicelib.core.ports.models import ImageEmbedder


class ImageSource(Protocol):
    def load(self, reference: str, *, field: str) -> bytes:
        """The image's bytes; raises ``InvalidParameterError(field, ...)`` when it cannot be used."""


class ImageQueryEmbedder:
    """Turns the ``Images`` of a request into vectors of the knowledge base's image index."""

    def __init__(self, source: ImageSource, embedder: ImageEmbedder, *, wire_name: str = "Images") -> None:
        self._source = source
        self._embedder = embedder
        self._wire_name = wire_name

    @property
    def model_name(self) -> str:
        return self._embedder.name

    def vectors(self, references: Sequence[str]) -> list[list[float]]:
        # Every image is fetched before any is embedded, so a bad reference fails the request before it costs a
        # model call.
        images = [
            self._source.load(reference, field=f"{self._wire_name}[{position}]")
            for position, reference in enumerate(references)
        ]
        return [self._embedder.embed_image(image) for image in images]
