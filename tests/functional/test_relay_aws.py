"""End to end with the official openai SDK through oneapi to the fake Bedrock runtime (channel type 33): chat
through Converse (One API's model names mapped to Bedrock ids, system merged, SigV4 accepted by the fake's
botocore check), ConverseStream decoded from the event-stream framing, tools both ways and a tool round trip,
images sent as bytes, usage from Bedrock, an exception inside a stream, and refused credentials disabling the
channel; embeddings through InvokeModel (Titan one call per text, Cohere in one call) with the SDK's
embeddings.create, and their refusals.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import openai
import pytest

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.bedrock_upstream import FakeBedrock, embed_vector, start_fake
from tests.functional.relay_env import RelayEnv

AWS = 33
AK, SK = "AKIACHANNEL", "channel/secret"
KEY = f"{AK}|{SK}|us-west-2"
MESSAGES: Any = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Say hello please"}]
# input = "Be brief" (2) + "Say hello please" (3) = 5 words; "echo: Say hello please" is 4.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
TOOLS: Any = [{"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


async def bedrock(env: RelayEnv, key: str = KEY, **channel: Any) -> tuple[FakeBedrock, int]:
    fake = FakeBedrock({AK: SK})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    channel_id = await env.add_channel(url, type=AWS, key=key,
                                       models=channel.pop("models", "claude-3-5-sonnet-20241022,llama3-8b-8192"),
                                       **channel)
    return fake, channel_id


async def test_converse_is_signed_translated_and_billed(relay_env: RelayEnv) -> None:
    fake, channel_id = await bedrock(relay_env)
    answer = await relay_env.client().chat.completions.create(
        model="claude-3-5-sonnet-20241022", messages=MESSAGES, max_tokens=50, temperature=0.5, stop=["END"])
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.choices[0].finish_reason == "stop" and answer.model == "claude-3-5-sonnet-20241022"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (5, 4)
    seen = fake.requests[-1]
    assert seen.path == "/model/anthropic.claude-3-5-sonnet-20241022-v2:0/converse"
    assert seen.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={AK}/")
    assert "/us-west-2/bedrock/aws4_request" in seen.headers["authorization"]
    assert seen.json() == {"messages": [{"role": "user", "content": [{"text": "Say hello please"}]}],
                           "system": [{"text": "Be brief"}],
                           "inferenceConfig": {"maxTokens": 50, "temperature": 0.5, "stopSequences": ["END"]}}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["channel_id"]) == (5, 4, channel_id)
    price = pricing.price_for(relay_env.relay.prices(), "claude-3-5-sonnet-20241022", AWS, "default")
    assert log["quota"] == pricing.text_quota(price, 5, 4) > 0


@pytest.mark.parametrize("include_usage", [False, True])
async def test_converse_stream(relay_env: RelayEnv, include_usage: bool) -> None:
    fake, _ = await bedrock(relay_env)
    extra: Any = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await relay_env.client().chat.completions.create(model="llama3-8b-8192", messages=MESSAGES,
                                                              stream=True, **extra)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Say hello please"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage is not None]
    assert usage == ([(5, 4)] if include_usage else [])
    assert fake.requests[-1].path == "/model/meta.llama3-8b-instruct-v1:0/converse-stream"
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (5, 4, True)


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls(relay_env: RelayEnv, stream: bool) -> None:
    fake, _ = await bedrock(relay_env)
    result: Any = await relay_env.client().chat.completions.create(
        model="claude-3-5-sonnet-20241022", messages=[{"role": "user", "content": "Paris"}], tools=TOOLS,
        tool_choice="required", stream=stream)
    if stream:
        chunks = [c async for c in result]
        calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
        assert calls[0].index == 0 and calls[0].id and calls[0].function.name == "weather"
        arguments = "".join(c.function.arguments or "" for c in calls)
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
    else:
        call = result.choices[0].message.tool_calls[0]
        arguments = call.function.arguments
        assert call.function.name == "weather" and result.choices[0].finish_reason == "tool_calls"
    assert json.loads(arguments) == {"city": "Paris"}
    assert fake.requests[-1].json()["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": TOOLS[0]["function"]["parameters"]}}}],
        "toolChoice": {"any": {}}}


async def test_tool_round_trip(relay_env: RelayEnv) -> None:
    fake, _ = await bedrock(relay_env)
    client = relay_env.client()
    first = await client.chat.completions.create(model="claude-3-5-sonnet-20241022", tools=TOOLS,
                                                 messages=[{"role": "user", "content": "Paris"}])
    message = first.choices[0].message
    assert message.tool_calls
    follow_up: Any = [{"role": "user", "content": "Paris"}, message.model_dump(exclude_none=True),
                      {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}]
    answer = await client.chat.completions.create(model="claude-3-5-sonnet-20241022", tools=TOOLS,
                                                  messages=follow_up)
    assert answer.choices[0].message.content == "tool said: sunny"
    sent = fake.requests[-1].json()["messages"]
    assert sent[2]["content"] == [{"toolResult": {"toolUseId": message.tool_calls[0].id,
                                                  "content": [{"text": "sunny"}]}}]


async def test_images_are_sent_as_bytes(relay_env: RelayEnv) -> None:
    fake, _ = await bedrock(relay_env)
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": "what is this"}, {
        "type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}]
    answer = await relay_env.client().chat.completions.create(model="claude-3-5-sonnet-20241022", messages=messages)
    assert answer.choices[0].message.content == "echo: what is this (with 1 images)"
    block = fake.requests[-1].json()["messages"][0]["content"][1]
    assert block == {"image": {"format": "png", "source": {"bytes": PNG}}}


async def test_a_throttling_exception_inside_the_stream(relay_env: RelayEnv) -> None:
    fake, _ = await bedrock(relay_env)
    fake.throttle_stream = True
    stream = await relay_env.client().chat.completions.create(model="claude-3-5-sonnet-20241022",
                                                              messages=MESSAGES, stream=True)
    text = ""
    with pytest.raises(openai.APIError) as raised:
        async for c in stream:
            text += c.choices[0].delta.content or "" if c.choices else ""
    assert text and "Too many requests" in raised.value.message


@pytest.mark.parametrize(("key", "stream"), [(f"{AK}|wrong|us-west-2", False), (f"AKIAUNKNOWN|{SK}|us-west-2", True)])
async def test_refused_credentials_disable_the_channel(relay_env: RelayEnv, key: str, stream: bool) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    _, channel_id = await bedrock(relay_env, key=key)
    with pytest.raises(openai.AuthenticationError) as raised:
        await relay_env.client().chat.completions.create(model="claude-3-5-sonnet-20241022", messages=MESSAGES,
                                                         stream=stream)
    assert raised.value.response.json()["error"]["type"] == "aws_error"
    channel = await relay_env.services.channels.get(channel_id)
    assert channel["status"] == channel_q.STATUS_AUTO_DISABLED


@pytest.mark.parametrize(("kw", "phrase"), [({"n": 2}, "n=2 is not supported"),
                                            ({"response_format": {"type": "json_object"}},
                                             "no native mechanism for response_format")])
async def test_refused_before_any_call(relay_env: RelayEnv, kw: dict[str, Any], phrase: str) -> None:
    fake, _ = await bedrock(relay_env)
    with pytest.raises(openai.BadRequestError) as raised:
        await relay_env.client().chat.completions.create(**{"model": "claude-3-5-sonnet-20241022",
                                                            "messages": MESSAGES, **kw})
    assert phrase in raised.value.response.json()["error"]["message"] and fake.requests == []


async def test_a_key_without_region_names_the_setting(relay_env: RelayEnv) -> None:
    fake, _ = await bedrock(relay_env, key=f"{AK}|{SK}")
    with pytest.raises(openai.InternalServerError) as raised:
        await relay_env.client().chat.completions.create(model="claude-3-5-sonnet-20241022", messages=MESSAGES)
    assert "AK|SK|Region" in raised.value.response.json()["error"]["message"] and fake.requests == []


# -- embeddings through InvokeModel ------------------------------------------------------------------------

TITAN, COHERE = "amazon.titan-embed-text-v2:0", "cohere.embed-english-v3"


@pytest.mark.parametrize("encoding", ["float", "base64"])
async def test_titan_embeddings_one_call_per_text_billed_by_titans_counts(relay_env: RelayEnv,
                                                                         encoding: str) -> None:
    fake, channel_id = await bedrock(relay_env, models=f"{TITAN},{COHERE}")
    texts = ["the first text", "second", "a third one here"]
    result = await relay_env.client().embeddings.create(model=TITAN, input=texts, dimensions=256,
                                                        encoding_format=encoding)  # type: ignore[arg-type]
    assert [d.index for d in result.data] == [0, 1, 2]
    vectors = [list(struct.unpack(f"<{256}f", base64.b64decode(d.embedding))) if encoding == "base64"
               else d.embedding for d in result.data]
    expected = [embed_vector(t, 256) for t in texts]  # the fake's vectors, in order (float32 for base64)
    assert [len(v) for v in vectors] == [256] * 3
    assert all(abs(a - b) < 1e-6
               for got, want in zip(vectors, expected, strict=True) for a, b in zip(got, want, strict=True))
    assert result.usage.prompt_tokens == result.usage.total_tokens == 3 + 1 + 4  # Titan's inputTextTokenCount
    calls = fake.requests
    assert [c.path for c in calls] == [f"/model/{TITAN}/invoke"] * 3
    assert [c.json() for c in calls] == [{"inputText": t, "normalize": True, "dimensions": 256} for t in texts]
    assert all(c.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={AK}/") for c in calls)
    [log] = await relay_env.consume_logs()
    price = pricing.price_for(relay_env.relay.prices(), TITAN, AWS, "default")
    assert price.known and (log["prompt_tokens"], log["channel_id"]) == (8, channel_id)
    assert log["quota"] == pricing.text_quota(price, 8, 0)


async def test_cohere_embeddings_in_one_call_counted_by_the_relay(relay_env: RelayEnv) -> None:
    fake, _ = await bedrock(relay_env, models=f"{TITAN},{COHERE}")
    result = await relay_env.client().embeddings.create(model=COHERE, input=["one two", "three"],
                                                        encoding_format="float")
    assert [d.embedding[:3] for d in result.data] == [embed_vector(t, 1024)[:3] for t in ("one two", "three")]
    [call] = fake.requests
    assert call.path == f"/model/{COHERE}/invoke"
    assert call.json() == {"texts": ["one two", "three"], "input_type": "search_document",
                           "embedding_types": ["float"]}
    # Bedrock's Cohere answer has no token counts in its body: the relay counts the input, text by text
    counted = relay_env.relay.tokenizer.count_input(["one two", "three"], COHERE)
    [log] = await relay_env.consume_logs()
    assert result.usage.prompt_tokens == log["prompt_tokens"] == counted > 0


async def test_a_titan_error_midway_is_reported_and_refunded(relay_env: RelayEnv) -> None:
    fake, _ = await bedrock(relay_env, models=TITAN)
    fake.throttle_invoke_after = 1
    before = await relay_env.user_row()
    with pytest.raises(openai.RateLimitError) as raised:
        await relay_env.client().embeddings.create(model=TITAN, input=["one", "two", "three"])
    error = raised.value.response.json()["error"]
    assert error["type"] == "aws_error" and "Too many requests" in error["message"]
    assert len(fake.requests) == 2  # the second call was refused: the third is not made
    assert (await relay_env.user_row())["quota"] == before["quota"]


@pytest.mark.parametrize(("model", "kw", "phrase"), [
    (TITAN, {"input": [[1, 2, 3]]}, "not token arrays"),
    (TITAN, {"input": ["ok", ""]}, "non-empty"),
    (TITAN, {"input": "x", "dimensions": 100}, "takes dimensions 256, 512, 1024"),
    (COHERE, {"input": "x", "dimensions": 256}, "one size"),
    (COHERE, {"input": ["x"] * 97}, "at most 96 texts"),
])
async def test_embedding_requests_refused_before_any_call(relay_env: RelayEnv, model: str, kw: dict[str, Any],
                                                          phrase: str) -> None:
    fake, _ = await bedrock(relay_env, models=f"{TITAN},{COHERE}")
    with pytest.raises(openai.BadRequestError) as raised:
        await relay_env.client().embeddings.create(model=model, **kw)
    assert phrase in raised.value.response.json()["error"]["message"]
    assert fake.requests == []
