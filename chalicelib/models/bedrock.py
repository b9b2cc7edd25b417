"""Amazon Bedrock implementations of the model protocols in ``chalicelib.core.ports.models``.

Every class takes its boto3 client through the constructor (``bedrock-runtime`` for the embedders, the rewriter and
the generator, ``bedrock-agent-runtime`` for the reranker); nothing here creates a client, so tests can hand in a
stubbed client and the app decides region, credentials and botocore retry settings.

Errors are translated once, in ``call_bedrock``:
- ``ThrottlingException`` is retried with exponential backoff (``max_attempts`` calls in all, ``sleep`` injectable);
  when every attempt is throttled the caller gets ``ThrottlingError`` (HTTP 429).
- Transient service faults and timeouts become ``ServiceUnavailableError`` (HTTP 503), which the caller may retry.
- ``ValidationException``, ``AccessDeniedException`` and ``ResourceNotFoundException`` mean the deployment is
  misconfigured (wrong model id or ARN, model access not granted, bad IAM policy, malformed request) and become
  ``InternalError`` with a message saying so. Anything else unexpected is an ``InternalError`` too.
The injected client's own botocore retries still apply underneath; configure it with few attempts (for example
``Config(retries={"mode": "standard", "max_attempts": 1})``) if the backoff here should be the only one.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from chalicelib.core.errors import InternalError, ServiceUnavailableError, ThrottlingError
from chalicelib.core.ports.models import (
    MODE_INSTRUCTIONS,
    ChatMessage,
    Embedder,
    ImageEmbedder,
    RerankCandidate,
    RerankMode,
    RerankRequest,
    detect_image_format,
)

T = TypeVar("T")

# --- error translation ------------------------------------------------------------------------------------------------

THROTTLING_MESSAGE: Final = "Bedrock is throttling requests; retry later"
DEFAULT_MAX_ATTEMPTS: Final = 3
DEFAULT_BASE_DELAY: Final = 0.2  # seconds; attempts wait 0.2 s, 0.4 s, ... between them

_THROTTLING_CODES: Final = frozenset({"ThrottlingException", "TooManyRequestsException"})
_UNAVAILABLE_CODES: Final = frozenset(
    {
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "ModelTimeoutException",
        "InternalServerException",
        "BadGatewayException",
        "DependencyFailedException",
    }
)
_CONFIGURATION_CODES: Final = frozenset({"ValidationException", "AccessDeniedException", "ResourceNotFoundException"})
_TIMEOUTS: Final = (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError)

Sleep = Callable[[float], None]


def call_bedrock(
    operation: str,
    call: Callable[[], T],
    *,
    sleep: Sleep = time.sleep,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY,
) -> T:
    """Run ``call``, retrying throttling with exponential backoff and translating failures to service errors."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    for attempt in range(max_attempts):
        try:
            return call()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            detail = str(error.get("Message", "")) or code
            if code in _THROTTLING_CODES:
                if attempt + 1 < max_attempts:
                    sleep(base_delay * (2**attempt))
                    continue
                raise ThrottlingError(THROTTLING_MESSAGE) from exc
            if code in _UNAVAILABLE_CODES:
                raise ServiceUnavailableError(
                    f"Bedrock {operation} is temporarily unavailable ({code}); retry later"
                ) from exc
            if code in _CONFIGURATION_CODES:
                raise InternalError(
                    f"Bedrock {operation} was rejected ({code}: {detail}); check the configured model id or ARN, "
                    "model access and IAM permissions"
                ) from exc
            raise InternalError(f"Bedrock {operation} failed ({code or 'unknown error'}: {detail})") from exc
        except _TIMEOUTS as exc:
            raise ServiceUnavailableError(f"Bedrock {operation} did not answer in time; retry later") from exc
    raise AssertionError("unreachable")  # the loop either returns or raises


class _BedrockModel:
    """Shared plumbing: the injected client and the retry policy."""

    def __init__(self, client: Any, *, sleep: Sleep, max_attempts: int, base_delay: float) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._client = client
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._base_delay = base_delay

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        return call_bedrock(
            operation, call, sleep=self._sleep, max_attempts=self._max_attempts, base_delay=self._base_delay
        )

    def _invoke_json(self, model_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``InvokeModel`` with a JSON body; the decoded JSON response."""
        encoded = json.dumps(body)

        def invoke() -> dict[str, Any]:
            response = self._client.invoke_model(
                modelId=model_id, body=encoded, contentType="application/json", accept="application/json"
            )
            return dict(response)

        response = self._call(f"InvokeModel({model_id})", invoke)
        try:
            decoded = json.loads(response["body"].read())
        except (KeyError, ValueError) as exc:
            raise InternalError(f"Bedrock model {model_id} returned a response that is not JSON") from exc
        if not isinstance(decoded, dict):
            raise InternalError(f"Bedrock model {model_id} returned an unexpected response")
        return decoded


def _vector(value: Any, dimension: int, model_id: str) -> list[float]:
    if not isinstance(value, list) or len(value) != dimension:
        size = len(value) if isinstance(value, list) else type(value).__name__
        raise InternalError(f"Bedrock model {model_id} returned an embedding of size {size}, expected {dimension}")
    return [float(x) for x in value]


# --- embedders --------------------------------------------------------------------------------------------------------

TITAN_V2_DIMENSIONS: Final = (256, 512, 1024)


class _SizedModel(_BedrockModel):
    """An embedder with a fixed menu of output sizes; ``name`` is ``model/size``, its vector space (the embedding cache
    is keyed by it: the same model gives different vectors at different sizes)."""

    LABEL: str = ""
    DIMENSIONS: tuple[int, ...] = ()

    def __init__(
        self, client: Any, model_id: str, dimension: int, *, sleep: Sleep, max_attempts: int, base_delay: float
    ) -> None:
        if dimension not in self.DIMENSIONS:
            raise ValueError(f"{self.LABEL} dimension must be one of {self.DIMENSIONS}, got {dimension!r}")
        super().__init__(client, sleep=sleep, max_attempts=max_attempts, base_delay=base_delay)
        self._model_id = model_id
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"{self._model_id}/{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension


class TitanEmbedder(_SizedModel):
    """Amazon Titan Text Embeddings V2: one ``InvokeModel`` call per text (the model takes one input per call).

    Vectors are unit-normalised by the model (``"normalize": true``). ``name`` includes the dimension, because the
    embedding cache is keyed by name and the same model gives different vectors at different dimensions.
    """

    LABEL = "Titan V2"
    DIMENSIONS = TITAN_V2_DIMENSIONS

    def __init__(
        self,
        client: Any,
        model_id: str = "amazon.titan-embed-text-v2:0",
        dimensions: int = 1024,
        *,
        sleep: Sleep = time.sleep,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
    ) -> None:
        super().__init__(client, model_id, dimensions, sleep=sleep, max_attempts=max_attempts, base_delay=base_delay)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)

    def _embed(self, text: str) -> list[float]:
        body = {"inputText": text, "dimensions": self._dimension, "normalize": True}
        response = self._invoke_json(self._model_id, body)
        return _vector(response.get("embedding"), self._dimension, self._model_id)


COHERE_MAX_TEXTS: Final = 96  # Cohere Embed on Bedrock accepts at most 96 texts per call


class CohereEmbedder(_BedrockModel):
    """Cohere Embed (v3) on Bedrock: documents in batches of 96, ``input_type`` distinguishes documents and queries."""

    def __init__(
        self,
        client: Any,
        model_id: str = "cohere.embed-multilingual-v3",
        dimension: int = 1024,
        *,
        sleep: Sleep = time.sleep,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
    ) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be positive, got {dimension!r}")
        super().__init__(client, sleep=sleep, max_attempts=max_attempts, base_delay=base_delay)
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
        return [_vector(vector, self._dimension, self._model_id) for vector in embeddings]


# --- model registry ---------------------------------------------------------------------------------------------------

# Cross-region inference profile ids are "<geography>.<model id>", e.g. "us.amazon.titan-embed-text-v2:0".
CROSS_REGION_PREFIXES: Final = ("us-gov", "us", "eu", "apac", "ap", "ca", "jp", "au", "global")

# Model id prefix (after any cross-region prefix) -> family. The one place that knows model ids.
MODEL_FAMILIES: Final[Mapping[str, str]] = {
    "amazon.titan-embed-text-v2": "titan",
    "cohere.embed-": "cohere",
    # Multimodal (image) embedders: built by ``build_image_embedder``, see the section at the end of this module.
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


# --- reranker ---------------------------------------------------------------------------------------------------------

# From the bedrock-agent-runtime service model (Rerank): 1..1000 sources per call, numberOfResults 1..1000, exactly
# one query, texts of 1..32000 characters.
RERANK_MAX_SOURCES: Final = 1000
RERANK_MAX_TEXT: Final = 32000


class BedrockReranker(_BedrockModel):
    """The Bedrock ``Rerank`` API (Amazon Rerank, Cohere Rerank) behind the ``Reranker`` protocol.

    Instructions: the Rerank API has no instruction field (only one query text per call), so the mode's
    instruction (``MODE_INSTRUCTIONS``) or, in custom mode, ``RerankInstruct`` is put in front of the query:
    ``f"{instruction}\\n{query}"``. The rerank models read the query as free text, so the instruction steers the
    relevance judgement the same way it does for an instruction-following reranker; without it the modes would be
    indistinguishable. Custom mode with an empty instruction sends the bare query.

    Limits: a call takes at most 1000 sources, so larger candidate sets are reranked in batches of 1000. The models'
    relevance scores are per (query, document) pair and do not depend on the other documents in the call, so scores
    from different batches are comparable. Candidates with empty text cannot be sent (the API requires 1+ characters)
    and score 0.0, as do candidates missing from the results. Texts longer than 32000 characters are cut to fit.
    Scores are clamped to [0, 1].
    """

    def __init__(
        self,
        client: Any,
        model_arn: str,
        *,
        sleep: Sleep = time.sleep,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        batch_size: int = RERANK_MAX_SOURCES,
    ) -> None:
        if not 1 <= batch_size <= RERANK_MAX_SOURCES:
            raise ValueError(f"batch_size must be in [1, {RERANK_MAX_SOURCES}], got {batch_size!r}")
        super().__init__(client, sleep=sleep, max_attempts=max_attempts, base_delay=base_delay)
        self._model_arn = model_arn
        self._batch_size = batch_size

    @property
    def name(self) -> str:
        return self._model_arn

    @staticmethod
    def query_text(request: RerankRequest) -> str:
        """The query text sent to the API: the instruction for the mode, a newline, the query."""
        if request.mode is RerankMode.CUSTOM:
            instruction = request.instruction.strip()
        else:
            instruction = MODE_INSTRUCTIONS[request.mode]
        text = f"{instruction}\n{request.query}" if instruction else request.query
        return text[:RERANK_MAX_TEXT]

    def rerank(self, request: RerankRequest, candidates: Sequence[RerankCandidate]) -> list[float]:
        scores = [0.0] * len(candidates)
        query = self.query_text(request)
        if not query.strip():
            return scores
        sendable = [position for position, candidate in enumerate(candidates) if candidate.text]
        for start in range(0, len(sendable), self._batch_size):
            batch = sendable[start : start + self._batch_size]
            for index, score in self._rerank_batch(query, [candidates[p].text for p in batch]).items():
                if 0 <= index < len(batch):
                    scores[batch[index]] = min(1.0, max(0.0, score))
        return scores

    def _rerank_batch(self, query: str, texts: Sequence[str]) -> dict[int, float]:
        """Relevance score by index into ``texts``, following ``nextToken`` if the results come in pages."""
        params: dict[str, Any] = {
            "queries": [{"type": "TEXT", "textQuery": {"text": query}}],
            "sources": [
                {
                    "type": "INLINE",
                    "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text[:RERANK_MAX_TEXT]}},
                }
                for text in texts
            ],
            "rerankingConfiguration": {
                "type": "BEDROCK_RERANKING_MODEL",
                "bedrockRerankingConfiguration": {
                    "numberOfResults": len(texts),
                    "modelConfiguration": {"modelArn": self._model_arn},
                },
            },
        }
        scores: dict[int, float] = {}
        token: str | None = None
        while True:
            page_params = dict(params, nextToken=token) if token else params
            response = self._call("Rerank", functools.partial(self._rerank_call, page_params))
            for result in response.get("results", []):
                scores[int(result["index"])] = float(result["relevanceScore"])
            token = response.get("nextToken")
            if not token:
                return scores

    def _rerank_call(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._client.rerank(**params))


# --- query rewriter ---------------------------------------------------------------------------------------------------

REWRITE_SYSTEM_PROMPT: Final = (
    "You rewrite the latest user question of a conversation into one standalone search query for a document "
    "retrieval system. Resolve pronouns and references using the conversation, keep the user's language and key "
    "terms, and do not answer the question. Reply with the search query only: one line, no quotes, no explanation."
)


def converse_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """``messages`` as Converse wants them: starting with a user turn, roles alternating.

    Any role other than ``assistant`` counts as ``user``; blank messages are dropped; consecutive turns of one role
    are joined with a blank line; a conversation that opens with the assistant gets a placeholder user turn first.
    ``ValueError`` if nothing is left: Converse refuses an empty message list.
    """
    merged: list[tuple[str, str]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        text = message.content.strip()
        if not text:
            continue
        if merged and merged[-1][0] == role:
            merged[-1] = (role, f"{merged[-1][1]}\n\n{text}")
        else:
            merged.append((role, text))
    if not merged:
        raise ValueError("a Converse request needs at least one non-blank message")
    if merged[0][0] != "user":
        merged.insert(0, ("user", "(earlier conversation omitted)"))
    return [{"role": role, "content": [{"text": text}]} for role, text in merged]


def converse_text(response: Mapping[str, Any]) -> str:
    """The text blocks of a Converse response's output message, joined and stripped (``""`` if there are none)."""
    content = response.get("output", {}).get("message", {}).get("content", [])
    return "".join(str(block.get("text", "")) for block in content if isinstance(block, dict)).strip()


class ConverseRewriter(_BedrockModel):
    """A ``QueryRewriter`` on the Bedrock ``Converse`` API (any chat model or inference profile).

    The history becomes the message list and the latest question the final user message. Converse wants the
    messages to start with a user turn and alternate, so consecutive turns of one role are joined and a history
    that opens with the assistant gets a placeholder user turn first. Empty output raises ``InternalError``: there
    is deliberately no silent fallback to the unrewritten query.
    """

    def __init__(
        self,
        client: Any,
        model_id: str,
        *,
        max_tokens: int = 256,
        history_turns: int = 10,
        sleep: Sleep = time.sleep,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
    ) -> None:
        super().__init__(client, sleep=sleep, max_attempts=max_attempts, base_delay=base_delay)
        self._model_id = model_id
        self._max_tokens = max_tokens
        self._history_turns = history_turns

    @property
    def name(self) -> str:
        return self._model_id

    def messages(self, history: Sequence[ChatMessage], query: str) -> list[dict[str, Any]]:
        recent = history[-self._history_turns :] if self._history_turns > 0 else []
        return converse_messages([*recent, ChatMessage("user", f"Latest question: {query.strip()}")])

    def rewrite(self, history: Sequence[ChatMessage], query: str) -> str:
        params = {
            "modelId": self._model_id,
            "system": [{"text": REWRITE_SYSTEM_PROMPT}],
            "messages": self.messages(history, query),
            "inferenceConfig": {"maxTokens": self._max_tokens, "temperature": 0.0},
        }
        text = converse_text(self._call(f"Converse({self._model_id})", lambda: dict(self._client.converse(**params))))
        if not text:
            raise InternalError(f"Bedrock model {self._model_id} returned an empty query rewrite")
        return text


# --- multimodal (image) embedders -------------------------------------------------------------------------------------

TITAN_MULTIMODAL_DIMENSIONS: Final = (256, 384, 1024)


class TitanMultimodalEmbedder(_SizedModel):
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

    def __init__(
        self,
        client: Any,
        model_id: str = "amazon.titan-embed-image-v1",
        dimension: int = 1024,
        *,
        sleep: Sleep = time.sleep,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
    ) -> None:
        super().__init__(client, model_id, dimension, sleep=sleep, max_attempts=max_attempts, base_delay=base_delay)

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
        return _vector(response.get("embedding"), self._dimension, self._model_id)


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


class NovaMultimodalEmbedder(_SizedModel):
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
        sleep: Sleep = time.sleep,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
    ) -> None:
        if purpose not in NOVA_EMBEDDING_PURPOSES:
            raise ValueError(f"Nova embedding purpose must be one of {NOVA_EMBEDDING_PURPOSES}, got {purpose!r}")
        super().__init__(client, model_id, dimension, sleep=sleep, max_attempts=max_attempts, base_delay=base_delay)
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
        return _vector(embeddings[0].get("embedding"), self._dimension, self._model_id)


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


# --- generator --------------------------------------------------------------------------------------------------------


class ConverseGenerator(_BedrockModel):
    """A ``Generator`` on the Bedrock ``Converse`` API (any chat model or inference profile), for ContextualAnswer.

    The system prompt goes in Converse's ``system`` field, where chat models give it more weight than a user turn,
    and the messages are made to alternate by ``converse_messages`` (the same rules as ``ConverseRewriter``).
    Decoding is greedy (``temperature`` 0): an answer grounded in documents should not vary between calls. Empty
    output raises ``InternalError`` rather than returning ``""``: the caller cannot tell an empty reply from a broken
    model, and must not mistake it for an answer.
    """

    def __init__(
        self,
        client: Any,
        model_id: str,
        *,
        sleep: Sleep = time.sleep,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
    ) -> None:
        super().__init__(client, sleep=sleep, max_attempts=max_attempts, base_delay=base_delay)
        self._model_id = model_id

    @property
    def name(self) -> str:
        return self._model_id

    def generate(self, system: str, messages: Sequence[ChatMessage], *, max_tokens: int) -> str:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {max_tokens!r}")
        params: dict[str, Any] = {
            "modelId": self._model_id,
            "messages": converse_messages(messages),
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0},
        }
        if system.strip():  # Converse rejects an empty system text block
            params["system"] = [{"text": system}]
        text = converse_text(self._call(f"Converse({self._model_id})", lambda: dict(self._client.converse(**params))))
        if not text:
            raise InternalError(f"Bedrock model {self._model_id} returned an empty reply")
        return text
