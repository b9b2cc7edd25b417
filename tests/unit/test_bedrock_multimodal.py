"""Titan Multimodal and Nova Multimodal embedders against botocore's Stubber; requests compared as decoded JSON.

Throttling runs on the stage's client answered at the HTTP send (``runtime_wire``), where botocore's retries happen.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.stub import Stubber

from chalicelib.core.errors import InternalError, ThrottlingError
from chalicelib.core.ports.models import ImageEmbedder, detect_image_format
from chalicelib.models.bedrock.embedders import build_embedder, model_family
from chalicelib.models.bedrock.image_embedders import (
    NovaMultimodalEmbedder,
    TitanMultimodalEmbedder,
    build_image_embedder,
)
from tests.fakes.bedrock import ScriptedBedrock
from tests.fakes.images import GIF, JPEG, PNG, WEBP_HEADER
from tests.unit.test_bedrock_models import (
    ATTEMPTS,
    assert_throttling_backoffs,
    invoke_params,
    invoke_response,
    make_client,
)

TITAN_MM = "amazon.titan-embed-image-v1"
NOVA = "amazon.nova-2-multimodal-embeddings-v1:0"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def nova_body(content: dict[str, Any], *, dimension: int = 1024, purpose: str = "GENERIC_RETRIEVAL") -> dict[str, Any]:
    return {
        "schemaVersion": "nova-multimodal-embed-v1",
        "taskType": "SINGLE_EMBEDDING",
        "singleEmbeddingParams": {"embeddingPurpose": purpose, "embeddingDimension": dimension, **content},
    }


def nova_response(vector: list[float], kind: str = "IMAGE") -> dict[str, Any]:
    return {"embeddings": [{"embeddingType": kind, "embedding": vector}]}


def test_both_classes_satisfy_the_protocol() -> None:
    client = make_client("bedrock-runtime")
    embedders: list[ImageEmbedder] = [TitanMultimodalEmbedder(client), NovaMultimodalEmbedder(client)]
    assert [e.dimension for e in embedders] == [1024, 1024]


# --- Titan Multimodal -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dimension", [256, 384, 1024])
def test_titan_image_body_and_response(runtime: tuple[Any, Stubber], dimension: int) -> None:
    client, stub = runtime
    stub.add_response(
        "invoke_model",
        invoke_response({"embedding": [0.25] * dimension, "inputTextTokenCount": 0, "message": None}),
        invoke_params(TITAN_MM, {"inputImage": b64(PNG), "embeddingConfig": {"outputEmbeddingLength": dimension}}),
    )
    embedder = TitanMultimodalEmbedder(client, dimension=dimension)
    assert embedder.embed_image(PNG) == [0.25] * dimension
    assert embedder.name == f"{TITAN_MM}/{dimension}"
    assert embedder.dimension == dimension


def test_titan_text_body_sends_text_alone(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_response(
        "invoke_model",
        invoke_response({"embedding": [1.0] * 256, "inputTextTokenCount": 2}),
        invoke_params(TITAN_MM, {"inputText": "red shoes", "embeddingConfig": {"outputEmbeddingLength": 256}}),
    )
    assert TitanMultimodalEmbedder(client, dimension=256).embed_text("red shoes") == [1.0] * 256


@pytest.mark.parametrize("dimension", [0, 128, 512, 3072])
def test_titan_rejects_unsupported_dimensions(dimension: int) -> None:
    with pytest.raises(ValueError, match="256, 384, 1024"):
        TitanMultimodalEmbedder(make_client("bedrock-runtime"), dimension=dimension)


def test_titan_rejects_empty_image_without_calling(runtime: tuple[Any, Stubber]) -> None:
    client, _ = runtime
    with pytest.raises(ValueError, match="empty"):
        TitanMultimodalEmbedder(client).embed_image(b"")


@pytest.mark.parametrize("payload", [{"embedding": [0.1] * 3}, {"embedding": None}, {"message": "failed"}])
def test_titan_wrong_or_missing_vector_is_internal_error(runtime: tuple[Any, Stubber], payload: Any) -> None:
    client, stub = runtime
    stub.add_response("invoke_model", invoke_response(payload))
    with pytest.raises(InternalError, match="expected 256"):
        TitanMultimodalEmbedder(client, dimension=256).embed_image(PNG)


def test_titan_throttling_exhausted_raises_throttling_error(
    runtime_wire: tuple[Any, ScriptedBedrock], backoffs: list[float]
) -> None:
    client, wire = runtime_wire
    wire.error("ThrottlingException", 429, "slow down", times=ATTEMPTS)
    with pytest.raises(ThrottlingError) as caught:
        TitanMultimodalEmbedder(client).embed_image(PNG)
    assert caught.value.kind.status == 429
    assert len(wire.sent) == ATTEMPTS
    assert_throttling_backoffs(backoffs, ATTEMPTS - 1)


# --- Nova Multimodal --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("image", "image_format"), [(PNG, "png"), (JPEG, "jpeg"), (GIF, "gif"), (WEBP_HEADER, "webp")])
def test_nova_image_body_names_the_detected_format(
    runtime: tuple[Any, Stubber], image: bytes, image_format: str
) -> None:
    client, stub = runtime
    image_params = {"detailLevel": "STANDARD_IMAGE", "format": image_format, "source": {"bytes": b64(image)}}
    stub.add_response(
        "invoke_model",
        invoke_response(nova_response([0.5] * 384)),
        invoke_params(NOVA, nova_body({"image": image_params}, dimension=384)),
    )
    assert NovaMultimodalEmbedder(client, dimension=384).embed_image(image) == [0.5] * 384


def test_nova_text_body_truncates_at_the_end(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_response(
        "invoke_model",
        invoke_response(
            {"embeddings": [{"embeddingType": "TEXT", "embedding": [0.1] * 256, "truncatedCharLength": 9}]}
        ),
        invoke_params(
            NOVA,
            nova_body(
                {"text": {"truncationMode": "END", "value": "red shoes"}}, dimension=256, purpose="GENERIC_INDEX"
            ),
        ),
    )
    embedder = NovaMultimodalEmbedder(client, dimension=256, purpose="GENERIC_INDEX")
    assert embedder.embed_text("red shoes") == [0.1] * 256


def test_nova_name_is_the_vector_space_not_the_purpose() -> None:
    """One instance serves both sides of an index, so its name must not change with the purpose."""
    client = make_client("bedrock-runtime")
    names = {
        NovaMultimodalEmbedder(client, dimension=d, purpose=p).name
        for d in (256, 1024)
        for p in ("GENERIC_INDEX", "GENERIC_RETRIEVAL")
    }
    assert names == {f"{NOVA}/256", f"{NOVA}/1024"}


def test_nova_embeds_stored_images_for_the_index_and_query_images_for_retrieval(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    image_params = {"detailLevel": "STANDARD_IMAGE", "format": "png", "source": {"bytes": b64(PNG)}}
    for purpose in ("GENERIC_INDEX", "GENERIC_RETRIEVAL"):
        stub.add_response(
            "invoke_model",
            invoke_response(nova_response([0.5] * 256)),
            invoke_params(NOVA, nova_body({"image": image_params}, dimension=256, purpose=purpose)),
        )
    embedder = NovaMultimodalEmbedder(client, dimension=256)
    assert embedder.embed_indexed_image(PNG) == embedder.embed_image(PNG) == [0.5] * 256


def test_titan_embeds_stored_and_query_images_alike(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    for _ in range(2):
        stub.add_response(
            "invoke_model",
            invoke_response({"embedding": [0.25] * 256}),
            invoke_params(TITAN_MM, {"inputImage": b64(PNG), "embeddingConfig": {"outputEmbeddingLength": 256}}),
        )
    embedder = TitanMultimodalEmbedder(client, dimension=256)
    assert embedder.embed_indexed_image(PNG) == embedder.embed_image(PNG) == [0.25] * 256


@pytest.mark.parametrize(("options", "message"), [({"dimension": 512}, "3072"), ({"purpose": "SEARCH"}, "purpose")])
def test_nova_rejects_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NovaMultimodalEmbedder(make_client("bedrock-runtime"), **options)


@pytest.mark.parametrize("data", [b"", b"<html>", b"BM\x00\x00", b"RIFF\x00\x00\x00\x00WAVE"])
def test_nova_rejects_unknown_bytes_without_calling(runtime: tuple[Any, Stubber], data: bytes) -> None:
    client, _ = runtime
    with pytest.raises(ValueError, match="PNG, JPEG, GIF or WEBP"):
        NovaMultimodalEmbedder(client).embed_image(data)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (nova_response([0.5] * 3), "size 3, expected 1024"),
        ({"embeddings": []}, "exactly one"),
        ({"embeddings": [{"embedding": [0.0] * 1024}, {"embedding": [0.0] * 1024}]}, "exactly one"),
        ({"embedding": [0.0] * 1024}, "exactly one"),
        ({"embeddings": [[0.0] * 1024]}, "exactly one"),
    ],
)
def test_nova_malformed_responses_are_internal_errors(runtime: tuple[Any, Stubber], payload: Any, message: str) -> None:
    client, stub = runtime
    stub.add_response("invoke_model", invoke_response(payload))
    with pytest.raises(InternalError, match=message):
        NovaMultimodalEmbedder(client).embed_image(PNG)


def test_nova_throttling_is_retried_then_succeeds(
    runtime_wire: tuple[Any, ScriptedBedrock], backoffs: list[float]
) -> None:
    client, wire = runtime_wire
    wire.error("ThrottlingException", 429, "slow down", times=2).answer(nova_response([0.0] * 1024, "TEXT"))
    assert NovaMultimodalEmbedder(client).embed_text("q") == [0.0] * 1024
    body = nova_body({"text": {"truncationMode": "END", "value": "q"}})
    assert [json.loads(sent) for sent in wire.sent] == [body] * 3  # the same request, resent by botocore
    assert_throttling_backoffs(backoffs, 2)


def test_nova_validation_exception_is_internal_error(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_client_error("invoke_model", "ValidationException", "Malformed input request", 400)
    with pytest.raises(InternalError, match="ValidationException"):
        NovaMultimodalEmbedder(client).embed_image(PNG)


# --- registry ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        (TITAN_MM, "titan-multimodal"),
        ("us.amazon.titan-embed-image-v1", "titan-multimodal"),
        (NOVA, "nova-multimodal"),
        ("us.amazon.nova-2-multimodal-embeddings-v1:0", "nova-multimodal"),
        ("global.amazon.nova-2-multimodal-embeddings-v1:0", "nova-multimodal"),
    ],
)
def test_model_family_knows_the_multimodal_models(model_id: str, family: str) -> None:
    assert model_family(model_id) == family


def test_build_image_embedder_picks_the_class_and_invokes_the_profile_id(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    nova = build_image_embedder(client, "us.amazon.nova-2-multimodal-embeddings-v1:0", dimension=256)
    titan = build_image_embedder(client, "eu.amazon.titan-embed-image-v1", dimension=384)
    assert isinstance(nova, NovaMultimodalEmbedder) and nova.dimension == 256
    assert isinstance(titan, TitanMultimodalEmbedder) and titan.dimension == 384
    stub.add_response(
        "invoke_model",
        invoke_response(nova_response([0.0] * 256, "TEXT")),
        invoke_params(
            "us.amazon.nova-2-multimodal-embeddings-v1:0",
            nova_body({"text": {"truncationMode": "END", "value": "x"}}, dimension=256),
        ),
    )
    assert len(nova.embed_text("x")) == 256


def test_build_image_embedder_passes_purpose(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_response(
        "invoke_model",
        invoke_response(nova_response([0.5] * 1024)),
        invoke_params(NOVA, nova_body({"text": {"truncationMode": "END", "value": "red"}}, purpose="IMAGE_RETRIEVAL")),
    )
    embedder = build_image_embedder(client, NOVA, purpose="IMAGE_RETRIEVAL")
    assert embedder.embed_text("red") == [0.5] * 1024


@pytest.mark.parametrize(
    "model_id", ["amazon.titan-embed-text-v2:0", "cohere.embed-english-v3", "amazon.nova-pro-v1:0", "xx.amazon.nova-2"]
)
def test_build_image_embedder_rejects_other_models(model_id: str) -> None:
    with pytest.raises(ValueError):
        build_image_embedder(make_client("bedrock-runtime"), model_id)


@pytest.mark.parametrize("model_id", [TITAN_MM, "us.amazon.nova-2-multimodal-embeddings-v1:0"])
def test_build_embedder_refuses_image_models_with_a_value_error(model_id: str) -> None:
    with pytest.raises(ValueError, match="not a text embedder"):
        build_embedder(make_client("bedrock-runtime"), model_id)


def test_detect_image_format_by_magic_number() -> None:
    assert [detect_image_format(d) for d in (PNG, JPEG, GIF, WEBP_HEADER)] == ["png", "jpeg", "gif", "webp"]
    assert detect_image_format(b"\x89PNG") is None  # a truncated signature is not a PNG
    assert detect_image_format(b"RIFF\x00\x00\x00\x00AVI ") is None
