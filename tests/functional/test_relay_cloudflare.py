"""End to end with the official openai SDK through oneapi to the fake Workers AI API (channel type 37): the
account id from the channel config, chat (plain, streamed, tools) and embeddings passed through to the
OpenAI-compatible endpoints with usage from the answer, AI Gateway and account-bearing base URLs, modes Workers
AI has no OpenAI endpoint for, a channel without an account id, and Cloudflare's error envelope.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.cloudflare_upstream import ACCOUNT, FakeCloudflare, start_fake
from tests.fakes.openai_upstream import embedding_vector
from tests.functional.relay_env import RelayEnv

CLOUDFLARE = 37
TOKEN = "cf-channel-token"
CHAT = "@cf/meta/llama-3.1-8b-instruct"
EMBED = "@cf/baai/bge-m3"
MESSAGES: Any = [{"role": "system", "content": "You are terse"}, {"role": "user", "content": "Say hello please"}]
# prompt = (3 + 3) + (3 + 3) = 12 words; the echo "echo: Say hello please" is 4.
PREFIX = f"/client/v4/accounts/{ACCOUNT}/ai"


async def workers_ai(env: RelayEnv, token: str = TOKEN, config: Any = None, base: str = "",
                     **channel: Any) -> tuple[FakeCloudflare, int]:
    fake = FakeCloudflare({TOKEN})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    config = {"user_id": ACCOUNT} if config is None else config
    channel_id = await env.add_channel(url + base, type=CLOUDFLARE, key=token, models=f"{CHAT},{EMBED}",
                                       config=json.dumps(config), **channel)
    return fake, channel_id


async def test_chat_is_passed_through_and_billed_from_the_answer(relay_env: RelayEnv) -> None:
    fake, channel_id = await workers_ai(relay_env)
    answer = await relay_env.client().chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=20)
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 4)
    seen = fake.openai.requests[-1]
    assert seen.path == f"{PREFIX}/v1/chat/completions" and seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(seen.body) == {"model": CHAT, "messages": MESSAGES, "max_tokens": 20}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["channel_id"]) == (12, 4, channel_id)
    price = pricing.price_for(relay_env.relay.prices(), CHAT, CLOUDFLARE, "default")
    assert log["quota"] == pricing.text_quota(price, 12, 4)


async def test_stream_asks_for_usage(relay_env: RelayEnv) -> None:
    fake, _ = await workers_ai(relay_env)
    stream = await relay_env.client().chat.completions.create(model=CHAT, messages=MESSAGES, stream=True)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Say hello please"
    assert all(c.usage is None for c in chunks)  # the usage chunk oneapi asked for is not the client's
    assert json.loads(fake.openai.requests[-1].body)["stream_options"] == {"include_usage": True}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (12, 4, True)


async def test_tools_pass_through(relay_env: RelayEnv) -> None:
    await workers_ai(relay_env)
    tools: Any = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    answer = await relay_env.client().chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Paris"}], tools=tools)
    call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "weather" and json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]


async def test_embeddings(relay_env: RelayEnv) -> None:
    fake, _ = await workers_ai(relay_env)
    result = await relay_env.client().embeddings.create(model=EMBED, input=["I love matcha", "tea"],
                                                        encoding_format="float")
    assert result.data[0].embedding == embedding_vector("I love matcha")
    assert fake.openai.requests[-1].path == f"{PREFIX}/v1/embeddings"
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (4, 0)


@pytest.mark.parametrize("base", [PREFIX, f"{PREFIX}/v1/"])
async def test_a_base_url_naming_the_account_needs_no_config(relay_env: RelayEnv, base: str) -> None:
    fake, _ = await workers_ai(relay_env, config={}, base=base)
    answer = await relay_env.client().chat.completions.create(model=CHAT, messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert fake.openai.requests[-1].path == f"{PREFIX}/v1/chat/completions"


async def test_without_an_account_id_the_channel_says_so(relay_env: RelayEnv) -> None:
    fake, _ = await workers_ai(relay_env, config={})
    with pytest.raises(openai.InternalServerError) as raised:
        await relay_env.client().chat.completions.create(model=CHAT, messages=MESSAGES)
    error = raised.value.response.json()["error"]
    assert error["code"] == "channel_config_invalid" and "user_id" in error["message"]
    assert fake.openai.requests == []


async def test_modes_without_an_openai_endpoint_are_not_served(relay_env: RelayEnv) -> None:
    fake, _ = await workers_ai(relay_env)
    with pytest.raises(openai.APIStatusError) as raised:
        await relay_env.client().completions.create(model=CHAT, prompt="Say hello")
    assert raised.value.status_code == 501 and fake.openai.requests == []


async def test_bad_token_is_cloudflares_message_and_disables_the_channel(relay_env: RelayEnv) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    _, channel_id = await workers_ai(relay_env, token="cf-wrong")
    with pytest.raises(openai.AuthenticationError) as raised:
        await relay_env.client().chat.completions.create(model=CHAT, messages=MESSAGES)
    assert raised.value.response.json()["error"]["message"].startswith("Authentication error")
    channel = await relay_env.services.channels.get(channel_id)
    assert channel["status"] == channel_q.STATUS_AUTO_DISABLED
