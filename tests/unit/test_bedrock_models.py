"""Bedrock models against botocore's Stubber: every request is validated against the real service model.

The error-translation tests run on the stage's own clients answered at the HTTP send instead (``runtime_wire``,
``agent_wire`` in conftest.py): a Stubber answers before botocore's retry handler, and the retries are botocore's.
"""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import ANY, StubAssertionError, Stubber

from chalicelib.core.errors import InternalError, ServiceUnavailableError, ThrottlingError
from chalicelib.core.ports.models import MODE_INSTRUCTIONS, ChatMessage, RerankCandidate, RerankMode, RerankRequest
from chalicelib.models.bedrock.calls import THROTTLING_MESSAGE, call_bedrock
from chalicelib.models.bedrock.embedders import (
    CohereEmbedder,
    TitanEmbedder,
    base_model_id,
    build_embedder,
    model_family,
)
from chalicelib.models.bedrock.generators import ConverseRewriter
from chalicelib.models.bedrock.rankers import BedrockReranker
from tests.fakes.bedrock import ScriptedBedrock

TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-multilingual-v3"
RERANK_ARN = "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0"
CHAT = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


def make_client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


class JsonBody:
    """Matches a request body by its decoded JSON, so key order and spacing do not matter."""

    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        if isinstance(other, bytes | bytearray):
            other = other.decode()
        return isinstance(other, str) and json.loads(other) == self.expected

    def __repr__(self) -> str:
        return f"JsonBody({self.expected!r})"


def invoke_response(payload: Any) -> dict[str, Any]:
    raw = json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def invoke_params(model_id: str, body: Any) -> dict[str, Any]:
    return {
        "modelId": model_id,
        "body": JsonBody(body),
        "contentType": "application/json",
        "accept": "application/json",
    }


# The stage's clients make 3 attempts (chalicelib.composition._BEDROCK_CLIENT_CONFIG). botocore's standard mode waits
# rand(0, 1) * min(2 ** (attempt - 1), 20) seconds before retrying a throttled attempt.
ATTEMPTS = 3


def assert_throttling_backoffs(backoffs: list[float], retries: int) -> None:
    """botocore waited before each of ``retries`` retries, as its throttling backoff does (not its 50 ms one)."""
    assert len(backoffs) == retries
    assert all(0 <= wait <= 2**attempt for attempt, wait in enumerate(backoffs)), backoffs


# --- Titan ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dimensions", [256, 512, 1024])
def test_titan_sends_dimensions_and_normalize(runtime: tuple[Any, Stubber], dimensions: int) -> None:
    client, stub = runtime
    for text, value in (("alpha", 0.1), ("beta", 0.2)):
        stub.add_response(
            "invoke_model",
            invoke_response({"embedding": [value] * dimensions, "inputTextTokenCount": 1}),
            invoke_params(TITAN, {"inputText": text, "dimensions": dimensions, "normalize": True}),
        )
    embedder = TitanEmbedder(client, dimensions=dimensions)
    vectors = embedder.embed_documents(["alpha", "beta"])
    assert [v[0] for v in vectors] == [0.1, 0.2]
    assert all(len(v) == dimensions for v in vectors)
    assert embedder.dimension == dimensions
    assert str(dimensions) in embedder.name


@pytest.mark.parametrize("dimensions", [0, 128, 384, 1536])
def test_titan_rejects_unsupported_dimensions(dimensions: int) -> None:
    with pytest.raises(ValueError, match="256, 512, 1024"):
        TitanEmbedder(make_client("bedrock-runtime"), dimensions=dimensions)


def test_titan_query_and_wrong_size_response(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    body = {"inputText": "q", "dimensions": 256, "normalize": True}
    stub.add_response("invoke_model", invoke_response({"embedding": [0.5] * 256}), invoke_params(TITAN, body))
    stub.add_response("invoke_model", invoke_response({"embedding": [0.5] * 3}), invoke_params(TITAN, body))
    embedder = TitanEmbedder(client, dimensions=256)
    assert embedder.embed_query("q") == [0.5] * 256
    with pytest.raises(InternalError, match="size 3, expected 256"):
        embedder.embed_query("q")


# --- Cohere -----------------------------------------------------------------------------------------------------------


def test_cohere_batches_documents_by_96(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    texts = [f"doc {i}" for i in range(200)]
    for batch in (texts[:96], texts[96:192], texts[192:]):
        stub.add_response(
            "invoke_model",
            invoke_response({"embeddings": [[float(t.split()[1]), 0.0, 0.0, 0.0] for t in batch]}),
            invoke_params(COHERE, {"texts": batch, "input_type": "search_document", "truncate": "END"}),
        )
    vectors = CohereEmbedder(client, dimension=4).embed_documents(texts)
    assert [v[0] for v in vectors] == [float(i) for i in range(200)]


def test_cohere_query_uses_search_query_input_type(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_response(
        "invoke_model",
        invoke_response({"embeddings": [[1.0, 2.0]], "id": "x", "response_type": "embeddings_floats"}),
        invoke_params(COHERE, {"texts": ["what is sift"], "input_type": "search_query", "truncate": "END"}),
    )
    assert CohereEmbedder(client, dimension=2).embed_query("what is sift") == [1.0, 2.0]


def test_json_body_matcher_rejects_a_different_body() -> None:
    """The custom matcher really compares: a wrong input_type fails the stub's parameter check."""
    client = make_client("bedrock-runtime")
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_model",
            invoke_response({"embeddings": [[1.0]]}),
            invoke_params(COHERE, {"texts": ["x"], "input_type": "search_document", "truncate": "END"}),
        )
        with pytest.raises(StubAssertionError, match="Expected parameters"):
            CohereEmbedder(client, dimension=1).embed_query("x")


# --- reranker ---------------------------------------------------------------------------------------------------------


def candidates(*texts: str) -> list[RerankCandidate]:
    return [RerankCandidate(text=t, dense_score=None, sparse_score=None, fused_score=0.0) for t in texts]


def rerank_params(query: str, texts: list[str]) -> dict[str, Any]:
    return {
        "queries": [{"type": "TEXT", "textQuery": {"text": query}}],
        "sources": [
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": t}}} for t in texts
        ],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": len(texts),
                "modelConfiguration": {"modelArn": RERANK_ARN},
            },
        },
    }


def test_reranker_maps_results_back_to_candidate_order(agent: tuple[Any, Stubber]) -> None:
    client, stub = agent
    texts = ["a", "b", "c", "d"]
    query = f"{MODE_INSTRUCTIONS[RerankMode.QA]}\nwhich one?"
    stub.add_response(
        "rerank",
        # Sorted by score as the API returns them; "d" (index 3) is missing; out-of-range scores are clamped.
        {
            "results": [
                {"index": 2, "relevanceScore": 1.3},
                {"index": 0, "relevanceScore": 0.6},
                {"index": 1, "relevanceScore": -0.1},
            ]
        },
        rerank_params(query, texts),
    )
    scores = BedrockReranker(client, RERANK_ARN).rerank(RerankRequest(query="which one?"), candidates(*texts))
    assert scores == [0.6, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("mode", [RerankMode.QA, RerankMode.SIMILAR])
def test_reranker_mode_changes_the_sent_query(agent: tuple[Any, Stubber], mode: RerankMode) -> None:
    client, stub = agent
    stub.add_response(
        "rerank",
        {"results": [{"index": 0, "relevanceScore": 0.5}]},
        rerank_params(f"{MODE_INSTRUCTIONS[mode]}\nsolar panels", ["x"]),
    )
    assert BedrockReranker(client, RERANK_ARN).rerank(RerankRequest("solar panels", mode), candidates("x")) == [0.5]


def test_reranker_modes_send_different_queries() -> None:
    sent = {BedrockReranker.query_text(RerankRequest("q", mode, "prefer recent")) for mode in RerankMode}
    assert len(sent) == 3


def test_reranker_custom_mode_sends_the_instruct(agent: tuple[Any, Stubber]) -> None:
    client, stub = agent
    stub.add_response(
        "rerank",
        {"results": [{"index": 0, "relevanceScore": 0.2}, {"index": 1, "relevanceScore": 0.9}]},
        rerank_params("Prefer official documentation.\nsolar panels", ["blog", "docs"]),
    )
    request = RerankRequest("solar panels", RerankMode.CUSTOM, "Prefer official documentation.")
    assert BedrockReranker(client, RERANK_ARN).rerank(request, candidates("blog", "docs")) == [0.2, 0.9]


def test_reranker_batches_and_skips_empty_texts(agent: tuple[Any, Stubber]) -> None:
    client, stub = agent
    query = f"{MODE_INSTRUCTIONS[RerankMode.QA]}\nq"
    stub.add_response(
        "rerank",
        {"results": [{"index": 1, "relevanceScore": 0.8}, {"index": 0, "relevanceScore": 0.4}]},
        rerank_params(query, ["a", "b"]),
    )
    stub.add_response("rerank", {"results": [{"index": 0, "relevanceScore": 0.7}]}, rerank_params(query, ["c"]))
    reranker = BedrockReranker(client, RERANK_ARN, batch_size=2)
    assert reranker.rerank(RerankRequest("q"), candidates("a", "", "b", "c")) == [0.4, 0.0, 0.8, 0.7]


def test_reranker_follows_next_token(agent: tuple[Any, Stubber]) -> None:
    client, stub = agent
    params = rerank_params(f"{MODE_INSTRUCTIONS[RerankMode.QA]}\nq", ["a", "b"])
    stub.add_response("rerank", {"results": [{"index": 1, "relevanceScore": 0.9}], "nextToken": "t1"}, params)
    stub.add_response("rerank", {"results": [{"index": 0, "relevanceScore": 0.3}]}, dict(params, nextToken="t1"))
    assert BedrockReranker(client, RERANK_ARN).rerank(RerankRequest("q"), candidates("a", "b")) == [0.3, 0.9]


# --- rewriter ---------------------------------------------------------------------------------------------------------


def test_converse_rewrite(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    history = [
        ChatMessage("user", "Tell me about the Model X heat pump."),
        ChatMessage("assistant", "It is a 9 kW air-source heat pump."),
    ]
    stub.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "  Model X heat pump warranty \n"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 50, "outputTokens": 6, "totalTokens": 56},
            "metrics": {"latencyMs": 120},
        },
        {
            "modelId": CHAT,
            "system": [{"text": ANY}],
            "messages": [
                {"role": "user", "content": [{"text": "Tell me about the Model X heat pump."}]},
                {"role": "assistant", "content": [{"text": "It is a 9 kW air-source heat pump."}]},
                {"role": "user", "content": [{"text": "Latest question: what about its warranty?"}]},
            ],
            "inferenceConfig": {"maxTokens": 256, "temperature": 0.0},
        },
    )
    rewriter = ConverseRewriter(client, CHAT)
    assert rewriter.rewrite(history, "what about its warranty?") == "Model X heat pump warranty"


def test_converse_messages_alternate_and_start_with_user() -> None:
    rewriter = ConverseRewriter(make_client("bedrock-runtime"), CHAT)
    history = [ChatMessage("assistant", "Hi!"), ChatMessage("user", "a"), ChatMessage("user", "b")]
    messages = rewriter.messages(history, "c")
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[-1]["content"][0]["text"] == "a\n\nb\n\nLatest question: c"


def test_converse_empty_output_raises(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "   "}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 5, "outputTokens": 0, "totalTokens": 5},
            "metrics": {"latencyMs": 10},
        },
    )
    with pytest.raises(InternalError, match="empty"):
        ConverseRewriter(client, CHAT).rewrite([], "q")


# --- error translation ------------------------------------------------------------------------------------------------


def test_throttling_is_retried_then_succeeds(runtime_wire: tuple[Any, ScriptedBedrock], backoffs: list[float]) -> None:
    client, wire = runtime_wire
    wire.error("ThrottlingException", 429, "slow down", times=2).answer({"embedding": [0.0] * 256})
    assert TitanEmbedder(client, dimensions=256).embed_query("t") == [0.0] * 256
    # botocore sent the same request three times, backing off before each retry.
    assert [json.loads(body) for body in wire.sent] == [{"inputText": "t", "dimensions": 256, "normalize": True}] * 3
    assert_throttling_backoffs(backoffs, 2)


def test_throttling_exhausted_raises_throttling_error(
    agent_wire: tuple[Any, ScriptedBedrock], backoffs: list[float]
) -> None:
    client, wire = agent_wire
    wire.error("ThrottlingException", 429, "slow down", times=ATTEMPTS)
    with pytest.raises(ThrottlingError) as caught:
        BedrockReranker(client, RERANK_ARN).rerank(RerankRequest("q"), candidates("a"))
    assert caught.value.message == THROTTLING_MESSAGE
    assert caught.value.kind.status == 429
    assert isinstance(caught.value.__cause__, ClientError)
    assert caught.value.__cause__.response["ResponseMetadata"]["RetryAttempts"] == ATTEMPTS - 1
    assert len(wire.sent) == ATTEMPTS
    assert_throttling_backoffs(backoffs, ATTEMPTS - 1)


def test_too_many_requests_is_throttling_too() -> None:
    def throttled() -> None:
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "InvokeModel")

    with pytest.raises(ThrottlingError, match="throttling"):
        call_bedrock("InvokeModel(x)", throttled)


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException", "ResourceNotFoundException"])
def test_configuration_errors_become_internal_errors(
    runtime_wire: tuple[Any, ScriptedBedrock], backoffs: list[float], code: str
) -> None:
    client, wire = runtime_wire
    status = {"AccessDeniedException": 403, "ResourceNotFoundException": 404}.get(code, 400)
    wire.error(code, status, "The provided model identifier is invalid.")
    with pytest.raises(InternalError, match=code) as caught:
        ConverseRewriter(client, CHAT).rewrite([], "q")
    assert "model id" in caught.value.message
    assert caught.value.__cause__ is not None
    assert len(wire.sent) == 1 and backoffs == []  # not retried: asking again gets the same answer


@pytest.mark.parametrize(
    ("code", "status", "attempts"),
    [
        ("ServiceUnavailableException", 503, ATTEMPTS),  # a 5xx: retried by botocore
        ("ModelNotReadyException", 429, ATTEMPTS),  # modelled as retryable in bedrock-runtime
        ("ModelTimeoutException", 408, 1),  # neither: the model's own timeout, not resent
    ],
)
def test_unavailable_errors_become_503(
    runtime_wire: tuple[Any, ScriptedBedrock], backoffs: list[float], code: str, status: int, attempts: int
) -> None:
    client, wire = runtime_wire
    wire.error(code, status, "busy", times=attempts)
    with pytest.raises(ServiceUnavailableError) as caught:
        CohereEmbedder(client, dimension=2).embed_query("q")
    assert caught.value.kind.status == 503
    assert code in caught.value.message
    assert len(wire.sent) == attempts and len(backoffs) == attempts - 1


def test_timeouts_become_503() -> None:
    class TimingOut:
        def invoke_model(self, **_: Any) -> Any:
            raise ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

    with pytest.raises(ServiceUnavailableError, match="did not answer in time"):
        TitanEmbedder(TimingOut()).embed_query("q")


# --- registry ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("amazon.titan-embed-text-v2:0", "titan"),
        ("us.amazon.titan-embed-text-v2:0", "titan"),
        ("cohere.embed-multilingual-v3", "cohere"),
        ("cohere.embed-english-v3", "cohere"),
        ("eu.cohere.embed-v4:0", "cohere"),
        ("apac.cohere.embed-v4:0", "cohere"),
        ("global.cohere.embed-v4:0", "cohere"),
        ("us-gov.amazon.titan-embed-text-v2:0", "titan"),
    ],
)
def test_model_family_strips_cross_region_prefixes(model_id: str, family: str) -> None:
    assert model_family(model_id) == family


@pytest.mark.parametrize(
    "model_id", ["amazon.titan-embed-text-v1", "us.anthropic.claude-3-haiku", "xx.cohere.embed-v4:0", "", "cohere"]
)
def test_model_family_rejects_unknown_ids(model_id: str) -> None:
    with pytest.raises(ValueError, match="unknown Bedrock model id"):
        model_family(model_id)


def test_base_model_id_only_strips_known_geographies() -> None:
    assert base_model_id("eu.amazon.titan-embed-text-v2:0") == "amazon.titan-embed-text-v2:0"
    assert base_model_id("amazon.titan-embed-text-v2:0") == "amazon.titan-embed-text-v2:0"


def test_build_embedder_uses_the_family(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    titan = build_embedder(client, "us.amazon.titan-embed-text-v2:0", dimensions=512)
    cohere = build_embedder(client, "eu.cohere.embed-multilingual-v3")
    assert isinstance(titan, TitanEmbedder) and titan.dimension == 512
    assert isinstance(cohere, CohereEmbedder) and cohere.dimension == 1024
    # The profile id, prefix included, is what gets invoked.
    stub.add_response(
        "invoke_model",
        invoke_response({"embedding": [0.0] * 512}),
        invoke_params("us.amazon.titan-embed-text-v2:0", {"inputText": "x", "dimensions": 512, "normalize": True}),
    )
    assert len(titan.embed_query("x")) == 512
    with pytest.raises(ValueError):
        build_embedder(client, "meta.llama3-8b-instruct-v1:0")
