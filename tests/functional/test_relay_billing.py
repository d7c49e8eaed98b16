"""Billing through the real relay (SPEC 5, issue 3 §5 and the disconnect billing of §6), driven by the
official openai SDK against the fake OpenAI upstream.

Expected charges are computed here by hand from the fake's deterministic usage (its docstring: chat prompt =
words + 3 per message, completion = words of the answer) with SPEC 5.1's formula
``ceil((prompt + completion × completionRatio) × modelRatio × groupRatio)``; ``oneapi.services.pricing`` is
only used to look the ratios up. The formula is evaluated with exact fractions of the ratios' decimal
values, on inputs where the exact value is not an integer (so float rounding cannot hide a wrong formula).

Overdraft bound (asserted in ``test_a_token_cannot_be_overdrawn_*``): a reservation ``a`` succeeds only when
the token's ``remain_quota >= a``, so ``remain_quota >= 0`` right after every reservation; afterwards only
settlements (``a - q``, q the final charge) and refunds (``+a``) move it. Hence at every moment
``remain_quota >= -Σ max(0, q_i - a_i)`` over the requests in flight (reserved, not yet settled); when every
answer fits its reservation it never goes below 0. The user's quota obeys the same bound.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from oneapi.services import pricing
from oneapi.services.ledger import TokenAccount
from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env

MINI = "gpt-4o-mini"


# -- helpers ---------------------------------------------------------------------------------------------


def words(n: int, stem: str = "w") -> str:
    return " ".join(f"{stem}{i}" for i in range(n))


def ratios(env: RelayEnv, model: str, group: str = "default", channel_type: int = 1) -> tuple[float, float, float]:
    tables = pricing.PriceTables.from_options(env.services.options)
    return (pricing.model_ratio(tables, model, channel_type)[0], pricing.completion_ratio(tables, model, channel_type),
            pricing.group_ratio(tables, group))


def formula(prompt: int, completion: int, model_ratio: float, completion_ratio: float, group_ratio: float) -> int:
    """SPEC 5.1 by hand, in exact arithmetic on the ratios as written in decimal."""
    decimals = [Fraction(repr(r)) for r in (model_ratio, completion_ratio, group_ratio)]
    exact = (prompt + completion * decimals[1]) * decimals[0] * decimals[2]
    if any(d != Fraction(r) for d, r in zip(decimals, (model_ratio, completion_ratio, group_ratio), strict=True)):
        # a ratio like 0.075 is not a binary fraction: at an integral charge float rounding would decide
        assert exact.denominator != 1, "pick inputs whose charge is not an integer"
    return max(1, math.ceil(exact))


async def charge_for(env: RelayEnv, model: str, prompt: int, completion: int, group: str = "default") -> int:
    return formula(prompt, completion, *ratios(env, model, group))


async def balances(env: RelayEnv, key: str, user_id: int = 1) -> dict[str, int]:
    user, token = await env.user_row(user_id), await env.token_row(key)
    return {"quota": user["quota"], "used_quota": user["used_quota"], "request_count": user["request_count"],
            "remain_quota": token["remain_quota"], "token_used": token["used_quota"]}


async def root_user(env: RelayEnv) -> dict[str, Any]:
    row = await env.services.accounts.get(1)
    assert row is not None
    return row


async def channel_used(env: RelayEnv, channel_id: int) -> int:
    return int((await env.services.channels.get(channel_id))["used_quota"])


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def error_body(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    return body["error"]


# -- exact arithmetic ------------------------------------------------------------------------------------


async def test_exact_charge_and_consume_log_for_gpt_4o_mini(relay_env: RelayEnv) -> None:
    _, url = await relay_env.fake()
    cid = await relay_env.add_channel(url)
    key = await relay_env.new_token(name="billing", remain_quota=1_000_000)
    before = await balances(relay_env, key)

    raw = await relay_env.client(key).chat.completions.with_raw_response.create(
        model=MINI, messages=[{"role": "user", "content": words(100)}])
    answer = raw.parse()
    request_id = raw.headers["X-Oneapi-Request-Id"]

    prompt, completion = 100 + 3, 101  # the fake: words + 3 per message; "echo:" + 100 words
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt, completion)
    assert ratios(relay_env, MINI) == (0.075, 4.0, 1.0)  # SPEC 5.2
    expected = formula(prompt, completion, 0.075, 4.0, 1.0)
    assert expected == 39  # ceil((103 + 101 × 4) × 0.075) = ceil(38.025)

    (log,) = await relay_env.consume_logs()
    assert log["quota"] == expected
    assert (log["model_name"], log["prompt_tokens"], log["completion_tokens"]) == (MINI, prompt, completion)
    assert (log["channel_id"], log["token_name"], log["request_id"]) == (cid, "billing", request_id)
    assert log["is_stream"] is False and log["user_id"] == 1 and log["username"] == "root"
    assert log["content"] == "倍率：0.07 × 1.00 × 4.00"  # Go's %.2f of 0.075 (binary 0.07499…)
    assert 0 <= log["elapsed_time"] < 10_000
    after = await balances(relay_env, key)
    assert before["quota"] - after["quota"] == expected
    assert after["used_quota"] - before["used_quota"] == expected
    assert after["request_count"] - before["request_count"] == 1
    assert (after["remain_quota"], after["token_used"]) == (1_000_000 - expected, expected)
    assert await channel_used(relay_env, cid) == expected


async def test_stream_is_billed_from_the_upstream_usage(relay_env: RelayEnv) -> None:
    _, url = await relay_env.fake()
    cid = await relay_env.add_channel(url)
    key = await relay_env.new_token(name="streamer", remain_quota=1_000_000)
    before = await balances(relay_env, key)

    stream = await relay_env.client(key).chat.completions.create(
        model=MINI, stream=True, messages=[{"role": "system", "content": "be terse"},
                                           {"role": "user", "content": words(60)}])
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: " + words(60)

    prompt, completion = (2 + 3) + (60 + 3), 61
    expected = await charge_for(relay_env, MINI, prompt, completion)
    (log,) = await relay_env.consume_logs()
    assert (log["quota"], log["prompt_tokens"], log["completion_tokens"]) == (expected, prompt, completion)
    assert log["is_stream"] is True and log["channel_id"] == cid and log["token_name"] == "streamer"
    after = await balances(relay_env, key)
    assert before["quota"] - after["quota"] == expected == after["token_used"]
    assert after["request_count"] - before["request_count"] == 1


async def test_configured_model_completion_and_group_ratios(relay_env: RelayEnv) -> None:
    await relay_env.set_option("ModelRatio", '{"my-model": 3.7}')
    await relay_env.set_option("CompletionRatio", '{"my-model": 2.5}')
    await relay_env.set_option("GroupRatio", '{"default": 1, "vip": 2}')
    root = await root_user(relay_env)
    await relay_env.services.accounts.update(root, {"id": 1, "group": "vip"})
    _, url = await relay_env.fake()
    cid = await relay_env.add_channel(url, models="my-model", group="default,vip")
    key = await relay_env.new_token(name="vip", unlimited_quota=True)
    before = await balances(relay_env, key)

    answer = await relay_env.client(key).chat.completions.create(
        model="my-model", messages=[{"role": "user", "content": "a b c d e"}])
    assert answer.choices[0].message.content == "echo: a b c d e"

    assert ratios(relay_env, "my-model", "vip") == (3.7, 2.5, 2.0)
    expected = formula(5 + 3, 6, 3.7, 2.5, 2.0)
    assert expected == 171  # ceil((8 + 6 × 2.5) × 3.7 × 2) = ceil(170.2)
    (log,) = await relay_env.consume_logs()
    assert (log["model_name"], log["quota"], log["channel_id"]) == ("my-model", expected, cid)
    assert log["content"] == "倍率：3.70 × 2.00 × 2.50"
    after = await balances(relay_env, key)
    assert before["quota"] - after["quota"] == expected
    assert await channel_used(relay_env, cid) == expected

    # the same request in the default group costs half as much (ceil(85.1))
    await relay_env.services.accounts.update(root, {"id": 1, "group": "default"})
    await relay_env.client(key).chat.completions.create(model="my-model",
                                                        messages=[{"role": "user", "content": "a b c d e"}])
    logs = await relay_env.consume_logs()
    assert logs[0]["quota"] == formula(8, 6, 3.7, 2.5, 1.0) == 86
    assert logs[0]["content"] == "倍率：3.70 × 1.00 × 2.50"


async def test_model_mapping_bills_the_mapped_model(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, models="cheap-alias", model_mapping='{"cheap-alias": "gpt-4o"}')
    key = await relay_env.new_token(name="map", unlimited_quota=True)
    await relay_env.client(key).chat.completions.create(model="cheap-alias",
                                                        messages=[{"role": "user", "content": words(34)}])
    assert fake.requests[-1].json()["model"] == "gpt-4o"
    (log,) = await relay_env.consume_logs()
    assert log["model_name"] == "gpt-4o"
    assert ratios(relay_env, "gpt-4o") != ratios(relay_env, "cheap-alias")  # the alias would cost 30
    assert log["quota"] == formula(37, 35, *ratios(relay_env, "gpt-4o"))


async def test_log_consume_disabled_still_charges(relay_env: RelayEnv) -> None:
    await relay_env.set_option("LogConsumeEnabled", "false")
    _, url = await relay_env.fake()
    cid = await relay_env.add_channel(url)
    key = await relay_env.new_token(name="nolog", remain_quota=50_000)
    before = await balances(relay_env, key)

    await relay_env.client(key).chat.completions.create(model=MINI,
                                                        messages=[{"role": "user", "content": words(100)}])

    assert await relay_env.consume_logs() == []
    expected = formula(103, 101, 0.075, 4.0, 1.0)
    after = await balances(relay_env, key)
    assert before["quota"] - after["quota"] == expected
    assert after["used_quota"] - before["used_quota"] == expected
    assert after["request_count"] - before["request_count"] == 1
    assert (after["remain_quota"], after["token_used"]) == (50_000 - expected, expected)
    assert await channel_used(relay_env, cid) == expected


# -- fallback counting -----------------------------------------------------------------------------------


TRICKY = "antidisestablishmentarianism supercalifragilisticexpialidocious pneumonoultramicroscopic"


@pytest.mark.parametrize("stream", [False, True])
async def test_without_upstream_usage_tokens_are_counted_locally(relay_env: RelayEnv, stream: bool) -> None:
    fake, url = await relay_env.fake()
    fake.omit_usage = True
    await relay_env.add_channel(url)
    key = await relay_env.new_token(name="count", unlimited_quota=True)
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": "you are helpful"},
                                                  {"role": "user", "content": TRICKY}]
    before = await balances(relay_env, key)

    client = relay_env.client(key)
    if stream:
        chunks = await client.chat.completions.create(model=MINI, messages=messages, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    else:
        answer = await client.chat.completions.create(model=MINI, messages=messages)
        assert answer.usage is None
        text = answer.choices[0].message.content or ""
    assert text == "echo: " + TRICKY

    tokenizer = relay_env.relay.tokenizer
    prompt = tokenizer.count_messages(messages, MINI)
    completion = tokenizer.count_text(text, MINI)
    assert completion > len(text.split())  # tiktoken, not the fake's word count
    expected = formula(prompt, completion, *ratios(relay_env, MINI))
    (log,) = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["quota"]) == (prompt, completion, expected)
    assert log["is_stream"] is stream
    after = await balances(relay_env, key)
    assert before["quota"] - after["quota"] == expected


# -- refunds on every failure path -----------------------------------------------------------------------


FAILURES: dict[str, Any] = {
    "upstream_500": (lambda f: f.fail_next(500), 500),
    "upstream_429": (lambda f: f.fail_next(429), 429),
    "upstream_401": (lambda f: f.fail_next(401), 401),
    "upstream_400": (lambda f: f.fail_next(400), 400),
    "upstream_403_text": (lambda f: f.fail_next(403, body=b"forbidden", content_type="text/plain"), 403),
    "network_drop": (lambda f: f.drop_next(), 500),
    "error_in_200_body": (lambda f: f.fail_next(200, {"error": {"message": "overloaded", "type": "server_error",
                                                               "param": None, "code": None}}), 500),
    "non_json_200": (lambda f: f.fail_next(200, body=b"<html>gateway</html>", content_type="text/html"), 500),
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("failure", list(FAILURES))
async def test_every_failure_refunds_exactly(relay_env: RelayEnv, failure: str, stream: bool) -> None:
    script, status = FAILURES[failure]
    fake, url = await relay_env.fake()
    cid = await relay_env.add_channel(url)
    key = await relay_env.new_token(name="refund", remain_quota=100_000)
    client = relay_env.client(key)
    await client.chat.completions.create(model=MINI, messages=[{"role": "user", "content": "warm up"}])
    before = await balances(relay_env, key)
    logs_before = len(await relay_env.consume_logs())
    used_before = await channel_used(relay_env, cid)

    script(fake)
    with pytest.raises(openai.APIError) as info:
        result = await client.chat.completions.create(model=MINI, stream=stream,
                                                      messages=[{"role": "user", "content": words(50)}])
        if stream:
            async for _ in result:  # type: ignore[union-attr]
                pass
    if stream and failure == "non_json_200":
        # the 200 stream has begun before the body shows it is not a stream: an error event ends it
        assert not isinstance(info.value, openai.APIStatusError)
        assert "without any stream event" in info.value.message
    else:
        assert isinstance(info.value, openai.APIStatusError)
        assert info.value.status_code == status, error_body(info.value)

    assert await balances(relay_env, key) == before
    assert len(await relay_env.consume_logs()) == logs_before
    assert await channel_used(relay_env, cid) == used_before
    # and the next request is billed normally
    await client.chat.completions.create(model=MINI, messages=[{"role": "user", "content": "warm up"}])
    assert len(await relay_env.consume_logs()) == logs_before + 1


async def test_error_in_a_200_stream_body_refunds(relay_env: RelayEnv) -> None:
    """A stream request answered with ``Content-Type: application/json`` is an upstream error (SPEC 1.3)."""
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url)
    key = await relay_env.new_token(name="refund", remain_quota=100_000)
    before = await balances(relay_env, key)
    fake.fail_next(200, body=b'{"error": {"message": "stream refused", "type": "server_error"}}')
    with pytest.raises(openai.APIStatusError) as info:
        await relay_env.client(key).chat.completions.create(model=MINI, stream=True,
                                                            messages=[{"role": "user", "content": "x"}])
    assert "stream refused" in error_body(info.value)["message"]
    assert await balances(relay_env, key) == before
    assert await relay_env.consume_logs() == []


@pytest.fixture
async def slow_env(tmp_path: Path) -> AsyncIterator[RelayEnv]:
    async for env in start_relay_env(sqlite_db(tmp_path), relay_config(RELAY_TIMEOUT="1")):
        yield env


async def test_upstream_timeout_refunds(slow_env: RelayEnv) -> None:
    fake, url = await slow_env.fake()
    await slow_env.add_channel(url)
    key = await slow_env.new_token(name="slow", remain_quota=100_000)
    before = await balances(slow_env, key)
    fake.delay = 3

    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        await slow_env.client(key).chat.completions.create(model=MINI, messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 2.5
    assert info.value.status_code == 500
    assert error_body(info.value)["code"] == "do_request_failed"
    assert await balances(slow_env, key) == before
    assert await slow_env.consume_logs() == []


# -- client disconnect mid-stream ------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["cancels_handler", "as_oneapi_serve"])
async def test_client_disconnect_mid_stream_aborts_upstream_and_bills_what_was_delivered(
        relay_env: RelayEnv, server: str) -> None:
    """Both ways a server learns that the client left: aiohttp's TestServer cancels the handler
    (handler_cancellation); ``oneapi serve`` does not, and the next write fails instead."""
    runner = relay_env.server.runner
    assert runner is not None and runner.server is not None
    runner.server.handler_cancellation = server == "cancels_handler"
    fake, url = await relay_env.fake()
    fake.stream_chunks = 50
    fake.chunk_delay = 0.05
    full_text = words(400, "token")
    fake.reply_text(full_text)
    model = "gpt-4"  # ratio 15: even a few delivered tokens cost a clearly non-zero amount
    cid = await relay_env.add_channel(url, models=model)
    key = await relay_env.new_token(name="quitter", remain_quota=5_000_000)
    before = await balances(relay_env, key)
    messages = [{"role": "user", "content": "tell me a long story"}]

    async with aiohttp.ClientSession() as session:
        resp = await session.post(relay_env.base_url + "/v1/chat/completions",
                                  json={"model": model, "stream": True, "messages": messages},
                                  headers={"Authorization": f"Bearer {key}"})
        assert resp.status == 200
        events = 0
        while events < 5:
            line = await resp.content.readline()
            assert line, "stream ended early"
            events += line.startswith(b"data: ")
        resp.close()  # drop the connection mid-stream

    async def upstream_aborted() -> bool:
        return fake.aborted_streams == 1

    async def logged() -> bool:
        return len(await relay_env.consume_logs()) == 1

    await eventually(upstream_aborted)
    await eventually(logged)
    await asyncio.sleep(0.2)  # nothing more arrives: charged exactly once

    (log,) = await relay_env.consume_logs()
    tokenizer = relay_env.relay.tokenizer
    prompt = tokenizer.count_messages(messages, model)
    full_completion = tokenizer.count_text(full_text, model)
    assert log["is_stream"] is True and log["channel_id"] == cid
    assert log["prompt_tokens"] == prompt
    assert 0 < log["completion_tokens"] < full_completion // 2
    assert log["quota"] == formula(prompt, log["completion_tokens"], *ratios(relay_env, model))
    full_price = formula(prompt, full_completion, *ratios(relay_env, model))
    assert 0 < log["quota"] < full_price
    after = await balances(relay_env, key)
    assert before["quota"] - after["quota"] == log["quota"]
    assert after["token_used"] - before["token_used"] == log["quota"]
    assert after["remain_quota"] + after["token_used"] == before["remain_quota"] + before["token_used"]
    assert after["request_count"] - before["request_count"] == 1
    assert len(fake.requests) == 1


# -- concurrency -----------------------------------------------------------------------------------------


async def test_200_concurrent_requests_keep_the_books_exact(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url)
    fake.record = False
    key = await relay_env.new_token(name="busy", remain_quota=10_000_000)
    before = await balances(relay_env, key)
    client = relay_env.client(key)

    async def one(i: int) -> None:
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": words(10 + i % 37)}]
        if i % 2:
            stream = await client.chat.completions.create(model=MINI, messages=messages, stream=True)
            async for _ in stream:
                pass
        else:
            await client.chat.completions.create(model=MINI, messages=messages)

    await asyncio.gather(*(one(i) for i in range(200)))
    await relay_env.flush()

    logs = await relay_env.consume_logs()
    assert len(logs) == 200
    logged = sum(log["quota"] for log in logs)
    expected = sum(formula(10 + i % 37 + 3, 10 + i % 37 + 1, 0.075, 4.0, 1.0) for i in range(200))
    assert logged == expected
    after = await balances(relay_env, key)
    assert after["remain_quota"] + after["token_used"] == 10_000_000
    assert after["token_used"] == logged
    assert after["used_quota"] - before["used_quota"] == logged
    assert before["quota"] - after["quota"] == logged
    assert after["request_count"] - before["request_count"] == 200


async def _min_remain_sampler(token: TokenAccount, stop: asyncio.Event, seen: list[int]) -> None:
    while not stop.is_set():
        seen.append(token.remain_quota)
        await asyncio.sleep(0)


async def _run_limited(env: RelayEnv, key: str, n: int) -> tuple[list[Any], list[int]]:
    account = await env.services.ledger.token(key.removeprefix("sk-"))
    assert account is not None
    stop, seen = asyncio.Event(), [account.remain_quota]
    sampler = asyncio.ensure_future(_min_remain_sampler(account, stop, seen))
    client = env.client(key)
    results = await asyncio.gather(*(client.chat.completions.create(
        model=MINI, messages=[{"role": "user", "content": "hello there"}]) for _ in range(n)),
        return_exceptions=True)
    stop.set()
    await sampler
    return results, seen


async def test_a_token_cannot_be_overdrawn_when_answers_fit_their_reservation(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    fake.delay = 0.3  # every request reserves before the first one settles
    await relay_env.add_channel(url)
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]
    prompt = relay_env.relay.tokenizer.count_messages(messages, MINI)
    reserve = int((500 + prompt) * 0.075)  # SPEC 5.3 with PreConsumedQuota 500, no max_tokens
    initial = 3 * reserve + reserve // 2
    key = await relay_env.new_token(name="tight", remain_quota=initial)

    results, seen = await _run_limited(relay_env, key, 20)

    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 3 and len(refused) == 17
    for exc in refused:
        assert isinstance(exc, openai.PermissionDeniedError), exc
        assert error_body(exc)["code"] == "pre_consume_token_quota_failed"
    charge = formula(5, 3, 0.075, 4.0, 1.0)  # "hello there": 2 words + 3; "echo: hello there"
    assert charge < reserve
    assert min(seen) >= 0  # the bound with no excess: never below zero
    assert min(seen) == initial - 3 * reserve  # all three held at once
    token = await relay_env.token_row(key)
    assert (token["remain_quota"], token["used_quota"]) == (initial - 3 * charge, 3 * charge)
    assert len(await relay_env.consume_logs()) == 3
    assert len(fake.requests) == 3


async def test_a_token_is_overdrawn_at_most_by_the_excess_of_what_was_in_flight(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    fake.delay = 0.3
    long_answer = words(1000)
    for _ in range(20):
        fake.reply_text(long_answer)
    await relay_env.add_channel(url)
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]
    prompt = relay_env.relay.tokenizer.count_messages(messages, MINI)
    reserve = int((500 + prompt) * 0.075)
    initial = 3 * reserve + reserve // 2
    key = await relay_env.new_token(name="tight", remain_quota=initial)

    results, seen = await _run_limited(relay_env, key, 20)

    assert sum(not isinstance(r, BaseException) for r in results) == 3
    charge = formula(5, 1000, 0.075, 4.0, 1.0)
    excess = charge - reserve
    assert excess > 0
    bound = -3 * excess  # Σ max(0, q - a) over the three requests in flight
    token = await relay_env.token_row(key)
    assert token["remain_quota"] == initial - 3 * charge < 0  # overdrawn (One API's known hole) ...
    assert token["remain_quota"] >= bound and min(seen) >= bound  # ... but only by the in-flight excess
    assert token["remain_quota"] + token["used_quota"] == initial
    # an overdrawn token is refused before any upstream call and is not charged again
    with pytest.raises(openai.AuthenticationError):
        await relay_env.client(key).chat.completions.create(model=MINI, messages=messages)
    assert (await relay_env.token_row(key))["remain_quota"] == token["remain_quota"]
    assert len(fake.requests) == 3


async def test_insufficient_user_quota_is_refused_without_calling_upstream(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url)
    root = await root_user(relay_env)
    uid = await relay_env.services.accounts.create(root, {"username": "poor", "password": "password123"})
    await relay_env.services.accounts.update(root, {"id": uid, "quota": 10})
    key = await relay_env.new_token(user_id=uid, name="poor", unlimited_quota=True)
    before = await balances(relay_env, key, uid)

    with pytest.raises(openai.PermissionDeniedError) as info:
        await relay_env.client(key).chat.completions.create(model=MINI,
                                                            messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 403
    assert error_body(info.value)["code"] == "insufficient_user_quota"
    assert fake.requests == []
    assert await balances(relay_env, key, uid) == before == {**before, "quota": 10}
    assert await relay_env.consume_logs() == []
