"""Channel-type numbers this server does not know, as a database may hold them (a row written by a newer One API;
the API refuses to create them): a positive one is relayed with the OpenAI protocol, Unknown (0) is refused with a
501 that names it, and the channel's row keeps its number."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from oneapi.proxy.probe import RelayProber
from oneapi.store.queries import channels as channel_q
from tests.functional.relay_env import RelayEnv

HI: Any = [{"role": "user", "content": "hi"}]


async def retype(env: RelayEnv, channel_id: int, number: int) -> None:
    await env.services.store.write(channel_q.update, channel_id, {"type": number})
    await env.relay.reload_routes()


async def test_a_type_newer_than_this_server_is_relayed_as_openai(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    channel_id = await relay_env.add_channel(url)
    await retype(relay_env, channel_id, 99)
    answer = await relay_env.client().chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert answer.choices[0].message.content
    assert [r.path for r in fake.requests] == ["/v1/chat/completions"]
    assert fake.requests[0].headers["Authorization"] == "Bearer upstream-key"
    assert (await relay_env.services.channels.get(channel_id))["type"] == 99


async def test_the_unknown_type_is_refused_with_its_number(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    channel_id = await relay_env.add_channel(url)
    await retype(relay_env, channel_id, 0)
    with pytest.raises(openai.APIStatusError) as raised:
        await relay_env.client().chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert raised.value.status_code == 501 and fake.requests == []
    assert "channel type 0 is not a type this server knows" in raised.value.response.json()["error"]["message"]
    outcome = await RelayProber(relay_env.relay).test(await relay_env.services.channels.get(channel_id), "")
    assert not outcome.ok and outcome.message == "channel type 0 is not a type this server knows"
