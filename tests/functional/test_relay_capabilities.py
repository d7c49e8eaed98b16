"""A request asks for what a channel's adaptor cannot give (several choices, a response_format, tools, images):
the relay routes around that channel, and when no channel of the group can serve it answers 400 naming what is
missing, rather than sending the request with the field dropped (oneapi/proxy/capabilities.py)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from oneapi.channel_types import ChannelType
from oneapi.proxy.adaptors import TRANSLATING, adaptor_for
from oneapi.proxy.adaptors.base import EVERY_FORMAT, AdaptorBase
from oneapi.proxy.capabilities import refusal
from tests.fakes.anthropic_upstream import FakeAnthropic, start_fake
from tests.functional.relay_env import RelayEnv

MODEL = "claude-3-5-sonnet-20241022"
HI: Any = [{"role": "user", "content": "hi"}]
TOOL: Any = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}


async def claude(env: RelayEnv, **fields: Any) -> FakeAnthropic:
    fake = FakeAnthropic(keys={"k"})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    await env.add_channel(url, type=14, key="k", models=MODEL, **fields)
    return fake


async def test_n_above_one_on_a_claude_channel_is_refused_with_a_400_that_says_so(relay_env: RelayEnv) -> None:
    fake = await claude(relay_env)
    with pytest.raises(openai.BadRequestError) as caught:
        await relay_env.client().chat.completions.create(model=MODEL, messages=HI, n=2)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "n_not_supported" and error["param"] == "n"
    assert error["type"] == "invalid_request_error" and "n=2" in error["message"]
    assert fake.requests == []  # nothing was sent, nothing billed
    answer = await relay_env.client().chat.completions.create(model=MODEL, messages=HI, n=1)
    assert len(answer.choices) == 1


async def test_a_channel_that_can_serve_it_is_chosen_instead(relay_env: RelayEnv) -> None:
    claude_fake = await claude(relay_env, priority=10)  # the preferred tier, but it cannot answer n=2
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, models=MODEL)
    for _ in range(3):
        answer = await relay_env.client().chat.completions.create(model=MODEL, messages=HI, n=2)
        assert len(answer.choices) == 2
    assert claude_fake.requests == [] and len(fake.requests) == 3


@pytest.mark.parametrize(("channel_type", "data", "code"), [
    (14, {"n": 3}, "n_not_supported"),
    (16, {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
     "response_format_not_supported"),
    (18, {"response_format": {"type": "json_object"}}, "response_format_not_supported"),
    (23, {"tools": [TOOL]}, "tools_not_supported"),
    (15, {"functions": [TOOL["function"]]}, "tools_not_supported"),
    (18, {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/i.png"}}]}]},
     "images_not_supported"),
    (14, {"response_format": {"type": ["json_object"]}}, "response_format_not_supported"),  # not a crash
])
def test_refusals(channel_type: int, data: dict[str, Any], code: str) -> None:
    adaptor = adaptor_for(channel_type)
    assert adaptor is not None
    problem = refusal(adaptor, "chat", {"messages": HI, **data})
    assert problem is not None and problem.code == code and problem.http_status == 400
    assert problem.message.startswith(f"{adaptor.name} channels ")  # the one reader of Adaptor.name


@pytest.mark.parametrize(("channel_type", "data"), [
    (1, {"n": 4, "tools": [TOOL], "response_format": {"type": "json_schema"}}),
    (1, {"response_format": {"type": "a-type-of-tomorrow"}}),  # OpenAI's upstream judges its own protocol
    (24, {"n": 2, "response_format": {"type": "json_schema"}}),
    (17, {"response_format": {"type": "json_object"}, "tools": [TOOL]}),
    (16, {"response_format": {"type": "json_object"}, "tools": [TOOL]}),
    (14, {"n": 1, "tools": [TOOL]}),
    (11, {"n": 2}),
])
def test_what_adaptors_serve_is_not_refused(channel_type: int, data: dict[str, Any]) -> None:
    adaptor = adaptor_for(channel_type)
    assert adaptor is not None
    assert refusal(adaptor, "chat", {"messages": HI, **data}) is None


def test_every_adaptor_declares_on_the_base_class() -> None:
    """A new adaptor states what it serves by inheriting AdaptorBase (cautious defaults) and overriding."""
    types = [ChannelType.OPENAI, ChannelType.AZURE, *TRANSLATING]
    for channel_type in types:
        adaptor = adaptor_for(channel_type)
        assert isinstance(adaptor, AdaptorBase), channel_type
        assert adaptor.response_formats <= EVERY_FORMAT and "text" in adaptor.response_formats
