"""Baidu ERNIE (channel type 15) end to end: the official openai SDK → oneapi → the fake Baidu upstream
(tests/fakes/baidu_upstream.py), which checks access tokens and Baidu's message rules.

Covers chat with a system message (sent as Baidu's top-level ``system``), streams (usage chunk only with
``stream_options.include_usage``), embeddings in the SDK's default base64 and in floats, billing from Baidu's usage
(the fake counts words, so its numbers differ from tiktoken's), the access-token exchange (one exchange shared by
simultaneous requests, cached across requests, refreshed before expiry, exchanged again once when Baidu says the
token expired), and errors: a wrong secret, Baidu's error codes in 200 bodies, automatic disabling.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any

import openai
import pytest

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.baidu_upstream import AK, PREFIX, SK, FakeBaidu, start_baidu
from tests.fakes.openai_upstream import embedding_vector
from tests.functional.relay_env import RelayEnv

BAIDU = 15
MODELS = "ERNIE-3.5-8K,ERNIE-Speed-8K,Embedding-V1,bge-large-zh"
MESSAGES: Any = [{"role": "system", "content": "You are terse"}, {"role": "user", "content": "Say hello please"}]
# The fake's usage: prompt = words of system (3) + words of the user turn (3); "echo: Say hello please" = 4 words.


async def baidu_channel(env: RelayEnv, fake: FakeBaidu | None = None, *, key: str = f"{AK}|{SK}",
                        **fields: Any) -> tuple[FakeBaidu, int]:
    fake = fake or FakeBaidu()
    url, stop = await start_baidu(fake)
    env.stops.append(stop)
    channel_id = await env.add_channel(url, type=BAIDU, key=key, models=MODELS, **fields)
    return fake, channel_id


def quota(env: RelayEnv, model: str, prompt: int, completion: int) -> int:
    return pricing.text_quota(pricing.price_for(env.relay.prices(), model, BAIDU, "default"), prompt, completion)


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    error: dict[str, Any] = body["error"]
    return error


# -- chat ------------------------------------------------------------------------------------------------------

async def test_chat_with_a_system_message_is_billed_from_baidus_usage(relay_env: RelayEnv) -> None:
    fake, _ = await baidu_channel(relay_env)
    before = await relay_env.user_row()
    answer = await relay_env.client().chat.completions.create(model="ERNIE-3.5-8K", messages=MESSAGES,
                                                              temperature=0, frequency_penalty=0.5, user="u-7")
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "ERNIE-3.5-8K"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (6, 4)
    sent = fake.requests[-1]
    assert sent.path == PREFIX + "/chat/completions"
    assert sent.json() == {"messages": [{"role": "user", "content": "Say hello please"}], "system": "You are terse",
                           "temperature": 0.01, "penalty_score": 1.25, "user_id": "u-7"}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["model_name"]) == (6, 4, "ERNIE-3.5-8K")
    assert log["quota"] == quota(relay_env, "ERNIE-3.5-8K", 6, 4) > 0
    after = await relay_env.user_row()
    assert before["quota"] - after["quota"] == log["quota"]


async def test_channel_system_prompt_replaces_the_clients(relay_env: RelayEnv) -> None:
    fake, _ = await baidu_channel(relay_env, system_prompt="Channel rules apply")
    await relay_env.client().chat.completions.create(model="ERNIE-3.5-8K", messages=MESSAGES)
    assert fake.requests[-1].json()["system"] == "Channel rules apply"
    [log] = await relay_env.consume_logs()
    assert log["system_prompt_reset"] in (True, 1)


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream(relay_env: RelayEnv, include_usage: bool) -> None:
    fake, _ = await baidu_channel(relay_env)
    fake.reply_text("one two three four five six")
    options: Any = {"include_usage": True} if include_usage else openai.NOT_GIVEN
    stream = await relay_env.client().chat.completions.create(model="ERNIE-Speed-8K", messages=MESSAGES,
                                                              stream=True, stream_options=options)
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    with_usage = [c for c in chunks if c.usage is not None]
    if include_usage:
        assert len(with_usage) == 1 and with_usage[0] is chunks[-1] and chunks[-1].choices == []
        assert (with_usage[0].usage.prompt_tokens, with_usage[0].usage.completion_tokens) == (6, 6)  # type: ignore[union-attr]
    else:
        assert with_usage == []
    assert fake.requests[-1].path == PREFIX + "/chat/ernie_speed"
    assert fake.requests[-1].json()["stream"] is True
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (6, 6, True)


# -- embeddings ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["base64", "float"])
async def test_embeddings(relay_env: RelayEnv, encoding: str) -> None:
    fake, _ = await baidu_channel(relay_env)
    client = relay_env.client()
    if encoding == "base64":  # the SDK's default: it asks for base64 and decodes it
        result = await client.embeddings.create(model="Embedding-V1", input=["hello world", "bye"])
    else:
        result = await client.embeddings.create(model="Embedding-V1", input=["hello world", "bye"],
                                                encoding_format="float")
    assert [d.embedding for d in result.data] == [embedding_vector("hello world"), embedding_vector("bye")]
    assert [d.index for d in result.data] == [0, 1]
    assert result.usage.prompt_tokens == 3
    assert fake.requests[-1].path == PREFIX + "/embeddings/embedding-v1"
    assert fake.requests[-1].json() == {"input": ["hello world", "bye"]}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["model_name"]) == (3, 0, "Embedding-V1")


async def test_raw_base64_embedding_is_little_endian_float32(relay_env: RelayEnv) -> None:
    await baidu_channel(relay_env)
    raw = await relay_env.client().embeddings.with_raw_response.create(model="bge-large-zh", input="hi",
                                                                       encoding_format="base64")
    encoded = raw.http_response.json()["data"][0]["embedding"]
    vector = list(struct.unpack("<8f", base64.b64decode(encoded)))
    assert vector == embedding_vector("hi")


# -- the access token ------------------------------------------------------------------------------------------

async def test_one_exchange_is_shared_by_simultaneous_requests_and_cached(relay_env: RelayEnv) -> None:
    fake, _ = await baidu_channel(relay_env)
    fake.token_delay = 0.3  # every request arrives while the exchange is still running
    client = relay_env.client()
    answers = await asyncio.gather(*(
        client.chat.completions.create(model="ERNIE-3.5-8K", messages=[{"role": "user", "content": f"n {i}"}])
        for i in range(10)))
    assert sorted(a.choices[0].message.content or "" for a in answers) == sorted(f"echo: n {i}" for i in range(10))
    assert len(fake.token_requests) == 1
    token = fake.requests[0].query["access_token"]
    assert {r.query["access_token"] for r in fake.requests} == {token}
    await client.chat.completions.create(model="ERNIE-3.5-8K", messages=[{"role": "user", "content": "later"}])
    await client.embeddings.create(model="Embedding-V1", input="later")
    assert len(fake.token_requests) == 1  # cached across requests, chat and embeddings alike
    sent = fake.token_requests[0]
    assert (sent.method, sent.path) == ("POST", "/oauth/2.0/token")
    assert sent.query == {"grant_type": "client_credentials", "client_id": AK, "client_secret": SK}


async def test_an_expired_token_is_exchanged_again_once(relay_env: RelayEnv) -> None:
    fake, _ = await baidu_channel(relay_env)
    client = relay_env.client()
    await client.chat.completions.create(model="ERNIE-3.5-8K", messages=[{"role": "user", "content": "first"}])
    fake.expire_tokens()
    answer = await client.chat.completions.create(model="ERNIE-3.5-8K",
                                                  messages=[{"role": "user", "content": "second"}])
    assert answer.choices[0].message.content == "echo: second"
    assert len(fake.token_requests) == 2
    old, rejected, retried = (r.query["access_token"] for r in fake.requests)
    assert old == rejected != retried
    logs = await relay_env.consume_logs()
    assert len(logs) == 2  # the rejected call is not billed


async def test_an_expired_token_is_exchanged_again_for_a_stream(relay_env: RelayEnv) -> None:
    """Baidu refuses a stream request with a plain JSON body (HTTP 200): the error comes before the first chunk,
    so the relay raises it before answering, and exchanges the token again."""
    fake, _ = await baidu_channel(relay_env)
    client = relay_env.client()
    await client.chat.completions.create(model="ERNIE-3.5-8K", messages=[{"role": "user", "content": "first"}])
    fake.expire_tokens()
    stream = await client.chat.completions.create(model="ERNIE-3.5-8K", stream=True,
                                                  messages=[{"role": "user", "content": "second"}])
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "echo: second"
    assert len(fake.token_requests) == 2


async def test_a_token_rejected_twice_is_not_exchanged_a_third_time(relay_env: RelayEnv) -> None:
    fake, _ = await baidu_channel(relay_env)
    fake.fail_next(111, "Access token expired", times=2)
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().chat.completions.create(model="ERNIE-3.5-8K",
                                                         messages=[{"role": "user", "content": "x"}])
    error = error_of(caught.value)
    assert (error["type"], error["code"]) == ("baidu_error", 111)
    assert error["message"].startswith("Access token expired (request id: ")
    assert len(fake.token_requests) == 2 and len(fake.requests) == 2
    assert await relay_env.consume_logs() == []


async def test_the_token_is_refreshed_before_it_expires(relay_env: RelayEnv) -> None:
    fake, _ = await baidu_channel(relay_env, FakeBaidu(token_lifetime=1))
    client = relay_env.client()
    await client.chat.completions.create(model="ERNIE-3.5-8K", messages=[{"role": "user", "content": "a"}])
    await asyncio.sleep(1.0)  # within the last tenth of its lifetime (and past it): exchanged before use
    await client.chat.completions.create(model="ERNIE-3.5-8K", messages=[{"role": "user", "content": "b"}])
    assert len(fake.token_requests) == 2
    assert len(fake.requests) == 2  # no call was refused with 111 first


# -- errors ----------------------------------------------------------------------------------------------------

async def test_a_wrong_secret_is_a_clear_auth_error_and_disables_the_channel(relay_env: RelayEnv) -> None:
    fake, channel_id = await baidu_channel(relay_env, key=f"{AK}|not-the-secret")
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().chat.completions.create(model="ERNIE-3.5-8K", messages=MESSAGES)
    assert caught.value.status_code == 401
    error = error_of(caught.value)
    assert (error["type"], error["code"]) == ("baidu_error", "invalid_client")
    assert "Client authentication failed" in error["message"]
    assert fake.requests == []  # never called the API without a token
    assert (await relay_env.services.channels.get(channel_id))["status"] == channel_q.STATUS_AUTO_DISABLED
    assert await relay_env.consume_logs() == []


async def test_an_unknown_api_key_keeps_the_channel_when_auto_disable_is_off(relay_env: RelayEnv) -> None:
    _, channel_id = await baidu_channel(relay_env, key=f"someone-else|{SK}")
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().chat.completions.create(model="ERNIE-3.5-8K", messages=MESSAGES)
    assert "unknown client id" in error_of(caught.value)["message"]
    assert (await relay_env.services.channels.get(channel_id))["status"] == channel_q.STATUS_ENABLED


async def test_auth_codes_in_200_bodies_disable_the_channel(relay_env: RelayEnv) -> None:
    fake, channel_id = await baidu_channel(relay_env)
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    fake.fail_next(6, "No permission to access data")
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().chat.completions.create(model="ERNIE-3.5-8K", messages=MESSAGES)
    assert (error_of(caught.value)["type"], error_of(caught.value)["code"]) == ("baidu_error", 6)
    assert (await relay_env.services.channels.get(channel_id))["status"] == channel_q.STATUS_AUTO_DISABLED


async def test_a_bad_request_carries_baidus_complaint(relay_env: RelayEnv) -> None:
    fake, channel_id = await baidu_channel(relay_env)
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    fake.fail_next(336003, "the max length of current question is 4800")
    with pytest.raises(openai.BadRequestError) as caught:
        await relay_env.client().chat.completions.create(model="ERNIE-3.5-8K", messages=MESSAGES)
    error = error_of(caught.value)
    assert (error["type"], error["code"]) == ("baidu_error", 336003)
    assert error["message"].startswith("the max length of current question is 4800")
    assert (await relay_env.services.channels.get(channel_id))["status"] == channel_q.STATUS_ENABLED


async def test_rate_limits_are_429_and_retried_on_another_channel(relay_env: RelayEnv) -> None:
    busy, _ = await baidu_channel(relay_env, priority=10, name="busy")
    spare, _ = await baidu_channel(relay_env, name="spare")
    await relay_env.set_option("RetryTimes", "1")
    busy.fail_next(336501, "Rpm limit reached")
    answer = await relay_env.client().chat.completions.create(model="ERNIE-3.5-8K", messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert len(busy.requests) == 1 and len(spare.requests) == 1
    [log] = await relay_env.consume_logs()
    assert log["channel_id"] == 2


async def test_an_error_before_the_first_stream_chunk_is_an_http_error(relay_env: RelayEnv) -> None:
    fake, _ = await baidu_channel(relay_env)
    fake.fail_next(336100, "try again later")
    # An error before the first chunk is raised before the answer starts: an HTTP error with the provider's code.
    with pytest.raises(openai.APIStatusError) as caught:
        await relay_env.client().chat.completions.create(model="ERNIE-3.5-8K", messages=MESSAGES, stream=True)
    assert caught.value.status_code == 503
    error = error_of(caught.value)
    assert (error["type"], error["code"]) == ("baidu_error", 336100)
    assert error["message"].startswith("try again later (request id: ")
    assert await relay_env.consume_logs() == []


# -- channel test ----------------------------------------------------------------------------------------------

async def test_channel_test_exchanges_the_key_and_reports_baidus_complaint(relay_env: RelayEnv) -> None:
    fake, good = await baidu_channel(relay_env, name="good")
    _, bad = await baidu_channel(relay_env, key=f"{AK}|wrong", name="bad")
    passed = await relay_env.services.channels.test(good, "ERNIE-3.5-8K")
    assert passed["success"] is True and passed["message"].startswith("echo: ")
    assert len(fake.token_requests) == 1 and fake.requests[-1].path == PREFIX + "/chat/completions"
    failed = await relay_env.services.channels.test(bad, "ERNIE-3.5-8K")
    assert failed["success"] is False and "Client authentication failed" in failed["message"]
    assert failed["fatal"] is True


async def test_a_channel_test_exchanges_an_expired_token_again_as_the_relay_does(relay_env: RelayEnv) -> None:
    """The channel test takes the relay's exchange (``proxy/exchange.py``): a cached access token Baidu has
    since expired is traded again once, instead of failing the test and disabling a working channel."""
    fake, channel_id = await baidu_channel(relay_env)
    await relay_env.client().chat.completions.create(model="ERNIE-3.5-8K",
                                                     messages=[{"role": "user", "content": "first"}])
    fake.expire_tokens()
    result = await relay_env.services.channels.test(channel_id, "ERNIE-3.5-8K")
    assert result["success"] is True, result
    assert len(fake.token_requests) == 2
    old, rejected, retried = (r.query["access_token"] for r in fake.requests)
    assert old == rejected != retried
