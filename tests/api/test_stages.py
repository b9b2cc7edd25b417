"""One app, two stages: the same requests through stage ``local`` and stage ``dev``, configuration the only difference.

``dev`` runs exactly as deployed — its environment comes from ``.chalice/config.json``, the composition root builds
OpenSearch, Bedrock and DynamoDB adapters — with only the network replaced: DynamoDB and S3 by moto, OpenSearch by an
in-memory node behind the real opensearch-py client (SigV4-signed for ``aoss``), Bedrock by botocore's Stubber, which
checks every request against the service model. The Stubbers' queues also pin the cost of a Retrieve: one embedding
call, one rerank call, and the fake node counts one ``msearch``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from chalice.test import Client
from moto import mock_aws

from bench.gateway import iam_authorized
from chalicelib import composition
from chalicelib.settings import Settings
from tests.api.conftest import REPO_ROOT, WS, Api
from tests.fakes.images import PNG
from tests.fakes.opensearch import InMemoryOpenSearch
from tests.unit.test_bedrock_models import invoke_response

BUCKET = "sift-stage-docs"
DOCUMENTS = {
    f"{WS}/kb/stove.txt": b"The Kettle stove boils a litre of water in three minutes.",
    f"{WS}/kb/tent.txt": b"Trailhead tent warranty: the Trailhead 2P tent has a lifetime warranty on poles and fabric.",
    f"{WS}/kb/river.png": PNG,
}
QUERY_TEXT = "tent warranty"
RERANK = [{"RerankTopN": 3}]
DEV_STAGE = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())["stages"]["dev"]
DEV_ENVIRONMENT = DEV_STAGE["environment_variables"]
OPENSEARCH_URL = "https://sift0test0collection.us-west-2.aoss.amazonaws.com"
TEXT_MODEL = "amazon.titan-embed-text-v2:0"
IMAGE_MODEL = "amazon.titan-embed-image-v1"
RERANK_ARN = "arn:aws:bedrock:us-west-2::foundation-model/cohere.rerank-v3-5:0"
DIMENSION = 1024


def unit(axis: int) -> list[float]:
    vector = [0.0] * DIMENSION
    vector[axis] = 1.0
    return vector


class StubbedBedrock:
    """The two Bedrock clients of a stage, each behind a Stubber; ``expect_*`` queue what the service will call."""

    def __init__(self, session: boto3.Session) -> None:
        self.runtime = session.client("bedrock-runtime", region_name="us-west-2")
        self.agent = session.client("bedrock-agent-runtime", region_name="us-west-2")
        self.runtime_stub = Stubber(self.runtime)
        self.agent_stub = Stubber(self.agent)

    def expect_embedding(self, model_id: str, vector: list[float]) -> None:
        params = {"modelId": model_id, "body": ANY, "contentType": "application/json", "accept": "application/json"}
        self.runtime_stub.add_response("invoke_model", invoke_response({"embedding": vector}), params)

    def expect_rerank(self, scores: list[float]) -> None:
        results = [{"index": index, "relevanceScore": score} for index, score in enumerate(scores)]
        params = {
            "queries": ANY,
            "sources": ANY,
            "rerankingConfiguration": {
                "type": "BEDROCK_RERANKING_MODEL",
                "bedrockRerankingConfiguration": {"numberOfResults": ANY, "modelConfiguration": {"modelArn": RERANK_ARN}},
            },
        }
        self.agent_stub.add_response("rerank", {"results": results}, params)

    def assert_all_called(self) -> None:
        self.runtime_stub.assert_no_pending_responses()
        self.agent_stub.assert_no_pending_responses()


def upload_documents(session: boto3.Session) -> None:
    s3 = session.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    for key, body in DOCUMENTS.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    s3.put_object(Bucket=BUCKET, Key="queries/river.png", Body=PNG)


@contextmanager
def stage_app(stage: str, session: boto3.Session) -> Iterator[Api]:
    """The app on ``stage``, its service built from the current environment (see tests/api/conftest.py)."""
    from app import app
    from chalicelib.composition import service

    service.cache_clear()
    service()
    with Client(app, stage_name=stage, project_dir=str(REPO_ROOT)) as client:
        yield Api(client, Path("."), session.client("s3"))
    service.cache_clear()


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    with mock_aws():
        session = boto3.Session(region_name="us-west-2")
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
        upload_documents(session)
        yield session


@contextmanager
def local_stage(session: boto3.Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    with monkeypatch.context() as patch:
        patch.setenv("SIFT_STAGE", "local")
        patch.setenv("SIFT_DATA_DIR", str(tmp_path / "local"))
        with stage_app("local", session) as api:
            yield api


@contextmanager
def dev_stage(
    session: boto3.Session, bedrock: StubbedBedrock, node: InMemoryOpenSearch, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Api]:
    """Stage ``dev`` with its own environment from config.json; only the collection endpoint is filled in."""
    from chalicelib.store.dynamodb import create_table

    create_table(session.client("dynamodb"), DEV_ENVIRONMENT["SIFT_CATALOG_TABLE"])

    class NetworkFreeClients(composition.AwsClients):
        """The deployed wiring with the network swapped out (moto serves S3 and DynamoDB through boto3 itself)."""

        @property  # type: ignore[misc]
        def bedrock_runtime(self) -> Any:
            return bedrock.runtime

        @property  # type: ignore[misc]
        def bedrock_agent_runtime(self) -> Any:
            return bedrock.agent

        @property  # type: ignore[misc]
        def opensearch(self) -> Any:
            client = super().opensearch  # the real client, SigV4 and all
            node.mount(client)
            return client

    with monkeypatch.context() as patch:
        for name in [name for name in ("SIFT_EMBEDDER", "SIFT_EMBEDDING_CACHE", "SIFT_BACKEND", "SIFT_DATA_DIR")]:
            patch.delenv(name, raising=False)
        for name, value in DEV_ENVIRONMENT.items():
            patch.setenv(name, value)
        patch.setenv("SIFT_OPENSEARCH_URL", OPENSEARCH_URL)
        patch.setattr(composition, "AwsClients", NetworkFreeClients)
        # Stage dev authorizes with IAM: the events get the identity API Gateway adds after checking SigV4.
        with iam_authorized(), bedrock.runtime_stub, bedrock.agent_stub, stage_app("dev", session) as api:
            yield api


def index_documents(api: Api) -> dict[str, Any]:
    index_id = api.create_index("handbook", SourceURI=f"s3://{BUCKET}/{WS}/kb/")  # the workspace's own prefix (SIFT_TENANT_PREFIXES on dev)
    status = api.add_documents(index_id, [f"s3://{BUCKET}/{WS}/kb/"])
    return {"index_id": index_id, "status": status}


def shape(value: Any) -> Any:
    """The JSON's structure: keys and value types, not values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def expect_dev_indexing(bedrock: StubbedBedrock) -> None:
    # S3 lists the keys in order: river.png, stove.txt, tent.txt. The image is embedded for the image index while the
    # batch is prepared; then one text embedding per chunk (Titan takes one text per call), the image's title too.
    bedrock.expect_embedding(IMAGE_MODEL, unit(900))
    for axis in (2, 1, 0):  # river (its title), stove, tent
        bedrock.expect_embedding(TEXT_MODEL, unit(axis))


def test_the_same_retrieve_through_local_and_dev_answers_the_documented_shape(
    session: boto3.Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with local_stage(session, tmp_path, monkeypatch) as api:
        local_index = index_documents(api)
        local = api.retrieve(local_index["index_id"], QUERY_TEXT, Rerank=RERANK)

    bedrock, node = StubbedBedrock(session), InMemoryOpenSearch()
    expect_dev_indexing(bedrock)
    bedrock.expect_embedding(TEXT_MODEL, unit(0))  # the query lands on the tent chunk's vector
    bedrock.expect_rerank([0.92, 0.31, 0.05])
    with dev_stage(session, bedrock, node, monkeypatch) as api:
        dev_index = index_documents(api)
        before = len(node.requests)
        dev = api.retrieve(dev_index["index_id"], QUERY_TEXT, Rerank=RERANK)
        retrieve_requests = node.requests[before:]
    bedrock.assert_all_called()

    for reply in (local, dev):
        assert reply.status == 200
        assert reply.body["Code"] == "Success" and reply.body["Status"] == "200"
    assert shape(local.body) == shape(dev.body)
    assert shape(local_index["status"]) == shape(dev_index["status"])
    assert [document["Status"] for document in dev_index["status"]["Documents"]] == ["FINISH"] * 3
    local_nodes, dev_nodes = local.data["Nodes"], dev.data["Nodes"]
    assert local_nodes[0]["Metadata"]["doc_name"] == dev_nodes[0]["Metadata"]["doc_name"] == "tent.txt"
    assert set(local_nodes[0]["Metadata"]) == set(dev_nodes[0]["Metadata"])
    assert dev_nodes[0]["Score"] == pytest.approx(0.92)
    # One OpenSearch round trip per Retrieve: both legs in one msearch.
    assert [(request.method, request.path) for request in retrieve_requests] == [("POST", "/_msearch")]


def test_dev_searches_query_images_against_the_image_index(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    bedrock, node = StubbedBedrock(session), InMemoryOpenSearch()
    expect_dev_indexing(bedrock)
    query_vector = [0.0] * DIMENSION
    query_vector[0], query_vector[1] = 0.8, 0.6  # the query text: near the tent, less near the stove, not the photo
    bedrock.expect_embedding(IMAGE_MODEL, unit(900))  # the query image: the stored photo's own vector
    bedrock.expect_embedding(TEXT_MODEL, query_vector)
    bedrock.expect_embedding(TEXT_MODEL, query_vector)  # the same query without the image
    with dev_stage(session, bedrock, node, monkeypatch) as api:
        index_id = index_documents(api)["index_id"]
        request: dict[str, Any] = {"EnableReranking": False, "SparseSimilarityTopK": 0}
        with_image = api.nodes(index_id, "zzz", Images=[f"s3://{BUCKET}/queries/river.png"], **request)
        without_image = api.nodes(index_id, "zzz", **request)
        missing = api.retrieve(index_id, "anything", Images=[f"s3://{BUCKET}/queries/nope.png"])
    bedrock.assert_all_called()

    def scores(nodes: list[dict[str, Any]]) -> dict[str, float]:
        return {node["Metadata"]["doc_name"]: node["Score"] for node in nodes}

    # Without the image the photo shares nothing with the query; with it, the photo is as close as the best passage.
    assert scores(without_image) == {"tent.txt": 1.0, "stove.txt": 0.75, "river.png": 0.0}
    assert scores(with_image) == {"tent.txt": 1.0, "river.png": 1.0, "stove.txt": 0.75}
    assert next(node for node in with_image if node["Text"] == "river")["Metadata"]["doc_name"] == "river.png"
    # A query image that cannot be read is the caller's error, named by its position; no model was called for it.
    assert missing.status == 400
    assert missing.body["Code"] == "Index.InvalidParameter"
    assert "Images[0]" in missing.body["Message"]


def test_every_stage_configuration_builds_its_settings() -> None:
    stages = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())["stages"]
    assert set(stages) == {"local", "dev", "prod"}
    for name, stage in stages.items():
        environment = {**stage["environment_variables"]}
        if environment.get("SIFT_BACKEND") == "opensearch":
            environment |= {"SIFT_OPENSEARCH_URL": OPENSEARCH_URL, "AWS_REGION": "us-west-2"}
        settings = Settings.from_environment(environment)
        assert settings.stage == name
        if name != "local":
            assert (settings.backend, settings.catalog) == ("opensearch", "dynamodb")
            assert settings.embedding_cache is None  # a Lambda has no data directory to keep one in
            assert not DEV_STAGE["lambda_functions"].keys() - stage["lambda_functions"].keys()


def test_dev_serves_the_media_side_from_opensearch(session: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Datasets live in the same OpenSearch and DynamoDB as knowledge bases; a file's given fields come back as given."""
    bedrock, node = StubbedBedrock(session), InMemoryOpenSearch()
    bedrock.expect_embedding(TEXT_MODEL, unit(3))  # the lake photo's metadata text
    bedrock.expect_embedding(TEXT_MODEL, unit(4))  # the ticket's
    bedrock.expect_embedding(TEXT_MODEL, unit(4))  # the question, close to the ticket
    bedrock.expect_rerank([0.88, 0.12])
    lake = {"URI": "s3://sift-stage-docs/photos/lake.jpg", "Title": "West Lake", "Labels": [{"LabelName": "lake"}]}
    ticket = {"URI": "s3://sift-stage-docs/photos/ticket.png", "OCRTexts": "museum admission ticket"}
    with dev_stage(session, bedrock, node, monkeypatch) as api:
        dataset = {"ProjectName": "travel", "DatasetName": "photos"}
        assert api.post("/imm/CreateProject", {"ProjectName": "travel"}).status == 200
        assert api.post("/imm/CreateDataset", dataset).status == 200
        indexed = api.post("/imm/BatchIndexFileMeta", {**dataset, "Files": [lake, ticket]})
        reply = api.post(
            "/imm/ContextualRetrieval", {**dataset, "Messages": [{"Role": "user", "Content": "museum ticket"}]}
        )
        stored = api.post("/imm/GetFileMeta", {**dataset, "URI": lake["URI"]})
    bedrock.assert_all_called()
    assert [item["ObjectStatus"] for item in indexed.body["Files"]] == ["Indexed", "Indexed"]
    assert reply.status == 200, reply.body
    assert reply.body["Results"][0]["URI"] == ticket["URI"]
    assert reply.body["Results"][0]["SemanticSimilarity"] == pytest.approx(0.88)
    assert stored.body["Files"][0]["Labels"] == lake["Labels"]


def test_dev_answers_with_bedrock_converse_citing_the_files_it_used(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIFT_GENERATOR on dev: the documents go to Converse as data, its citations come back as References."""
    bedrock, node = StubbedBedrock(session), InMemoryOpenSearch()
    reply = json.dumps({"answer": "An adult ticket costs 60 yuan.", "citations": [2]})
    bedrock.runtime_stub.add_response(
        "converse",
        {"output": {"message": {"role": "assistant", "content": [{"text": reply}]}}, "stopReason": "end_turn",
         "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "metrics": {"latencyMs": 1}},
        {"modelId": DEV_ENVIRONMENT["SIFT_GENERATOR"].removeprefix("bedrock:"), "system": ANY, "messages": ANY,
         "inferenceConfig": ANY},
    )
    files = [
        {"ProjectName": "travel", "DatasetName": "guides", "ObjectId": "lake", "URI": "s3://bucket-a/lake.txt",
         "Elements": [{"ElementContents": [{"Type": "text", "Content": "West Lake is in Hangzhou."}]}]},
        {"ProjectName": "travel", "DatasetName": "guides", "ObjectId": "palace", "URI": "s3://bucket-a/palace.txt",
         "Elements": [{"ElementContents": [{"Type": "text", "Content": "A ticket costs 60 yuan."}]}]},
    ]
    with dev_stage(session, bedrock, node, monkeypatch) as api:
        assert api.post("/imm/CreateProject", {"ProjectName": "travel"}).status == 200
        answer = api.post("/imm/ContextualAnswer", {
            "ProjectName": "travel", "Messages": [{"Role": "user", "Content": "How much is the ticket?"}],
            "Files": files,
        })
    bedrock.assert_all_called()
    assert answer.status == 200, answer.body
    assert answer.body["Answer"] == {
        "Content": "An adult ticket costs 60 yuan.",
        "References": [{"ProjectName": "travel", "DatasetName": "guides", "ObjectId": "palace",
                        "URI": "s3://bucket-a/palace.txt"}],
    }
