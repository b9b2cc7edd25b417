"""The fake Bedrock (tests/fakes/bedrock.py) behind real botocore clients, driven by Sift's real Bedrock adapters.

What these pin: the adapters in ``chalicelib.models.bedrock`` work against the fake unchanged (so the fake's answers
parse against the service model), every round trip is recorded with its real request and response sizes, anything
the fake does not serve is a ``ClientError`` rather than a made-up answer, and moto's ``mock_aws`` does not get in
its way while still serving the other AWS clients.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.core.errors import InternalError
from chalicelib.core.ports.models import ChatMessage, RerankCandidate, RerankMode, RerankRequest
from chalicelib.models.bedrock.embedders import TitanEmbedder
from chalicelib.models.bedrock.generators import REWRITE_SYSTEM_PROMPT, ConverseRewriter
from chalicelib.models.bedrock.image_embedders import TitanMultimodalEmbedder
from chalicelib.models.bedrock.rankers import BedrockReranker
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.images import JPEG, PNG

REGION = "us-west-2"
TITAN = "amazon.titan-embed-text-v2:0"
TITAN_MM = "amazon.titan-embed-image-v1"
RERANK_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/cohere.rerank-v3-5:0"
CHAT = "us.amazon.nova-micro-v1:0"


def make_client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def fake() -> FakeBedrock:
    return FakeBedrock()


@pytest.fixture
def runtime(fake: FakeBedrock) -> Any:
    return fake.attach(make_client("bedrock-runtime"))


@pytest.fixture
def agent(fake: FakeBedrock) -> Any:
    return fake.attach(make_client("bedrock-agent-runtime"))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def candidates(*texts: str) -> list[RerankCandidate]:
    return [RerankCandidate(text, None, None, 0.5) for text in texts]


# --- the adapters against the fake ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dimensions", [256, 512, 1024])
def test_titan_text_vectors_are_deterministic_dense_unit_vectors_close_for_shared_words(
    runtime: Any, dimensions: int
) -> None:
    embedder = TitanEmbedder(runtime, TITAN, dimensions)
    query = embedder.embed_query("tent warranty")
    same, near, far = embedder.embed_documents(
        ["tent warranty", "the tent warranty covers poles", "a stove boils water in three minutes"]
    )

    assert len(query) == dimensions
    assert query == same  # deterministic
    assert all(value != 0.0 for value in query)  # dense, like a real embedding (its JSON size is what matters)
    assert math.isclose(math.sqrt(sum(value * value for value in query)), 1.0, abs_tol=1e-6)
    assert cosine(query, near) > 0.5
    assert abs(cosine(query, far)) < 0.1


def test_every_call_is_recorded_with_the_bytes_on_the_wire(fake: FakeBedrock, runtime: Any) -> None:
    vector = TitanEmbedder(runtime, TITAN, 1024).embed_query("tent warranty")

    (call,) = fake.calls
    assert (call.service, call.operation, call.model_id, call.status) == ("bedrock-runtime", "InvokeModel", TITAN, 200)
    sent = {"inputText": "tent warranty", "dimensions": 1024, "normalize": True}
    assert call.request_bytes == len(json.dumps(sent))  # the adapter's own serialisation, byte for byte
    answer = {"embedding": vector, "inputTextTokenCount": 2}
    assert call.response_bytes == len(json.dumps(answer, separators=(",", ":")))
    assert 10_000 < call.response_bytes < 20_000  # what a real 1024-dim Titan answer weighs


def test_the_reranker_scores_by_shared_words_best_first(fake: FakeBedrock, agent: Any) -> None:
    reranker = BedrockReranker(agent, RERANK_ARN)
    request = RerankRequest("tent warranty", RerankMode.CUSTOM, "")  # no instruction: the bare query is sent

    scores = reranker.rerank(request, candidates("a stove", "tent warranty for life", "", "our tent"))

    assert scores == [0.0, 1.0, 0.0, 0.5]  # the empty text is never sent and scores 0
    (call,) = fake.calls
    assert (call.service, call.operation, call.model_id, call.status) == (
        "bedrock-agent-runtime", "Rerank", RERANK_ARN, 200,
    )
    assert call.request_bytes > 0 and call.response_bytes > 0


def test_rerank_results_come_back_sorted_and_cut_to_number_of_results(agent: Any) -> None:
    sources = [
        {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text}}}
        for text in ("nothing here", "tent", "tent warranty")
    ]
    response = agent.rerank(
        queries=[{"type": "TEXT", "textQuery": {"text": "tent warranty"}}],
        sources=sources,
        rerankingConfiguration={
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {"numberOfResults": 2, "modelConfiguration": {"modelArn": RERANK_ARN}},
        },
    )

    assert response["results"] == [{"index": 2, "relevanceScore": 1.0}, {"index": 1, "relevanceScore": 0.5}]


def test_the_rewriter_gets_the_last_user_text_back(fake: FakeBedrock, runtime: Any) -> None:
    rewriter = ConverseRewriter(runtime, CHAT)
    history = [ChatMessage("user", "Which tent is lightest?"), ChatMessage("assistant", "The Trailhead 2P.")]

    rewritten = rewriter.rewrite(history, "What is its warranty?")

    assert rewritten == "Latest question: What is its warranty?"
    (call,) = fake.calls
    assert (call.operation, call.model_id, call.status) == ("Converse", CHAT, 200)
    assert call.request_bytes > len(REWRITE_SYSTEM_PROMPT)  # the system prompt travels with every rewrite


def test_titan_multimodal_embeds_images_by_their_bytes_and_texts_by_their_words(
    fake: FakeBedrock, runtime: Any
) -> None:
    embedder = TitanMultimodalEmbedder(runtime, TITAN_MM, 384)

    png, again, jpeg = embedder.embed_image(PNG), embedder.embed_indexed_image(PNG), embedder.embed_image(JPEG)
    text = embedder.embed_text("river photo")

    assert len(png) == len(jpeg) == len(text) == 384
    assert png == again
    assert abs(cosine(png, jpeg)) < 0.3  # different images, unrelated vectors
    assert cosine(text, embedder.embed_text("river photo at dusk")) > 0.5
    assert [(call.model_id, call.status) for call in fake.calls] == [(TITAN_MM, 200)] * 5


# --- what the fake refuses --------------------------------------------------------------------------------------------


def test_an_unknown_model_is_a_client_error_never_a_default(fake: FakeBedrock, runtime: Any) -> None:
    with pytest.raises(ClientError) as raised:
        runtime.invoke_model(
            modelId="amazon.titan-embed-g1-text-02", body=json.dumps({"inputText": "x"}),
            contentType="application/json", accept="application/json",
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [(call.model_id, call.status) for call in fake.calls] == [("amazon.titan-embed-g1-text-02", 400)]

    # Through an adapter it is the deployment's error, as a real ValidationException would be.
    with pytest.raises(InternalError, match="ValidationException"):
        ConverseRewriter(runtime, TITAN).rewrite([], "x")  # an embedding model is no chat model
    assert (fake.calls[-1].operation, fake.calls[-1].model_id, fake.calls[-1].status) == ("Converse", TITAN, 400)


def test_an_unknown_rerank_model_is_rejected(agent: Any) -> None:
    reranker = BedrockReranker(agent, f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0")
    with pytest.raises(InternalError, match="ValidationException"):
        reranker.rerank(RerankRequest("tent", RerankMode.QA, ""), candidates("tent"))


@pytest.mark.parametrize(
    "body",
    [
        {"inputText": "x", "dimension": 1024},  # a misspelt key: the real model rejects extraneous keys
        {"inputText": "x", "dimensions": 768},
        {"inputText": ""},
        {"texts": ["x"]},
    ],
)
def test_a_malformed_titan_body_is_rejected(runtime: Any, body: dict[str, Any]) -> None:
    with pytest.raises(ClientError, match="ValidationException"):
        runtime.invoke_model(modelId=TITAN, body=json.dumps(body), contentType="application/json")


def test_an_operation_the_fake_does_not_serve_is_rejected(fake: FakeBedrock, runtime: Any, agent: Any) -> None:
    with pytest.raises(ClientError, match="ValidationException"):
        runtime.apply_guardrail(
            guardrailIdentifier="g", guardrailVersion="1", source="INPUT", content=[{"text": {"text": "x"}}]
        )
    with pytest.raises(ClientError, match="ValidationException"):
        agent.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": "x"})
    assert [(call.operation, call.status) for call in fake.calls] == [("ApplyGuardrail", 400), ("Retrieve", 400)]


def test_only_bedrock_clients_can_be_attached(fake: FakeBedrock) -> None:
    with pytest.raises(ValueError, match="bedrock-runtime"):
        fake.attach(make_client("s3"))


# --- beside moto ------------------------------------------------------------------------------------------------------


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield


@pytest.mark.usefixtures("moto")
def test_under_mock_aws_the_fake_answers_bedrock_and_moto_still_answers_the_rest() -> None:
    # moto serves bedrock-runtime itself (an empty InvokeModel answer; Converse raises NotImplementedError) and
    # botocore calls every before-send handler: attach() must take the Bedrock clients away from it.
    fake = FakeBedrock()
    runtime = fake.attach(boto3.client("bedrock-runtime", region_name=REGION))
    dynamodb = boto3.client("dynamodb", region_name=REGION)

    assert len(TitanEmbedder(runtime, TITAN, 256).embed_query("tent")) == 256
    assert ConverseRewriter(runtime, CHAT).rewrite([], "tent") == "Latest question: tent"
    assert [call.operation for call in fake.calls] == ["InvokeModel", "Converse"]
    assert dynamodb.list_tables()["TableNames"] == []  # moto, untouched
    other = boto3.client("bedrock-runtime", region_name=REGION)  # a client the fake was not attached to: moto's
    answer = other.invoke_model(modelId=TITAN, body=json.dumps({"inputText": "tent"}), contentType="application/json")
    assert json.loads(answer["body"].read()) == {}
    assert len(fake.calls) == 2
