"""End to end with the official openai SDK through oneapi to the fake Replicate API (channel type 46): a language
model as chat, non-stream (Prefer: wait, then polled while running) and streamed from the prediction's stream
URL (or polled and pseudo-streamed when it has none), with usage from the prediction's metrics; an image model
through /v1/images/generations billed per image; a prediction that fails, or does not finish within
RELAY_TIMEOUT, or whose client leaves (canceled on Replicate); refusals, and Replicate's problem details as
OpenAI-shaped errors.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import ClientSession

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.replicate_upstream import FakeReplicate, start_fake
from tests.functional.relay_env import ROOT_ACCESS, RelayEnv, relay_config, sqlite_db, start_relay_env

REPLICATE = 46
TOKEN = "r8_channel_token"
LLAMA = "meta/meta-llama-3-8b-instruct"
FLUX = "black-forest-labs/flux-schnell"
MESSAGES: Any = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Say hello please"}]
# prompt "system: Be brief\nuser: Say hello please\n" = 7 words; the answer "echo: Say hello please" is 4.


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def canceled(fake: FakeReplicate) -> Callable[[], bool]:
    """Whether the last request the fake saw cancels a prediction."""
    return lambda: bool(fake.requests) and fake.requests[-1].path.endswith("/cancel")


async def replicate(env: RelayEnv, token: str = TOKEN, **channel: Any) -> tuple[FakeReplicate, int]:
    fake = FakeReplicate({TOKEN})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    channel_id = await env.add_channel(url + "/v1/models/", type=REPLICATE, key=token,
                                       models=channel.pop("models", f"{LLAMA},{FLUX}"), **channel)
    return fake, channel_id


async def test_chat_in_synchronous_mode_is_billed_from_the_metrics(relay_env: RelayEnv) -> None:
    fake, channel_id = await replicate(relay_env)
    answer = await relay_env.client().chat.completions.create(model=LLAMA, messages=MESSAGES, max_tokens=20,
                                                              temperature=0.5)
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.choices[0].finish_reason == "stop" and answer.model == LLAMA
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 4)
    seen = fake.requests[-1]
    assert seen.path == f"/v1/models/{LLAMA}/predictions" and seen.headers["prefer"] == "wait"
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.json() == {"input": {"prompt": "system: Be brief\nuser: Say hello please\n", "max_tokens": 20,
                                     "temperature": 0.5, "top_p": 1.0, "presence_penalty": 0.0,
                                     "frequency_penalty": 0.0}}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["channel_id"]) == (7, 4, channel_id)
    price = pricing.price_for(relay_env.relay.prices(), LLAMA, REPLICATE, "default")
    assert price.known and log["quota"] == pricing.text_quota(price, 7, 4)


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream_relays_the_stream_urls_events_and_bills_the_predictions_metrics(
        relay_env: RelayEnv, include_usage: bool) -> None:
    fake, _ = await replicate(relay_env)
    extra: Any = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await relay_env.client().chat.completions.create(model=LLAMA, messages=MESSAGES, stream=True, **extra)
    chunks = [c async for c in stream]
    # one chunk per output event, as Replicate sent them
    assert [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content] == [
        "echo:", " Say", " hello", " please"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage is not None]
    assert usage == ([(7, 4)] if include_usage else [])
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (7, 4, True)
    create, stream_read, epilogue = fake.requests
    assert create.json()["stream"] is True and "prefer" not in create.headers
    assert stream_read.path.startswith("/v1/stream/") and stream_read.headers["accept"] == "text/event-stream"
    assert stream_read.headers["authorization"] == f"Bearer {TOKEN}"
    assert epilogue.path.startswith("/v1/predictions/")


async def test_a_model_without_a_stream_url_is_polled_and_pseudo_streamed(relay_env: RelayEnv) -> None:
    fake, _ = await replicate(relay_env)
    fake.streams = False
    fake.polls_before_done = 1
    stream = await relay_env.client().chat.completions.create(model=LLAMA, messages=MESSAGES, stream=True,
                                                              stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content] == [
        "echo: Say hello please"]
    assert [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage] == [(7, 4)]
    assert [r.path.split("/")[2] for r in fake.requests] == ["models", "predictions", "predictions"]


async def test_a_stream_error_event_ends_the_stream_with_replicates_detail(relay_env: RelayEnv) -> None:
    fake, _ = await replicate(relay_env)
    fake.stream_error = "CUDA out of memory"
    stream = await relay_env.client().chat.completions.create(model=LLAMA, messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="CUDA out of memory"):
        [c async for c in stream]
    [log] = await relay_env.consume_logs()
    # "echo:" was delivered and is paid for, counted by the relay (Replicate's metrics never came)
    assert log["completion_tokens"] == relay_env.relay.tokenizer.count_text("echo:", LLAMA) > 0


async def test_a_running_prediction_is_polled_until_it_finishes(relay_env: RelayEnv) -> None:
    fake, _ = await replicate(relay_env)
    fake.slow = True  # Prefer: wait gave up: the prediction comes back starting
    fake.polls_before_done = 2
    answer = await relay_env.client().chat.completions.create(model=LLAMA, messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 4)
    create, *polls = fake.requests
    assert create.headers["prefer"] == "wait" and len(polls) == 3
    assert {p.path for p in polls} == {f"/v1/predictions/{answer.id.removeprefix('chatcmpl-')}"}
    assert all(p.method == "GET" and p.headers["authorization"] == f"Bearer {TOKEN}" for p in polls)
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (7, 4)


async def test_a_failed_prediction_found_by_polling_is_refunded(relay_env: RelayEnv) -> None:
    fake, _ = await replicate(relay_env)
    fake.slow = True
    fake.fail_next_prediction = True
    before = await relay_env.user_row()
    with pytest.raises(openai.InternalServerError) as raised:
        await relay_env.client().chat.completions.create(model=LLAMA, messages=MESSAGES)
    error = raised.value.response.json()["error"]
    assert error["code"] == "prediction_failed" and "CUDA out of memory" in error["message"]
    assert (await relay_env.user_row())["quota"] == before["quota"]


async def test_an_image_prediction_still_running_is_polled(relay_env: RelayEnv) -> None:
    fake, _ = await replicate(relay_env)
    fake.slow = True
    fake.polls_before_done = 1
    result = await relay_env.client().images.generate(model=FLUX, prompt="a cat", size="1024x1024")
    assert result.data is not None and str(result.data[0].url).startswith("https://replicate.delivery/")
    assert [r.method for r in fake.requests] == ["POST", "GET", "GET"]
    [log] = await relay_env.consume_logs()
    assert log["quota"] > 0


async def test_the_channel_test_polls_too(relay_env: RelayEnv) -> None:
    fake, channel_id = await replicate(relay_env, models=LLAMA)
    fake.slow = True
    fake.polls_before_done = 1
    async with ClientSession() as session, session.get(f"{relay_env.base_url}/api/channel/test/{channel_id}",
                                                       headers={"Authorization": ROOT_ACCESS}) as resp:
        result = await resp.json()
    assert result["success"] is True and result["message"].startswith("echo: ")
    assert [r.method for r in fake.requests] == ["POST", "GET", "GET"]


async def test_images_are_billed_per_image(relay_env: RelayEnv) -> None:
    fake, _ = await replicate(relay_env)
    before = await relay_env.user_row()
    result = await relay_env.client().images.generate(model=FLUX, prompt="a cat on a mat", size="1792x1024")
    assert result.data is not None and result.data[0].url is not None
    assert result.data[0].url.startswith("https://replicate.delivery/")
    assert fake.requests[-1].json() == {"input": {"prompt": "a cat on a mat", "aspect_ratio": "16:9",
                                                  "output_format": "png"}}
    price = pricing.price_for(relay_env.relay.prices(), FLUX, REPLICATE, "default")
    quota = pricing.image_quota(price, FLUX, "1792x1024", "standard", 1)
    [log] = await relay_env.consume_logs()
    assert log["quota"] == quota > 0 and (log["prompt_tokens"], log["completion_tokens"]) == (0, 0)
    assert before["quota"] - (await relay_env.user_row())["quota"] == quota


async def test_a_prediction_not_finished_in_time_is_a_504_and_refunded(tmp_path: Path) -> None:
    # RELAY_TIMEOUT bounds the polling: a prediction still running after it is reported, not waited for.
    async for env in start_relay_env(sqlite_db(tmp_path), relay_config(RELAY_TIMEOUT="1")):
        fake, _ = await replicate(env)
        fake.slow = True
        fake.polls_before_done = 1000
        before = await env.user_row()
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as raised:
            await env.client().chat.completions.create(model=LLAMA, messages=MESSAGES)
        assert time.monotonic() - started < 3
        assert raised.value.status_code == 504
        error = raised.value.response.json()["error"]
        assert error["code"] == "prediction_not_finished" and "still processing" in error["message"]
        assert (await env.user_row())["quota"] == before["quota"]
        # the prediction is canceled, so that Replicate stops running (and billing) it
        await wait_for(canceled(fake))
        create, *polls, cancel = fake.requests
        assert create.method == "POST" and create.path == f"/v1/models/{LLAMA}/predictions"
        assert 1 <= len(polls) <= 3 and {p.method for p in polls} == {"GET"}  # the polls that fit in a second
        assert cancel.method == "POST" and cancel.path == f"{polls[0].path}/cancel"
        assert cancel.headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_client_leaving_while_its_prediction_is_polled_cancels_it(relay_env: RelayEnv) -> None:
    fake, _ = await replicate(relay_env)
    fake.slow = True
    fake.polls_before_done = 1000
    before = await relay_env.user_row()
    with pytest.raises(openai.APITimeoutError):
        await relay_env.client(timeout=1.0).chat.completions.create(model=LLAMA, messages=MESSAGES)
    await wait_for(canceled(fake))
    assert fake.requests[-1].method == "POST"
    assert (await relay_env.user_row())["quota"] == before["quota"]


@pytest.mark.parametrize(("call", "phrase"), [
    ("chat_n", "n=2 is not supported"),
    ("chat_tools", "do not support tools"),
    ("image_b64", "response_format must be url"),
])
async def test_refused_before_any_call(relay_env: RelayEnv, call: str, phrase: str) -> None:
    fake, _ = await replicate(relay_env)
    client = relay_env.client()
    with pytest.raises(openai.BadRequestError) as raised:
        if call == "chat_n":
            await client.chat.completions.create(model=LLAMA, messages=MESSAGES, n=2)
        elif call == "chat_tools":
            await client.chat.completions.create(model=LLAMA, messages=MESSAGES,
                                                 tools=[{"type": "function", "function": {"name": "f"}}])
        else:
            await client.images.generate(model=FLUX, prompt="a cat", response_format="b64_json")
    assert phrase in raised.value.response.json()["error"]["message"]
    assert fake.requests == []


async def test_invalid_input_is_replicates_detail(relay_env: RelayEnv) -> None:
    await replicate(relay_env, models="meta/unknown-model")
    with pytest.raises(openai.NotFoundError) as raised:
        await relay_env.client().chat.completions.create(model="meta/unknown-model", messages=MESSAGES)
    error = raised.value.response.json()["error"]
    assert (error["type"], error["code"]) == ("replicate_error", "model_not_found")
    assert error["message"].startswith("The requested resource could not be found.")


async def test_wrong_token_disables_the_channel(relay_env: RelayEnv) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    _, channel_id = await replicate(relay_env, token="r8_wrong")
    with pytest.raises(openai.AuthenticationError):
        await relay_env.client().chat.completions.create(model=LLAMA, messages=MESSAGES)
    channel = await relay_env.services.channels.get(channel_id)
    assert channel["status"] == channel_q.STATUS_AUTO_DISABLED
