"""Proof that the fake Bedrock runtime speaks the published Converse / ConverseStream APIs, SigV4 and the
event-stream framing: boto3's ``bedrock-runtime`` client (``endpoint_url`` = the fake) gets answers to converse
and converse_stream (text, tool calls, a tool round trip, an image) and to invoke_model for Titan and Cohere
embeddings, its signatures are accepted and a wrong
secret is refused, and errors arrive as the client's typed exceptions.

boto3 is synchronous, so it runs in a thread while the fake serves on this loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from tests.fakes.bedrock_upstream import COHERE_V3, COHERE_V4, TITAN_V1, TITAN_V2, FakeBedrock, start_fake

AK, SK = "AKIAFAKEPROOF", "fake/secret+key"
CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
TOOLS: Any = {"tools": [{"toolSpec": {"name": "weather", "description": "the weather", "inputSchema": {
    "json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}]}
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJ"
                       "RU5ErkJggg==")


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeBedrock, str]]:
    upstream = FakeBedrock({AK: SK})
    url, stop = await start_fake(upstream)
    yield upstream, url
    await stop()


async def run(url: str, call: Callable[[Any], Any], secret: str = SK) -> Any:
    def go() -> Any:
        client = boto3.client("bedrock-runtime", region_name="us-west-2", endpoint_url=url, aws_access_key_id=AK,
                              aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))
        return call(client)
    return await asyncio.to_thread(go)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


async def test_converse(fake: tuple[FakeBedrock, str]) -> None:
    upstream, url = fake
    answer = await run(url, lambda c: c.converse(
        modelId=CLAUDE, messages=[user("Say hello please")], system=[{"text": "Be brief"}],
        inferenceConfig={"maxTokens": 50, "temperature": 0.5}))
    assert answer["output"]["message"]["content"] == [{"text": "echo: Say hello please"}]
    assert answer["stopReason"] == "end_turn"
    assert (answer["usage"]["inputTokens"], answer["usage"]["outputTokens"]) == (5, 4)
    seen = upstream.requests[-1]
    assert seen.path == f"/model/{CLAUDE}/converse" and seen.headers["authorization"].startswith("AWS4-HMAC-SHA256")


async def test_converse_stream(fake: tuple[FakeBedrock, str]) -> None:
    _, url = fake
    events = await run(url, lambda c: list(c.converse_stream(modelId=CLAUDE, messages=[user("a b c")])["stream"]))
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "echo: a b c"
    assert events[0] == {"messageStart": {"role": "assistant"}}
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["end_turn"]
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 4


async def test_tool_call_and_result(fake: tuple[FakeBedrock, str]) -> None:
    _, url = fake
    first = await run(url, lambda c: c.converse(modelId=CLAUDE, messages=[user("Paris")], toolConfig=TOOLS))
    assert first["stopReason"] == "tool_use"
    use = first["output"]["message"]["content"][0]["toolUse"]
    assert use["name"] == "weather" and use["input"] == {"city": "Paris"}
    history = [user("Paris"), first["output"]["message"],
               {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"],
                                                            "content": [{"text": "sunny"}]}}]}]
    second = await run(url, lambda c: c.converse(modelId=CLAUDE, messages=history, toolConfig=TOOLS))
    assert second["output"]["message"]["content"] == [{"text": "tool said: sunny"}]
    events = await run(url, lambda c: list(c.converse_stream(modelId=CLAUDE, messages=[user("Rome")],
                                                             toolConfig=TOOLS)["stream"]))
    start = next(e["contentBlockStart"]["start"]["toolUse"] for e in events if "contentBlockStart" in e)
    arguments = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events
                        if "contentBlockDelta" in e)
    assert start["name"] == "weather" and arguments == '{"city": "Rome"}'


async def test_image(fake: tuple[FakeBedrock, str]) -> None:
    _, url = fake
    message = {"role": "user", "content": [{"text": "what is this"}, {"image": {"format": "png",
                                                                                "source": {"bytes": PNG}}}]}
    answer = await run(url, lambda c: c.converse(modelId=CLAUDE, messages=[message]))
    assert answer["output"]["message"]["content"][0]["text"] == "echo: what is this (with 1 images)"


async def test_throttled_stream(fake: tuple[FakeBedrock, str]) -> None:
    upstream, url = fake
    upstream.throttle_stream = True
    with pytest.raises(EventStreamError) as raised:
        await run(url, lambda c: list(c.converse_stream(modelId=CLAUDE, messages=[user("a b c")])["stream"]))
    assert raised.value.response["Error"]["Code"] == "throttlingException"


@pytest.mark.parametrize(("secret", "model", "messages", "code", "status"), [
    ("wrong-secret", CLAUDE, [user("x")], "InvalidSignatureException", 403),
    (SK, "anthropic.unknown-v1:0", [user("x")], "ValidationException", 400),
    (SK, CLAUDE, [{"role": "assistant", "content": [{"text": "x"}]}], "ValidationException", 400),
])
async def test_errors(fake: tuple[FakeBedrock, str], secret: str, model: str, messages: Any, code: str,
                      status: int) -> None:
    _, url = fake
    with pytest.raises(ClientError) as raised:
        await run(url, lambda c: c.converse(modelId=model, messages=messages), secret)
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


async def test_invoke_model_titan_embeddings(fake: tuple[FakeBedrock, str]) -> None:
    upstream, url = fake
    for model, body, size in ((TITAN_V2, {"inputText": "hello there", "dimensions": 256, "normalize": True}, 256),
                              (TITAN_V1, {"inputText": "hello there"}, 1536)):
        answer = await run(url, lambda c, m=model, b=body: c.invoke_model(
            modelId=m, body=json.dumps(b), contentType="application/json", accept="application/json"))
        data = json.loads(answer["body"].read())
        assert len(data["embedding"]) == size and data["inputTextTokenCount"] == 2
        assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"] == "2"
        assert upstream.requests[-1].path == f"/model/{model}/invoke"
    same = await run(url, lambda c: json.loads(c.invoke_model(
        modelId=TITAN_V2, body=json.dumps({"inputText": "hello there", "dimensions": 256}))["body"].read()))
    first = await run(url, lambda c: json.loads(c.invoke_model(
        modelId=TITAN_V2, body=json.dumps({"inputText": "hello there", "dimensions": 256}))["body"].read()))
    assert same["embedding"] == first["embedding"]  # a vector is a function of its text


async def test_invoke_model_cohere_embeddings(fake: tuple[FakeBedrock, str]) -> None:
    _, url = fake
    by_type = await run(url, lambda c: json.loads(c.invoke_model(modelId=COHERE_V3, body=json.dumps(
        {"texts": ["a b", "c"], "input_type": "search_document", "embedding_types": ["float"]}))["body"].read()))
    assert by_type["response_type"] == "embeddings_by_type" and len(by_type["embeddings"]["float"]) == 2
    floats = await run(url, lambda c: json.loads(c.invoke_model(modelId=COHERE_V4, body=json.dumps(
        {"texts": ["a b"], "input_type": "search_query", "output_dimension": 256}))["body"].read()))
    assert floats["response_type"] == "embeddings_floats" and len(floats["embeddings"][0]) == 256


@pytest.mark.parametrize(("model", "body"), [
    (TITAN_V2, {"inputText": "x", "dimensions": 100}),
    (TITAN_V1, {"inputText": "x", "dimensions": 256}),
    (TITAN_V2, {"texts": ["x"]}),
    (COHERE_V3, {"texts": ["x"]}),  # input_type is required
    (COHERE_V3, {"texts": ["x"], "input_type": "search_query", "output_dimension": 256}),  # v4 only
    ("amazon.titan-embed-nothing", {"inputText": "x"}),
])
async def test_invoke_model_validation(fake: tuple[FakeBedrock, str], model: str, body: dict[str, Any]) -> None:
    _, url = fake
    with pytest.raises(ClientError) as raised:
        await run(url, lambda c: c.invoke_model(modelId=model, body=json.dumps(body)))
    assert raised.value.response["Error"]["Code"] == "ValidationException"


async def test_invoke_model_is_signed(fake: tuple[FakeBedrock, str]) -> None:
    _, url = fake
    with pytest.raises(ClientError) as raised:
        await run(url, lambda c: c.invoke_model(modelId=TITAN_V2, body=json.dumps({"inputText": "x"})),
                  secret="wrong")
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"
