"""A fake Amazon Bedrock that answers at the HTTP layer, for tests and the cost benchmark.

Why the HTTP layer and not botocore's ``Stubber``: a Stubber answers *before* serialisation, so nothing is signed or
sent and there are no bytes to count. ``FakeBedrock`` instead hooks ``before-send`` on a real ``bedrock-runtime`` or
``bedrock-agent-runtime`` client — after parameter validation, serialisation and SigV4 signing — and returns the
HTTP response Bedrock would send, which botocore then parses against the service model exactly as it would a real
one (a wrongly shaped answer fails parsing). So the request and response bytes recorded per call are the bytes a
deployed function would send and receive (bodies only, as ``tests.fakes.opensearch`` records them; headers and TLS
are not counted).

Attach it with ``FakeBedrock().attach(client)``. It serves:

- ``InvokeModel`` for Amazon Titan Text Embeddings V2 (``amazon.titan-embed-text-v2:0``): the
  ``HashingEmbedder`` vector of ``inputText`` at the requested ``dimensions``, so texts that share words get close
  vectors. A hashing vector is mostly zeros, while a real embedding is dense and its JSON is what Sift ships
  around (about 12 KB from Titan, about 20 KB in an ``msearch`` after Sift re-normalises it); so every component
  also gets a small deterministic offset derived from the text (``DENSE_NOISE``, too small to change which texts
  are close) and is printed with Titan's precision (8 significant digits). Sizes are then realistic.
- ``InvokeModel`` for Amazon Titan Multimodal Embeddings G1 (``amazon.titan-embed-image-v1``): an image becomes a
  dense unit vector derived from a hash of its bytes (the same image, the same vector); a text is embedded as above.
- ``Rerank`` (``bedrock-agent-runtime``) for ``amazon.rerank-v1:0`` and ``cohere.rerank-v3-5:0``: each source
  scores the share of the query's content words it contains, best first, cut to ``numberOfResults``.
- ``Converse`` for chat models (Nova, Claude, Llama, Mistral, Command): the assistant repeats the last user text.

Anything else — another operation, an unknown model, a malformed body, an extraneous body key the real model would
reject — is answered with HTTP 400 ``ValidationException``, which the client raises as a ``ClientError``: never a
silent default that would let a wiring mistake pass. Every call is recorded (``calls``) with its service, operation,
model id, request and response bytes and HTTP status.

moto: ``mock_aws`` adds its own ``before-send`` handler to every client, and botocore calls *every* ``before-send``
handler (it then uses the first answer). ``register_first`` makes this fake's answer the one used, but moto's
handler would still run afterwards — and moto serves ``bedrock-runtime`` itself (an empty ``InvokeModel`` answer,
``NotImplementedError`` for ``Converse``, which escapes and fails the call). So ``attach`` also removes moto's
handler from the clients it takes over (only from those: DynamoDB and S3 clients stay with moto).

``ScriptedBedrock`` answers at the same layer from a script instead of models (``.error(...)``, ``.answer(...)``, one
answer per attempt): for tests of what botocore's retry handler does with Bedrock's answers, which a ``Stubber``
cannot show — it answers in ``before-call``, before the retry handler ever runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import struct
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HeadersDict

from chalicelib.core.text import ENGLISH_STOPWORDS, words
from chalicelib.models.bedrock.embedders import base_model_id
from chalicelib.models.local import HashingEmbedder

SERVICES: Final = ("bedrock-runtime", "bedrock-agent-runtime")
TITAN_TEXT_V2: Final = "amazon.titan-embed-text-v2"
TITAN_MULTIMODAL: Final = "amazon.titan-embed-image-v1"
TITAN_TEXT_DIMENSIONS: Final = (256, 512, 1024)
TITAN_MULTIMODAL_DIMENSIONS: Final = (256, 384, 1024)
RERANK_MODELS: Final = ("amazon.rerank-v1", "cohere.rerank-v3-5")
CHAT_MODEL_PREFIXES: Final = ("amazon.nova-", "anthropic.claude-", "meta.llama", "mistral.", "cohere.command")
# Weight of the dense offset added to a hashing vector (which has unit norm): cross terms between two texts' offsets
# and vectors are of the order DENSE_NOISE / sqrt(dimension), a few thousandths, far below a shared word's weight.
DENSE_NOISE: Final = 0.1
SIGNIFICANT_DIGITS: Final = 8  # what Titan prints: float32 values such as -0.029338104

_TITAN_TEXT_KEYS: Final = frozenset({"inputText", "dimensions", "normalize", "embeddingTypes"})
_TITAN_MULTIMODAL_KEYS: Final = frozenset({"inputText", "inputImage", "embeddingConfig"})


@dataclass(frozen=True, slots=True)
class BedrockCall:
    """One HTTP round trip to Bedrock, as the fake saw it."""

    service: str  # "bedrock-runtime" | "bedrock-agent-runtime"
    operation: str  # "InvokeModel" | "Rerank" | "Converse" | whatever else was attempted
    model_id: str  # as the request named it (URL path or body); "" when it named none
    request_bytes: int
    response_bytes: int
    status: int


class _Rejected(Exception):
    """An answer with an error status: what Bedrock itself would refuse."""

    def __init__(self, message: str, code: str = "ValidationException", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.model_id = ""  # set on the way out when the request named one


class _RawBody:
    """The ``raw`` of an ``AWSResponse``: ``stream()`` for ``.content``, ``read()`` for streaming outputs."""

    def __init__(self, content: bytes) -> None:
        self._content = content
        self._position = 0

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content

    def read(self, amt: int | None = None) -> bytes:
        end = len(self._content) if amt is None else min(len(self._content), self._position + amt)
        chunk = self._content[self._position : end]
        self._position = end
        return chunk

    def close(self) -> None:
        pass


class FakeBedrock:
    """Bedrock's runtime APIs, deterministic and in memory; see the module docstring."""

    def __init__(self) -> None:
        self.calls: list[BedrockCall] = []
        self._lock = threading.Lock()
        self._request_ids = 0

    def attach(self, client: Any) -> Any:
        """Serve ``client`` (a ``bedrock-runtime`` or ``bedrock-agent-runtime`` client) from now on; returns it."""
        service = client.meta.service_model.service_id.hyphenize()
        if service not in SERVICES:
            raise ValueError(f"FakeBedrock serves {', '.join(SERVICES)}, not {service!r}")
        client.meta.events.register_first(f"before-send.{service}", self._handle)
        moto_models = sys.modules.get("moto.core.models")  # only if moto is in use; never imported from here
        moto_stubber = getattr(moto_models, "botocore_stubber", None)
        if moto_stubber is not None:
            client.meta.events.unregister("before-send", moto_stubber)
        return client

    def calls_to(self, operation: str) -> list[BedrockCall]:
        return [call for call in self.calls if call.operation == operation]

    # --- HTTP -----------------------------------------------------------------------------------------------------

    def _handle(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        _event, service, operation = event_name.split(".", 2)
        body = _body_bytes(request.body)
        payload: Any
        headers: dict[str, str]
        try:
            model_id, payload, headers = self._answer(service, operation, request, body)
            status = 200
        except _Rejected as rejected:
            model_id = rejected.model_id
            payload = {"message": rejected.message}
            status = rejected.status
            headers = {"x-amzn-ErrorType": f"{rejected.code}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
        content = json.dumps(payload, separators=(",", ":")).encode()  # compact, as AWS services answer
        with self._lock:
            self._request_ids += 1
            request_id = f"00000000-0000-4000-8000-{self._request_ids:012d}"
            self.calls.append(BedrockCall(service, operation, model_id, len(body), len(content), status))
        response_headers = HeadersDict(
            {"Content-Type": "application/json", "Content-Length": str(len(content)), "x-amzn-RequestId": request_id,
             **headers}
        )
        return AWSResponse(request.url, status, response_headers, _RawBody(content))

    def _answer(
        self, service: str, operation: str, request: AWSPreparedRequest, body: bytes
    ) -> tuple[str, Any, dict[str, str]]:
        """``(model id, JSON answer, extra headers)``, or ``_Rejected`` carrying the model id the request named."""
        model_id = ""
        try:
            if (service, operation) == ("bedrock-runtime", "InvokeModel"):
                model_id = _model_from_path(request.url, "invoke")
                return model_id, *_invoke_model(model_id, _header(request, "Content-Type"), body)
            if (service, operation) == ("bedrock-runtime", "Converse"):
                model_id = _model_from_path(request.url, "converse")
                if not base_model_id(model_id).startswith(CHAT_MODEL_PREFIXES):
                    raise _Rejected(f"The provided model identifier is invalid (no chat model: {model_id!r})")
                return model_id, converse(_json_object(body)), {}
            if (service, operation) == ("bedrock-agent-runtime", "Rerank"):
                payload = _json_object(body)
                model_id = _rerank_model_arn(payload)
                return model_id, rerank(payload), {}
            raise _Rejected(f"The fake Bedrock does not serve {service} {operation}")
        except _Rejected as rejected:
            rejected.model_id = model_id
            raise


def _invoke_model(model_id: str, content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    if content_type.split(";")[0].strip() != "application/json":
        raise _Rejected(f"The fake serves JSON bodies only, not Content-Type {content_type!r}")
    payload = _json_object(body)
    family = base_model_id(model_id)
    if family.startswith(TITAN_TEXT_V2):
        answer = titan_text_embedding(payload)
    elif family.startswith(TITAN_MULTIMODAL):
        answer = titan_multimodal_embedding(payload)
    else:
        raise _Rejected(f"The provided model identifier is invalid (the fake does not serve {model_id!r})")
    headers = {"X-Amzn-Bedrock-Input-Token-Count": str(answer["inputTextTokenCount"]),
               "X-Amzn-Bedrock-Invocation-Latency": "1"}
    return answer, headers


class ScriptedBedrock:
    """A Bedrock whose answers are scripted: each HTTP send of the client (each attempt botocore makes, its retries
    included) takes the next answer and records its request body in ``sent``. A send with no answer left raises
    ``AssertionError``, which botocore does not retry and the adapters do not translate: the test fails.

    Errors are shaped as Bedrock's (``x-amzn-ErrorType`` header, ``{"message": ...}`` body), so botocore parses the
    code as it would a real one and its retry handler decides on it.
    """

    def __init__(self, client: Any) -> None:
        self.sent: list[bytes] = []
        self._answers: deque[tuple[int, Any, dict[str, str]]] = deque()
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"before-send.{service}", self._send)

    def error(self, code: str, status: int, message: str = "", *, times: int = 1) -> ScriptedBedrock:
        """Answer the next ``times`` attempts with the error ``code`` at HTTP ``status``."""
        headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
        self._answers.extend([(status, {"message": message or code}, headers)] * times)
        return self

    def answer(self, payload: Any) -> ScriptedBedrock:
        """Answer the next attempt with HTTP 200 and ``payload`` as its JSON body."""
        self._answers.append((200, payload, {}))
        return self

    @property
    def pending(self) -> int:
        """Answers not used yet."""
        return len(self._answers)

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        self.sent.append(_body_bytes(request.body))
        if not self._answers:
            raise AssertionError(f"attempt {len(self.sent)} was sent, but the script has no answer left")
        status, payload, headers = self._answers.popleft()
        content = json.dumps(payload).encode()
        response_headers = HeadersDict(
            {"Content-Type": "application/json", "Content-Length": str(len(content)), **headers}
        )
        return AWSResponse(request.url, status, response_headers, _RawBody(content))


# --- models -----------------------------------------------------------------------------------------------------------


def titan_text_embedding(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Titan Text Embeddings V2: ``{"embedding": [...], "inputTextTokenCount": n}``."""
    _no_extra_keys(payload, _TITAN_TEXT_KEYS)
    text = payload.get("inputText")
    if not isinstance(text, str) or not text:
        raise _Rejected("Malformed input request: inputText must be a non-empty string")
    dimension = payload.get("dimensions", 1024)
    if dimension not in TITAN_TEXT_DIMENSIONS:
        raise _Rejected(f"Malformed input request: dimensions must be one of {TITAN_TEXT_DIMENSIONS}")
    return {"embedding": text_vector(text, dimension), "inputTextTokenCount": len(words(text))}


def titan_multimodal_embedding(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Titan Multimodal G1: an image's vector from its bytes' hash, a text's as for Titan Text; both: their mean."""
    _no_extra_keys(payload, _TITAN_MULTIMODAL_KEYS)
    config = payload.get("embeddingConfig", {})
    dimension = config.get("outputEmbeddingLength", 1024) if isinstance(config, dict) else None
    if dimension not in TITAN_MULTIMODAL_DIMENSIONS:
        raise _Rejected(f"Malformed input request: outputEmbeddingLength must be one of {TITAN_MULTIMODAL_DIMENSIONS}")
    parts: list[list[float]] = []
    text = payload.get("inputText")
    if text is not None:
        if not isinstance(text, str) or not text:
            raise _Rejected("Malformed input request: inputText must be a non-empty string")
        parts.append(text_vector(text, dimension))
    image = payload.get("inputImage")
    if image is not None:
        try:
            data = base64.b64decode(str(image), validate=True)
        except binascii.Error:
            raise _Rejected("Malformed input request: inputImage is not base64") from None
        if not data:
            raise _Rejected("Malformed input request: inputImage is empty")
        parts.append(_rounded(_unit(_noise(b"image\x00" + data, dimension))))
    if not parts:
        raise _Rejected("Malformed input request: one of inputText or inputImage is required")
    vector = parts[0] if len(parts) == 1 else _rounded(_unit([sum(values) for values in zip(*parts)]))
    return {"embedding": vector, "inputTextTokenCount": len(words(text)) if isinstance(text, str) else 0}


def text_vector(text: str, dimension: int) -> list[float]:
    """The hashing vector of ``text``, made dense by a small offset of its own, unit length, Titan's precision."""
    sparse = HashingEmbedder(dimension).embed_query(text)
    noise = _unit(_noise(b"text\x00" + text.encode(), dimension))
    return _rounded(_unit([value + DENSE_NOISE * offset for value, offset in zip(sparse, noise)]))


def rerank(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Scores by word overlap, best first (ties by index), cut to ``numberOfResults``."""
    queries = payload.get("queries", [])
    if len(queries) != 1 or queries[0].get("type") != "TEXT":
        raise _Rejected("Rerank takes exactly one TEXT query")
    query_words = _content_words(queries[0]["textQuery"]["text"])
    texts: list[str] = []
    for source in payload.get("sources", []):
        document = source.get("inlineDocumentSource", {})
        if source.get("type") != "INLINE" or document.get("type") != "TEXT":
            raise _Rejected("The fake reranks INLINE TEXT sources only")
        texts.append(document["textDocument"]["text"])
    wanted = payload["rerankingConfiguration"]["bedrockRerankingConfiguration"].get("numberOfResults", len(texts))
    scores = [
        round(len(query_words & _content_words(text)) / len(query_words), 6) if query_words else 0.0 for text in texts
    ]
    order = sorted(range(len(texts)), key=lambda index: (-scores[index], index))[:wanted]
    return {"results": [{"index": index, "relevanceScore": scores[index]} for index in order]}


def converse(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The assistant repeats the last user message's text (the rewriter's query comes back as it was sent)."""
    messages: Sequence[Mapping[str, Any]] = payload.get("messages", [])
    if not messages or messages[-1].get("role") != "user":
        raise _Rejected("A conversation must end with a user message")
    text = "".join(str(block["text"]) for block in messages[-1].get("content", []) if "text" in block)
    if not text:
        raise _Rejected("The last user message has no text")
    prompt = [str(block.get("text", "")) for block in payload.get("system", [])]
    prompt += [str(block.get("text", "")) for message in messages for block in message.get("content", [])]
    input_tokens = sum(len(words(part)) for part in prompt)
    output_tokens = len(words(text))
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens,
                  "totalTokens": input_tokens + output_tokens},
        "metrics": {"latencyMs": 1},
    }


# --- helpers ----------------------------------------------------------------------------------------------------------


def _rerank_model_arn(payload: Mapping[str, Any]) -> str:
    try:
        arn = str(payload["rerankingConfiguration"]["bedrockRerankingConfiguration"]["modelConfiguration"]["modelArn"])
    except (KeyError, TypeError):
        raise _Rejected("rerankingConfiguration names no model") from None
    model_id = arn.rsplit("/", 1)[-1] if arn.startswith("arn:") and ":foundation-model/" in arn else ""
    if not model_id.startswith(RERANK_MODELS):
        raise _Rejected(f"The provided model ARN is invalid (the fake reranks with {RERANK_MODELS}, not {arn!r})")
    return arn


def _model_from_path(url: str, action: str) -> str:
    """``modelId`` from ``/model/{modelId}/{action}`` (botocore percent-encodes it: ``:`` and ``/`` included)."""
    segments = urlsplit(url).path.split("/")
    if len(segments) != 4 or segments[1] != "model" or segments[3] != action or not segments[2]:
        raise _Rejected(f"Unexpected request path {urlsplit(url).path!r}")
    return unquote(segments[2])


def _header(request: AWSPreparedRequest, name: str) -> str:
    """A request header as text (botocore holds prepared headers as bytes)."""
    value = request.headers.get(name, "")
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    raise TypeError(f"FakeBedrock reads bytes or str request bodies, not {type(body).__name__}")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise _Rejected("Malformed input request: the body is not JSON") from None
    if not isinstance(payload, dict):
        raise _Rejected("Malformed input request: the body is not a JSON object")
    return payload


def _no_extra_keys(payload: Mapping[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(payload) - allowed)
    if extra:
        raise _Rejected(f"Malformed input request: extraneous key [{extra[0]}] is not permitted")


def _content_words(text: str) -> set[str]:
    return {word for word in words(text) if word not in ENGLISH_STOPWORDS}


def _noise(seed: bytes, dimension: int) -> list[float]:
    """``dimension`` values in [-1, 1), fixed by ``seed``."""
    raw = hashlib.shake_256(seed).digest(2 * dimension)
    return [value / 32768.0 for value in struct.unpack(f"<{dimension}h", raw)]


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else list(vector)


def _rounded(vector: Sequence[float]) -> list[float]:
    return [float(f"{value:.{SIGNIFICANT_DIGITS}g}") for value in vector]


__all__ = ["BedrockCall", "FakeBedrock", "ScriptedBedrock", "converse", "rerank", "text_vector",
           "titan_multimodal_embedding", "titan_text_embedding"]
