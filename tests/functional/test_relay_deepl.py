"""End to end with the official openai SDK through oneapi to the fake DeepL API (channel type 38): translation as
a chat model (target language from the model name, system messages as DeepL's context), the pseudo-stream,
billing by DeepL's billed characters, the host chosen by the key when the channel has no base URL, refusals of
what DeepL cannot do, and DeepL's errors (403, 456) as errors that disable the channel.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.adaptors.deepl import ADAPTOR, FREE_HOST, PRO_HOST
from oneapi.services import pricing
from oneapi.services.routing import route_channel
from oneapi.store.queries import channels as channel_q
from tests.fakes.deepl_upstream import TRANSLATE_PATH, FakeDeepL, start_fake
from tests.functional.relay_env import RelayEnv

DEEPL = 38
KEY = "deepl-channel:fx"
MODELS = "deepl-zh,deepl-en-us,deepl-ja"
MESSAGES: Any = [{"role": "system", "content": "Business e-mail"}, {"role": "user", "content": "Hello, world"}]


async def deepl(env: RelayEnv, key: str = KEY, **channel: Any) -> tuple[FakeDeepL, int]:
    fake = FakeDeepL({KEY})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    channel_id = await env.add_channel(url, type=DEEPL, key=key, models=channel.pop("models", MODELS), **channel)
    return fake, channel_id


async def test_translation_is_billed_by_billed_characters(relay_env: RelayEnv) -> None:
    fake, channel_id = await deepl(relay_env)
    before = await relay_env.user_row()
    answer = await relay_env.client().chat.completions.create(model="deepl-ja", messages=MESSAGES)
    assert answer.choices[0].message.content == "[JA] Hello, world"
    assert answer.choices[0].finish_reason == "stop" and answer.model == "deepl-ja"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 0)
    seen = fake.requests[-1]
    assert seen.path == TRANSLATE_PATH and seen.headers["authorization"] == f"DeepL-Auth-Key {KEY}"
    assert seen.json() == {"text": ["Hello, world"], "target_lang": "JA", "context": "Business e-mail",
                           "show_billed_characters": True}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["channel_id"]) == (12, 0, channel_id)
    price = pricing.price_for(relay_env.relay.prices(), "deepl-ja", DEEPL, "default")
    assert price.known and log["quota"] == pricing.text_quota(price, 12, 0) > 0
    assert before["quota"] - (await relay_env.user_row())["quota"] == log["quota"]


@pytest.mark.parametrize("include_usage", [False, True])
async def test_pseudo_stream(relay_env: RelayEnv, include_usage: bool) -> None:
    await deepl(relay_env)
    extra: Any = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await relay_env.client().chat.completions.create(
        model="deepl-zh", messages=[{"role": "user", "content": "Good morning"}], stream=True, **extra)
    chunks = [c async for c in stream]
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert contents == ["[ZH] Good morning"] and chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage is not None]
    assert usage == ([(12, 0)] if include_usage else [])
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["is_stream"]) == (12, True)


@pytest.mark.parametrize(("kw", "phrase"), [
    ({"n": 2}, "n=2 is not supported"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "do not support tools"),
    ({"response_format": {"type": "json_object"}}, "no native mechanism for response_format"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}]},
     "do not accept images"),
    ({"messages": [{"role": "user", "content": "   "}]}, "no text to translate"),
])
async def test_refused_before_any_call(relay_env: RelayEnv, kw: dict[str, Any], phrase: str) -> None:
    fake, _ = await deepl(relay_env)
    before = await relay_env.user_row()
    with pytest.raises(openai.BadRequestError) as raised:
        await relay_env.client().chat.completions.create(**{"model": "deepl-zh", "messages": MESSAGES, **kw})
    assert phrase in raised.value.response.json()["error"]["message"]
    assert fake.requests == [] and (await relay_env.user_row())["quota"] == before["quota"]


async def test_embeddings_are_not_served(relay_env: RelayEnv) -> None:
    fake, _ = await deepl(relay_env)
    with pytest.raises(openai.APIStatusError) as raised:
        await relay_env.client().embeddings.create(model="deepl-zh", input="x")
    assert raised.value.status_code == 501 and fake.requests == []


@pytest.mark.parametrize(("status", "message", "error_class"), [
    (403, "Forbidden", openai.AuthenticationError),
    (456, "Quota Exceeded", openai.APIStatusError),  # reported as 402
])
async def test_bad_key_and_used_up_quota_disable_the_channel(relay_env: RelayEnv, status: int, message: str,
                                                             error_class: type[openai.APIStatusError]) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    fake, channel_id = await deepl(relay_env)
    fake.fail_next(status, message)
    with pytest.raises(error_class) as raised:
        await relay_env.client().chat.completions.create(model="deepl-zh", messages=MESSAGES)
    assert raised.value.response.json()["error"]["message"].startswith(message)
    assert raised.value.status_code == (401 if status == 403 else 402)
    channel = await relay_env.services.channels.get(channel_id)
    assert channel["status"] == channel_q.STATUS_AUTO_DISABLED


@pytest.mark.parametrize(("key", "host"), [("abc:fx", FREE_HOST), ("abc", PRO_HOST)])
def test_the_host_follows_the_key_without_a_base_url(key: str, host: str) -> None:
    channel = route_channel({"id": 1, "type": DEEPL, "name": "d", "key": key, "base_url": "", "status": 1,
                                     "models": "deepl-zh", "group": "default"})
    data = {"model": "deepl-zh", "messages": [{"role": "user", "content": "hi"}]}
    request = RelayRequest(mode="chat", path="/v1/chat/completions", query="", body=b"", json=data,
                           model="deepl-zh", upstream_model="deepl-zh", stream=False,
                           content_type="application/json", accept="")
    assert ADAPTOR.build(channel, request).url == host + TRANSLATE_PATH
