"""360 Zhinao (channel type 19) end to end: plain OpenAI protocol (SPEC 6.1), served by the OpenAI adaptor.

The official openai SDK → oneapi → the fake OpenAI upstream (tests/fakes/openai_upstream.py) on a type-19
channel: the 360 model list, chat non-stream (with a system message) and stream, embeddings in the SDK's default
base64 and in floats, billing at the 360 ratios from the upstream's usage, and a wrong key.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.base import Mode, RelayRequest
from oneapi.proxy.adaptors.openai import OPENAI
from oneapi.services import pricing
from oneapi.services.routing import route_channel
from oneapi.store.queries import channels as channel_q
from tests.fakes.openai_upstream import embedding_vector
from tests.functional.relay_env import RelayEnv

AI360 = 19
KEY = "sk-360-upstream-key"
CHAT_MODEL = "360GPT_S2_V9"
EMBEDDING_MODELS = ("embedding-bert-512-v1", "embedding_s1_v1")
MODELS = f"{CHAT_MODEL},embedding-bert-512-v1,embedding_s1_v1,semantic_similarity_s1_v1"
MESSAGES: Any = [{"role": "system", "content": "You are terse"}, {"role": "user", "content": "Say hello please"}]
# The fake's usage: prompt = (3 words + 3) + (3 words + 3) = 12; "echo: Say hello please" = 4 words.


async def add_360(env: RelayEnv, url: str, key: str = KEY) -> int:
    return await env.add_channel(url, type=AI360, key=key, models=MODELS)


def quota(env: RelayEnv, model: str, prompt: int, completion: int) -> int:
    return pricing.text_quota(pricing.price_for(env.relay.prices(), model, AI360, "default"), prompt, completion)


def test_360_speaks_openai_at_its_default_host() -> None:
    assert adaptor_for(AI360) is OPENAI
    channel = route_channel({"id": 1, "type": AI360, "name": "360", "key": KEY, "base_url": "", "status": 1,
                                     "models": MODELS, "group": "default"})
    modes: list[tuple[str, Mode]] = [("/v1/chat/completions", "chat"), ("/v1/embeddings", "embeddings")]
    for path, mode in modes:
        body = {"model": CHAT_MODEL, "messages": MESSAGES} if mode == "chat" else {"model": "embedding_s1_v1",
                                                                                   "input": "x"}
        request = RelayRequest(mode=mode, path=path, query="", body=json.dumps(body).encode(), json=body,
                               model=body["model"], upstream_model=body["model"], stream=False,
                               content_type="application/json", accept="")
        call = OPENAI.build(channel, request)
        assert call.url == "https://ai.360.cn" + path
        assert call.headers["Authorization"] == f"Bearer {KEY}"


async def test_360_models_are_listed(relay_env: RelayEnv) -> None:
    _, url = await relay_env.fake()
    await add_360(relay_env, url)
    listed = {m.id: m for m in (await relay_env.client().models.list()).data}
    assert set(MODELS.split(",")) <= set(listed)
    assert {listed[m].owned_by for m in MODELS.split(",")} == {"360"}


async def test_360_chat_non_stream_with_system_message_is_billed(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake(keys={KEY})
    await add_360(relay_env, url)
    before = await relay_env.user_row()
    answer = await relay_env.client().chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: Say hello please" and answer.model == CHAT_MODEL
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 4)
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json()["messages"] == MESSAGES and sent.json()["model"] == CHAT_MODEL

    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (12, 4)
    assert log["quota"] == quota(relay_env, CHAT_MODEL, 12, 4) > 0  # 360GPT_S2_V9's ratio, 0.8572
    assert before["quota"] - (await relay_env.user_row())["quota"] == log["quota"]


async def test_360_chat_stream_sends_usage_only_when_asked(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake(keys={KEY})
    await add_360(relay_env, url)
    client = relay_env.client()
    for include_usage in (False, True):
        options: Any = {"include_usage": True} if include_usage else openai.NOT_GIVEN
        stream = await client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True,
                                                      stream_options=options)
        text, usages = "", []
        async for chunk in stream:
            if chunk.usage is not None:
                usages.append((chunk.usage.prompt_tokens, chunk.usage.completion_tokens))
            text += "".join(c.delta.content or "" for c in chunk.choices)
        assert text == "echo: Say hello please"
        assert usages == ([(12, 4)] if include_usage else [])
        assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}  # asked of the upstream
    logs = await relay_env.consume_logs()
    assert [(log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) for log in logs] == [(12, 4, True)] * 2


@pytest.mark.parametrize("model", EMBEDDING_MODELS)
async def test_360_embeddings_base64_and_float(relay_env: RelayEnv, model: str) -> None:
    fake, url = await relay_env.fake(keys={KEY})
    await add_360(relay_env, url)
    client = relay_env.client()
    inputs = ["first text here", "second"]
    default = await client.embeddings.create(model=model, input=inputs)  # the SDK asks for base64
    assert fake.requests[-1].json()["encoding_format"] == "base64"
    assert [d.embedding for d in default.data] == [embedding_vector(t) for t in inputs]  # decoded by the SDK
    floats = await client.embeddings.create(model=model, input=inputs, encoding_format="float")
    assert fake.requests[-1].json()["encoding_format"] == "float"
    assert [d.embedding for d in floats.data] == [embedding_vector(t) for t in inputs]
    assert default.usage.prompt_tokens == floats.usage.prompt_tokens == 4
    logs = await relay_env.consume_logs()
    assert [(log["model_name"], log["prompt_tokens"]) for log in logs] == [(model, 4)] * 2
    assert logs[0]["quota"] == quota(relay_env, model, 4, 0)  # the 360 embedding ratio, 0.0715


async def test_360_wrong_key_is_a_clear_401_and_disables_the_channel(relay_env: RelayEnv) -> None:
    _, url = await relay_env.fake(keys={KEY})
    channel_id = await add_360(relay_env, url, key="sk-360-wrong-key")
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert "Incorrect API key provided" in caught.value.message
    row = await relay_env.services.store.read(channel_q.get, channel_id)
    assert row is not None and row["status"] == channel_q.STATUS_AUTO_DISABLED
