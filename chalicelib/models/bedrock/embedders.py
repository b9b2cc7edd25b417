"""Bedrock text embedders (Titan Text Embeddings V2, Cohere Embed) and the registry of the model ids Sift knows.

The registry (``MODEL_FAMILIES``, ``model_family``) is the one place that knows Bedrock model ids, text and image
embedders alike: ``build_embedder`` here and ``build_image_embedder`` in ``image_embedders`` both look a model id up
in it, and so does ``chalicelib.composition`` to check the configured ids. ``SizedEmbedder`` and ``checked_vector``
are shared with the image embedders. Clients, retries and error translation: ``calls``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from chalicelib.core.errors import InternalError
from chalicelib.core.ports.models import Embedder
from chalicelib.models.bedrock.calls import BedrockModel


def checked_vector(value: Any, dimension: int, model_id: str) -> list[float]:
    """``value`` as a vector of floats; ``InternalError`` unless it is a list of ``dimension`` numbers."""
    if not isinstance(value, list) or len(value) != dimension:
        size = len(value) if isinstance(value, list) else type(value).__name__
        raise InternalError(f"Bedrock model {model_id} returned an embedding of size {size}, expected {dimension}")
    return [float(x) for x in value]


class SizedEmbedder(BedrockModel):
    """An embedder with a fixed menu of output sizes; ``name`` is ``model/size``, its vector space (the embedding cache
    is keyed by it: the same model gives different vectors at different sizes)."""

    LABEL: str = ""
    DIMENSIONS: tuple[int, ...] = ()

    def __init__(self, client: Any, model_id: str, dimension: int) -> None:
        if dimension not in self.DIMENSIONS:
            raise ValueError(f"{self.LABEL} dimension must be one of {self.DIMENSIONS}, got {dimension!r}")
        super().__init__(client)
        self._model_id = model_id
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"{self._model_id}/{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension


TITAN_V2_DIMENSIONS: Final = (256, 512, 1024)


class TitanEmbedder(SizedEmbedder):
    """Amazon Titan Text Embeddings V2: one ``InvokeModel`` call per text (the model takes one input per call).

    Vectors are unit-normalised by the model (``"normalize": true``). ``name`` includes the dimension, because the
    embedding cache is keyed by name and the same model gives different vectors at different dimensions.
    """

    LABEL = "Titan V2"
    DIMENSIONS = TITAN_V2_DIMENSIONS

    def __init__(self, client: Any, model_id: str = "amazon.titan-embed-text-v2:0", dimensions: int = 1024) -> None:
        super().__init__(client, model_id, dimensions)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)

    def _embed(self, text: str) -> list[float]:
        body = {"inputText": text, "dimensions": self._dimension, "normalize": True}
        response = self._invoke_json(self._model_id, body)
        return checked_vector(response.get("embedding"), self._dimension, self._model_id)


COHERE_MAX_TEXTS: Final = 96  # Cohere Embed on Bedrock accepts at most 96 texts per call


class CohereEmbedder(BedrockModel):
    """Cohere Embed (v3) on Bedrock: documents in batches of 96, ``input_type`` distinguishes documents and queries."""

    def __init__(self, client: Any, model_id: str = "cohere.embed-multilingual-v3", dimension: int = 1024) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be positive, got {dimension!r}")
        super().__init__(client)
        self._model_id = model_id
        self._dimension = dimension

    @property
    def name(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), COHERE_MAX_TEXTS):
            vectors.extend(self._embed(texts[start : start + COHERE_MAX_TEXTS], "search_document"))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text], "search_query")[0]

    def _embed(self, texts: Sequence[str], input_type: str) -> list[list[float]]:
        body = {"texts": list(texts), "input_type": input_type, "truncate": "END"}
        embeddings = self._invoke_json(self._model_id, body).get("embeddings")
        if not isinstance(embeddings, list) or len(embeddings) != len(texts):
            raise InternalError(f"Bedrock model {self._model_id} returned a wrong number of embeddings")
        return [checked_vector(vector, self._dimension, self._model_id) for vector in embeddings]


# --- model registry ---------------------------------------------------------------------------------------------------

# Cross-region inference profile ids are "<geography>.<model id>", e.g. "us.amazon.titan-embed-text-v2:0".
CROSS_REGION_PREFIXES: Final = ("us-gov", "us", "eu", "apac", "ap", "ca", "jp", "au", "global")

# Model id prefix (after any cross-region prefix) -> family. The one place that knows model ids.
MODEL_FAMILIES: Final[Mapping[str, str]] = {
    "amazon.titan-embed-text-v2": "titan",
    "cohere.embed-": "cohere",
    # Multimodal (image) embedders: built by ``image_embedders.build_image_embedder``.
    "amazon.titan-embed-image-v1": "titan-multimodal",
    "amazon.nova-2-multimodal-embeddings-v1": "nova-multimodal",
}

EmbedderFactory = Callable[..., Embedder]
EMBEDDER_FACTORIES: Final[Mapping[str, EmbedderFactory]] = {
    "titan": TitanEmbedder,
    "cohere": CohereEmbedder,
}


def base_model_id(model_id: str) -> str:
    """``model_id`` without a cross-region inference prefix (``eu.cohere.embed-v4:0`` -> ``cohere.embed-v4:0``)."""
    geography, dot, rest = model_id.partition(".")
    return rest if dot and geography in CROSS_REGION_PREFIXES else model_id


def model_family(model_id: str) -> str:
    """The family of a Bedrock model id or inference profile id; ``ValueError`` if no table entry matches."""
    base = base_model_id(model_id)
    # Longest prefix first, so a more specific entry wins over a general one.
    for prefix in sorted(MODEL_FAMILIES, key=len, reverse=True):
        if base.startswith(prefix):
            return MODEL_FAMILIES[prefix]
    raise ValueError(f"unknown Bedrock model id {model_id!r}; known families: {sorted(set(MODEL_FAMILIES.values()))}")


def build_embedder(client: Any, model_id: str, **options: Any) -> Embedder:
    """An embedder for ``model_id`` (the id as given, prefix included, is what is invoked)."""
    family = model_family(model_id)
    factory = EMBEDDER_FACTORIES.get(family)
    if factory is None:
        raise ValueError(f"Bedrock model {model_id!r} ({family}) is not a text embedder; use build_image_embedder")
    return factory(client, model_id, **options)
