"""``/v1/oneapi/proxy/{channel}/{path}`` (channel type 43): the official openai SDK pointed at a Proxy channel
reaches the fake OpenAI API through it (chat, a stream, embeddings), any method, path, query and body pass
through with the channel's key in place of the token, upstream errors come back as they are, and only enabled
Proxy channels of the caller's group are reachable. Each call is logged as model ``proxy`` and not charged.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from oneapi.proxy.probe import RelayProber
from tests.fakes.openai_upstream import embedding_vector
from tests.functional.relay_env import RelayEnv
from tests.functional.test_relay_auth import common_user

PROXY = 43
KEY = "Bearer sk-upstream-for-proxy"


async def proxy_channel(env: RelayEnv, **fields: Any) -> tuple[Any, int]:
    fake, url = await env.fake(keys={"sk-upstream-for-proxy"})
    channel_id = await env.add_channel(fields.pop("base_url", url), type=fields.pop("type", PROXY),
                                       key=fields.pop("key", KEY),
                                       models=fields.pop("models", "proxy"), **fields)
    return fake, channel_id


def through(env: RelayEnv, channel_id: int, key: str | None = None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{env.base_url}/v1/oneapi/proxy/{channel_id}/v1",
                              api_key=key or env.root_key, max_retries=0)


async def test_the_openai_sdk_through_a_proxy_channel(relay_env: RelayEnv) -> None:
    fake, channel_id = await proxy_channel(relay_env)
    await relay_env.set_option("LogConsumeEnabled", "true")
    before = await relay_env.user_row()
    client = through(relay_env, channel_id)
    answer = await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "echo: hi"
    stream = await client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                  messages=[{"role": "user", "content": "a b"}])
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "echo: a b"
    vectors = await client.embeddings.create(model="text-embedding-3-small", input="x", encoding_format="float")
    assert vectors.data[0].embedding == embedding_vector("x")
    seen = fake.requests[0]
    assert seen.path == "/v1/chat/completions" and seen.headers["authorization"] == KEY
    assert json.loads(seen.body)["messages"] == [{"role": "user", "content": "hi"}]  # the client's bytes
    logs = await relay_env.consume_logs()
    assert [(row["model_name"], row["quota"], row["channel_id"]) for row in logs] == [("proxy", 0, channel_id)] * 3
    assert "proxy POST /v1/chat/completions → 200" in {row["content"] for row in logs}
    assert (await relay_env.user_row())["quota"] == before["quota"]


async def test_any_method_path_and_query_pass_through(relay_env: RelayEnv) -> None:
    fake, channel_id = await proxy_channel(relay_env)
    headers = {"Authorization": relay_env.root_key, "Cookie": "session=secret", "X-Custom": "kept"}
    url = f"{relay_env.base_url}/v1/oneapi/proxy/{channel_id}/v1/models?limit=2"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.status == 200
        assert {m["id"] for m in (await response.json())["data"]} >= {"gpt-4o-mini"}
        assert response.headers["x-request-id"].startswith("req_")  # the upstream's headers come back
    seen = fake.requests[-1]
    assert (seen.method, seen.path, seen.query) == ("GET", "/v1/models", {"limit": "2"})
    assert seen.headers["x-custom"] == "kept" and "cookie" not in seen.headers
    assert seen.headers["authorization"] == KEY


async def test_upstream_errors_come_back_unchanged(relay_env: RelayEnv) -> None:
    fake, channel_id = await proxy_channel(relay_env)
    fake.fail_next(429, {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"})
    with pytest.raises(openai.RateLimitError) as raised:
        await through(relay_env, channel_id).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.response.json()["error"]["message"] == "slow down"


async def test_only_enabled_proxy_channels_of_the_callers_group(relay_env: RelayEnv) -> None:
    _, openai_channel = await proxy_channel(relay_env, type=1, models="gpt-4o-mini")
    _, vip_only = await proxy_channel(relay_env, group="vip")
    _, disabled = await proxy_channel(relay_env, status=2)
    _, for_default = await proxy_channel(relay_env)
    _, user_key = await common_user(relay_env)
    root = relay_env.root_key
    cases = [(openai_channel, root, 404), (987654, root, 404), ("abc", root, 404), (disabled, root, 403),
             (vip_only, user_key, 403), (vip_only, root, 200), (for_default, user_key, 200),
             (for_default, "sk-not-a-token", 401)]
    async with aiohttp.ClientSession() as http:
        for channel, key, status in cases:
            async with http.get(f"{relay_env.base_url}/v1/oneapi/proxy/{channel}/v1/models",
                                headers={"Authorization": f"Bearer {key}"}) as response:
                assert response.status == status, (channel, key)
                if status != 200:
                    assert (await response.json())["error"]["type"] == "one_api_error"


async def test_a_proxy_channel_without_base_url(relay_env: RelayEnv) -> None:
    _, channel_id = await proxy_channel(relay_env, base_url="")
    with pytest.raises(openai.InternalServerError) as raised:
        await through(relay_env, channel_id).models.list()
    assert raised.value.response.json()["error"]["code"] == "channel_config_invalid"


async def test_the_openai_routes_do_not_use_proxy_channels(relay_env: RelayEnv) -> None:
    fake, channel_id = await proxy_channel(relay_env, models="gpt-4o-mini")
    with pytest.raises(openai.APIStatusError) as raised:
        await relay_env.client().chat.completions.create(model="gpt-4o-mini",
                                                         messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 501 and fake.requests == []
    assert "/v1/oneapi/proxy/{channel}" in raised.value.response.json()["error"]["message"]
    outcome = await RelayProber(relay_env.relay).test(await relay_env.services.channels.get(channel_id), "")
    assert not outcome.ok and "/v1/oneapi/proxy/{channel}" in outcome.message
