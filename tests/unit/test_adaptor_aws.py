"""The AWS Bedrock adaptor's pure parts (oneapi/proxy/adaptors/aws.py): golden JSON cases in
tests/unit/golden/aws/ (Converse requests with their SigV4 headers at a fixed clock, answers, errors), run by the
harness of test_adaptor_zhipu.py; and ConverseStream's event-stream frames translated chunk by chunk (binary, so
built here with the encoder that botocore's parser accepts). Regenerate the golden files after an intended
change with ``ONEAPI_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oneapi.proxy.adaptors import adaptor_for, aws
from oneapi.proxy.adaptors.aws import ADAPTOR, model_id
from oneapi.proxy.adaptors.eventstream import encode
from oneapi.proxy.errors import UpstreamError
from tests.unit.test_adaptor_zhipu import check_golden, golden_request

GOLDEN = Path(__file__).parent / "golden" / "aws"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Converse answers carry no id: the adaptor makes a random one, fixed here so that the answers compare.
    monkeypatch.setattr(aws, "completion_id", lambda: "chatcmpl-golden")
    check_golden(ADAPTOR, 33, path)


def test_the_registry_serves_this_adaptor() -> None:
    assert adaptor_for(33) is ADAPTOR and ADAPTOR.passthrough is False


def test_model_ids() -> None:
    assert model_id("claude-3-5-sonnet-latest") == "anthropic.claude-3-5-sonnet-20241022-v2:0"
    assert model_id("llama3-70b-8192") == "meta.llama3-70b-instruct-v1:0"
    assert model_id("mistral.mistral-large-2402-v1:0") == "mistral.mistral-large-2402-v1:0"


def event(kind: str, data: dict[str, Any]) -> bytes:
    return encode({":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                  json.dumps(data).encode())


def translate(frames: bytes, size: int) -> tuple[list[dict[str, Any]], Any]:
    request = golden_request({"model": "m", "stream": True, "json": {"model": "m", "stream": True}}, 1_717_171_717)
    translator = ADAPTOR.stream_translator(request)
    chunks: list[dict[str, Any]] = []
    for at in range(0, len(frames), size):
        chunks += translator.feed(frames[at:at + size])
    return chunks + translator.finish(), translator.usage


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_stream_text_tools_reasoning_and_usage(size: int) -> None:
    frames = b"".join([
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Hel"}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "lo"}}),
        event("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t1", "name": "w"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"a\":"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "1}"}}}),
        event("contentBlockStop", {"contentBlockIndex": 2}),
        event("messageStop", {"stopReason": "tool_use"}),
        event("metadata", {"usage": {"inputTokens": 9, "outputTokens": 4, "totalTokens": 13}})])
    chunks, usage = translate(frames, size)
    deltas = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks]
    assert deltas == [
        ({"role": "assistant", "reasoning_content": "hmm"}, None), ({"content": "Hel"}, None),
        ({"content": "lo"}, None),
        ({"tool_calls": [{"index": 0, "id": "t1", "type": "function", "function": {"name": "w", "arguments": ""}}]},
         None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}, None), ({}, "tool_calls")]
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (9, 4)
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and chunks[0]["created"] == 1_717_171_717


def test_an_exception_after_text_comes_after_the_text() -> None:
    frames = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}) + encode(
        {":message-type": "exception", ":exception-type": "modelStreamErrorException"}, b'{"message":"broke"}')
    request = golden_request({"model": "m", "stream": True, "json": {"model": "m"}}, 0)
    translator = ADAPTOR.stream_translator(request)
    assert [c["choices"][0]["delta"]["content"] for c in translator.feed(frames)] == ["Hi"]
    with pytest.raises(UpstreamError) as raised:
        translator.finish()
    assert (raised.value.http_status, raised.value.code, raised.value.message) == (
        500, "modelStreamErrorException", "broke")


def test_a_stream_cut_inside_a_message_is_unreadable() -> None:
    frames = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    request = golden_request({"model": "m", "stream": True, "json": {"model": "m"}}, 0)
    translator = ADAPTOR.stream_translator(request)
    assert translator.feed(frames[:-3]) == []
    with pytest.raises(ValueError, match="inside a message"):
        translator.finish()


# -- embeddings: Titan's one call per text ----------------------------------------------------------------


def embeddings_request(model: str, texts: list[str]) -> Any:
    return golden_request({"mode": "embeddings", "model": model, "json": {"model": model, "input": texts}},
                          1_717_171_717.25)


def test_titan_embeds_each_text_in_turn_and_collects_the_answers() -> None:
    from oneapi.proxy.adaptors.base import Collected, FollowUp
    from tests.unit.test_adaptor_zhipu import golden_channel

    channel = golden_channel(33, {"key": "AKIAGOLDEN|golden/secret|eu-central-1"})
    call = ADAPTOR.build(channel, embeddings_request("amazon.titan-embed-text-v2:0", ["one", "two", "three"]))
    answers = [b'{"embedding": [%d], "inputTextTokenCount": 1}' % n for n in range(3)]
    sent = [json.loads(call.body)["inputText"]]
    for answer in answers[:2]:
        assert call.follow is not None
        step = call.follow(200, answer)
        assert isinstance(step, FollowUp) and step.delay == 0
        call = step.call
        assert call.url.endswith("/model/amazon.titan-embed-text-v2:0/invoke")
        assert call.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAGOLDEN/")
        sent.append(json.loads(call.body)["inputText"])
    assert sent == ["one", "two", "three"]
    assert call.follow is not None
    collected = call.follow(200, answers[2])
    assert isinstance(collected, Collected)
    answer, usage = ADAPTOR.parse_response(embeddings_request("amazon.titan-embed-text-v2:0", ["x"] * 3),
                                           collected.body)
    assert [d["embedding"] for d in answer["data"]] == [[0.0], [1.0], [2.0]] and usage == aws.Usage(3, 0)
    # an error on the way is the answer: delivered as it is, for error() to report
    first = ADAPTOR.build(channel, embeddings_request("amazon.titan-embed-text-v2:0", ["one", "two"]))
    assert first.follow is not None and first.follow(429, b'{"message": "Too many requests"}') is None


def test_cohere_embeds_in_one_call() -> None:
    from tests.unit.test_adaptor_zhipu import golden_channel

    channel = golden_channel(33, {"key": "AKIAGOLDEN|golden/secret|eu-central-1"})
    call = ADAPTOR.build(channel, embeddings_request("cohere.embed-english-v3", ["one", "two"]))
    assert call.follow is None and json.loads(call.body)["texts"] == ["one", "two"]


def test_too_many_texts_are_refused() -> None:
    from tests.unit.test_adaptor_zhipu import golden_channel

    channel = golden_channel(33, {"key": "AKIAGOLDEN|golden/secret|eu-central-1"})
    for model, most in (("amazon.titan-embed-text-v2:0", aws.MAX_TITAN_TEXTS), ("cohere.embed-v4:0", 96)):
        with pytest.raises(aws.RelayError, match=f"at most {most} texts"):
            ADAPTOR.build(channel, embeddings_request(model, ["x"] * (most + 1)))
