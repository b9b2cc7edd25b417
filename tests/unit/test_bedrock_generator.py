"""ConverseGenerator against botocore's Stubber: the Converse request is validated against the real service model.

Throttling runs on the stage's client answered at the HTTP send (``runtime_wire``), where botocore's retries happen.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from chalicelib.core.answer_sources import answer_files
from chalicelib.core.conversation import Conversation
from chalicelib.core.errors import InternalError, ThrottlingError
from chalicelib.core.generated_answer import SYSTEM_PROMPT, GeneratedAnswerer
from chalicelib.core.ports.models import ChatMessage, Generator
from chalicelib.models.bedrock.calls import THROTTLING_MESSAGE
from chalicelib.models.bedrock.generators import ConverseGenerator, converse_messages
from tests.fakes.bedrock import ScriptedBedrock
from tests.unit.test_bedrock_models import ATTEMPTS, CHAT, assert_throttling_backoffs, make_client


def converse_response(text: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 50, "outputTokens": 6, "totalTokens": 56},
        "metrics": {"latencyMs": 120},
    }


def test_generate_sends_system_alternating_messages_and_greedy_decoding(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_response(
        "converse",
        converse_response('  {"answer": "Five years.", "citations": [1]}\n'),
        {
            "modelId": CHAT,
            "system": [{"text": "Answer from the documents."}],
            "messages": [
                {"role": "user", "content": [{"text": "(earlier conversation omitted)"}]},
                {"role": "assistant", "content": [{"text": "Hello."}]},
                {"role": "user", "content": [{"text": "Tell me about Model X.\n\nAnd its warranty?"}]},
            ],
            "inferenceConfig": {"maxTokens": 512, "temperature": 0.0},
        },
    )
    generator: Generator = ConverseGenerator(client, CHAT)
    messages = [
        ChatMessage("assistant", "Hello."),
        ChatMessage("user", "Tell me about Model X."),
        ChatMessage("user", "  "),
        ChatMessage("user", "And its warranty?"),
    ]
    reply = generator.generate("Answer from the documents.", messages, max_tokens=512)
    assert reply == '{"answer": "Five years.", "citations": [1]}'
    assert generator.name == CHAT


def test_a_blank_system_prompt_is_left_out(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_response(
        "converse",
        converse_response("hi"),
        {
            "modelId": CHAT,
            "messages": [{"role": "user", "content": [{"text": "q"}]}],
            "inferenceConfig": {"maxTokens": 16, "temperature": 0.0},
        },
    )
    assert ConverseGenerator(client, CHAT).generate(" ", [ChatMessage("user", "q")], max_tokens=16) == "hi"


def test_empty_output_raises_internal_error(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    stub.add_response("converse", converse_response("   "))
    with pytest.raises(InternalError, match="empty"):
        ConverseGenerator(client, CHAT).generate("s", [ChatMessage("user", "q")], max_tokens=16)


def test_throttling_is_retried_then_succeeds(runtime_wire: tuple[Any, ScriptedBedrock], backoffs: list[float]) -> None:
    client, wire = runtime_wire
    wire.error("ThrottlingException", 429, "slow down").answer(converse_response("ok"))
    assert ConverseGenerator(client, CHAT).generate("s", [ChatMessage("user", "q")], max_tokens=8) == "ok"
    assert len(wire.sent) == 2 and wire.sent[0] == wire.sent[1]
    assert_throttling_backoffs(backoffs, 1)


def test_throttling_exhausted_raises_throttling_error(
    runtime_wire: tuple[Any, ScriptedBedrock], backoffs: list[float]
) -> None:
    client, wire = runtime_wire
    wire.error("ThrottlingException", 429, "slow down", times=ATTEMPTS)
    with pytest.raises(ThrottlingError) as caught:
        ConverseGenerator(client, CHAT).generate("s", [ChatMessage("user", "q")], max_tokens=8)
    assert caught.value.message == THROTTLING_MESSAGE
    assert len(wire.sent) == ATTEMPTS
    assert_throttling_backoffs(backoffs, ATTEMPTS - 1)


def test_bad_arguments_are_refused_before_any_call() -> None:
    generator = ConverseGenerator(make_client("bedrock-runtime"), CHAT)
    with pytest.raises(ValueError, match="max_tokens"):
        generator.generate("s", [ChatMessage("user", "q")], max_tokens=0)
    with pytest.raises(ValueError, match="non-blank"):
        generator.generate("s", [ChatMessage("user", " ")], max_tokens=8)


def test_converse_messages_keep_an_alternating_conversation_as_it_is() -> None:
    turns = [ChatMessage("user", "a"), ChatMessage("assistant", "b"), ChatMessage("user", "c")]
    assert converse_messages(turns) == [
        {"role": "user", "content": [{"text": "a"}]},
        {"role": "assistant", "content": [{"text": "b"}]},
        {"role": "user", "content": [{"text": "c"}]},
    ]


def test_generated_answer_through_converse(runtime: tuple[Any, Stubber]) -> None:
    client, stub = runtime
    files = answer_files(
        [
            {"ProjectName": "p", "DatasetName": "d", "ObjectId": "y", "URI": "oss://b/y", "Title": "Model Y: A+++."},
            {"ProjectName": "p", "DatasetName": "d", "ObjectId": "x", "URI": "oss://b/x", "Title": "Model X: 5 years."},
        ]
    )
    stub.add_response(
        "converse",
        converse_response('```json\n{"answer": "Five years.", "citations": [2]}\n```'),
        {
            "modelId": CHAT,
            "system": [{"text": SYSTEM_PROMPT}],
            "messages": [{"role": "user", "content": [{"text": ANY}]}],
            "inferenceConfig": {"maxTokens": 1024, "temperature": 0.0},
        },
    )
    answer = GeneratedAnswerer(ConverseGenerator(client, CHAT)).answer(Conversation((), "Model X warranty?"), files)
    assert answer.content == "Five years."
    assert [file.reference for file in answer.references] == [
        {"ProjectName": "p", "DatasetName": "d", "ObjectId": "x", "URI": "oss://b/x"}
    ]
