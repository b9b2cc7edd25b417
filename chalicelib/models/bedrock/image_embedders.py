"""Bedrock multimodal embedders (Titan Multimodal Embeddings G1, Nova Multimodal Embeddings) behind ``ImageEmbedder``.

Images and texts go into one vector space, so an image index can be searched with a query image or a text. The model
ids are looked up in the registry of ``embedders`` (``model_family``), which also lends the sized-embedder base class;
clients, retries and error translation: ``calls``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any, Final

from chalicelib.core.errors import InternalError
from chalicelib.core.ports.models import ImageEmbedder, detect_image_format
from chalicelib.models.bedrock.embedders import SizedEmbedder, checked_vector, model_family

TITAN_MULTIMODAL_DIMENSIONS: Final = (256, 384, 1024)


class TitanMultimodalEmbedder(SizedEmbedder):
    """Amazon Titan Multimodal Embeddings G1 (``amazon.titan-embed-image-v1``) behind the ``ImageEmbedder`` protocol.

    Body ``{"inputImage": <base64>}`` or ``{"inputText": ...}`` plus ``{"embeddingConfig": {"outputEmbeddingLength":
    256 | 384 | 1024}}``; the response's ``embedding`` is the vector (Bedrock user guide, "Amazon Titan Multimodal
    Embeddings G1", model-parameters-titan-embed-mm). The model takes one of each per call and would average an image
    and a text sent together, so they are always sent alone. Texts are limited to 256 tokens by the model and are
    sent as they are: a longer one is rejected by Bedrock (``InternalError`` here), not cut.
    ``name`` includes the dimension, as for ``TitanEmbedder``.
    """

    LABEL = "Titan Multimodal"
    DIMENSIONS = TITAN_MULTIMODAL_DIMENSIONS

    def __init__(self, client: Any, model_id: str = "amazon.titan-embed-image-v1", dimension: int = 1024) -> None:
        super().__init__(client, model_id, dimension)

    def embed_image(self, image: bytes) -> list[float]:
        if not image:
            raise ValueError("image is empty")
        return self._embed({"inputImage": base64.b64encode(image).decode("ascii")})

    def embed_indexed_image(self, image: bytes) -> list[float]:
        return self.embed_image(image)  # Titan embeds stored and query images alike

    def embed_text(self, text: str) -> list[float]:
        return self._embed({"inputText": text})

    def _embed(self, body: dict[str, Any]) -> list[float]:
        body["embeddingConfig"] = {"outputEmbeddingLength": self._dimension}
        response = self._invoke_json(self._model_id, body)
        return checked_vector(response.get("embedding"), self._dimension, self._model_id)


NOVA_MULTIMODAL_DIMENSIONS: Final = (256, 384, 1024, 3072)
# The schema's embeddingPurpose values. Content is indexed with GENERIC_INDEX; queries use a *_RETRIEVAL value,
# GENERIC_RETRIEVAL being the one that does not assume what modality the index holds. CLASSIFICATION and CLUSTERING
# are accepted for completeness; search does not use them.
NOVA_EMBEDDING_PURPOSES: Final = (
    "GENERIC_INDEX",
    "GENERIC_RETRIEVAL",
    "TEXT_RETRIEVAL",
    "IMAGE_RETRIEVAL",
    "VIDEO_RETRIEVAL",
    "DOCUMENT_RETRIEVAL",
    "AUDIO_RETRIEVAL",
    "CLASSIFICATION",
    "CLUSTERING",
)
NOVA_SCHEMA_VERSION: Final = "nova-multimodal-embed-v1"


class NovaMultimodalEmbedder(SizedEmbedder):
    """Amazon Nova Multimodal Embeddings (``amazon.nova-2-multimodal-embeddings-v1:0``) behind ``ImageEmbedder``.

    Request and response, from the Amazon Nova user guide, "Complete embeddings request and response schema"
    (https://docs.aws.amazon.com/nova/latest/userguide/embeddings-schema.html), synchronous ``InvokeModel``::

        {"schemaVersion": "nova-multimodal-embed-v1", "taskType": "SINGLE_EMBEDDING",
         "singleEmbeddingParams": {"embeddingPurpose": "GENERIC_INDEX" | "GENERIC_RETRIEVAL" | ...,
                                   "embeddingDimension": 256 | 384 | 1024 | 3072,
                                   "image": {"detailLevel": "STANDARD_IMAGE" | "DOCUMENT_IMAGE",
                                             "format": "png" | "jpeg" | "gif" | "webp", "source": {"bytes": <b64>}}
                                   | "text": {"truncationMode": "START" | "END" | "NONE", "value": <str>}}}
        -> {"embeddings": [{"embeddingType": "IMAGE" | "TEXT" | ..., "embedding": [...],
                            "truncatedCharLength": <int, texts only>}]}

    (``source.bytes`` and the response shape also match the published samples and LiteLLM's Nova transformation.)
    The image ``format`` is detected from the bytes' magic number. ``detailLevel`` is sent as ``STANDARD_IMAGE``
    (photos and pictures; ``DOCUMENT_IMAGE`` is meant for document pages) rather than relying on a default. Long
    texts are cut at the end (``truncationMode: END``) rather than rejected.

    Purposes: images stored in an index (``embed_indexed_image``) are embedded with ``GENERIC_INDEX``; query images and
    texts with ``purpose`` (default ``GENERIC_RETRIEVAL``, the query side of such an index). One instance serves both
    sides of one index, so ``name`` (model and dimension) identifies the index's vector space, not a purpose.
    """

    LABEL = "Nova Multimodal"
    DIMENSIONS = NOVA_MULTIMODAL_DIMENSIONS

    def __init__(
        self,
        client: Any,
        model_id: str = "amazon.nova-2-multimodal-embeddings-v1:0",
        dimension: int = 1024,
        *,
        purpose: str = "GENERIC_RETRIEVAL",
    ) -> None:
        if purpose not in NOVA_EMBEDDING_PURPOSES:
            raise ValueError(f"Nova embedding purpose must be one of {NOVA_EMBEDDING_PURPOSES}, got {purpose!r}")
        super().__init__(client, model_id, dimension)
        self._purpose = purpose

    def embed_image(self, image: bytes) -> list[float]:
        return self._embed(self._image_content(image), self._purpose)

    def embed_indexed_image(self, image: bytes) -> list[float]:
        return self._embed(self._image_content(image), "GENERIC_INDEX")

    def embed_text(self, text: str) -> list[float]:
        return self._embed({"text": {"truncationMode": "END", "value": text}}, self._purpose)

    @staticmethod
    def _image_content(image: bytes) -> dict[str, Any]:
        image_format = detect_image_format(image)
        if image_format is None:
            raise ValueError("image is not a PNG, JPEG, GIF or WEBP file")
        source = {"bytes": base64.b64encode(image).decode("ascii")}
        return {"image": {"detailLevel": "STANDARD_IMAGE", "format": image_format, "source": source}}

    def _embed(self, content: dict[str, Any], purpose: str) -> list[float]:
        body = {
            "schemaVersion": NOVA_SCHEMA_VERSION,
            "taskType": "SINGLE_EMBEDDING",
            "singleEmbeddingParams": {
                "embeddingPurpose": purpose,
                "embeddingDimension": self._dimension,
                **content,
            },
        }
        embeddings = self._invoke_json(self._model_id, body).get("embeddings")
        if not isinstance(embeddings, list) or len(embeddings) != 1 or not isinstance(embeddings[0], dict):
            raise InternalError(f"Bedrock model {self._model_id} did not return exactly one embedding")
        return checked_vector(embeddings[0].get("embedding"), self._dimension, self._model_id)


ImageEmbedderFactory = Callable[..., ImageEmbedder]
IMAGE_EMBEDDER_FACTORIES: Final[Mapping[str, ImageEmbedderFactory]] = {
    "titan-multimodal": TitanMultimodalEmbedder,
    "nova-multimodal": NovaMultimodalEmbedder,
}


def build_image_embedder(client: Any, model_id: str, **options: Any) -> ImageEmbedder:
    """An image embedder for ``model_id``, cross-region prefixes accepted (``us.amazon.nova-2-...``).

    Both classes take ``dimension``; Nova also takes ``purpose``. ``ValueError`` for an unknown id or a text-only
    model.
    """
    family = model_family(model_id)
    factory = IMAGE_EMBEDDER_FACTORIES.get(family)
    if factory is None:
        raise ValueError(f"Bedrock model {model_id!r} ({family}) is not an image embedder")
    return factory(client, model_id, **options)
