"""A bounded, documented overdraft (issue: money that cannot leak, part 4), under 200 concurrent requests.

Reserve-then-settle lets concurrency overdraw an account: One API reserves ``(PreConsumedQuota + prompt +
max_tokens) × ratio`` and settles whatever the answer costs. The README's bound: below zero by at most what the
requests in flight could still cost beyond their reservations, each capped by its model's maximum output. With
the PreConsumeMaxOutput option a request reserves its worst case up front and is never charged more: balances
stay at or above zero.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from oneapi.services import pricing
from oneapi.wire.model_limits import limits_for
from tests.functional.relay_env import RelayEnv

MODEL = "gpt-4o-mini"
USER_QUOTA = 100_000
STORY = " ".join(["word"] * 2000)  # the fake counts words: 2,000 completion tokens


async def customer(env: RelayEnv, quota: int = USER_QUOTA, **token: Any) -> tuple[int, str]:
    user_id = await env.services.accounts.create({"role": 100}, {"username": "buyer", "password": "password123"})
    await env.services.accounts.update({"role": 100}, {"id": user_id, "quota": quota})
    created = await env.services.tokens.create(user_id, {"name": "buyer", **(token or {"unlimited_quota": True})})
    return user_id, created["key"]


async def burst(env: RelayEnv, key: str, count: int, **extra: Any) -> list[tuple[int, Any]]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "tell me a story"}], **extra}

    async def one(session: aiohttp.ClientSession) -> tuple[int, Any]:
        async with session.post(env.base_url + "/v1/chat/completions", json=body,
                                headers={"Authorization": f"Bearer sk-{key}"}) as resp:
            raw = await resp.read()
            return resp.status, raw if extra.get("stream") else json.loads(raw)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await asyncio.gather(*(one(session) for _ in range(count)))


async def test_default_overdraft_stays_within_the_documented_bound(relay_env: RelayEnv) -> None:
    env = relay_env
    fake, url = await env.fake()
    fake.record = False
    fake.delay = 0.2  # every request is in flight at once
    await env.add_channel(url)
    user_id, key = await customer(env)
    for _ in range(200):
        fake.reply_text(STORY)

    results = await burst(env, key, 200)

    assert all(status == 200 for status, _ in results)  # One API's pre-consumption admits all of them
    user = await env.user_row(user_id)
    logs = [log for log in await env.consume_logs() if log["user_id"] == user_id]
    assert user["quota"] == USER_QUOTA - sum(log["quota"] for log in logs) < 0  # overdrawn, exactly
    price = pricing.price_for(env.relay.prices(), MODEL, 1, "default")
    prompt = logs[0]["prompt_tokens"]
    reserved = pricing.pre_consume_quota(price, 500, prompt, 0)
    worst = pricing.text_quota(price, prompt, limits_for(MODEL).max_output)
    assert user["quota"] >= -200 * (worst - reserved)  # the README's bound for 200 requests in flight


async def test_a_lying_upstream_cannot_push_an_overdraft_past_the_bound(relay_env: RelayEnv) -> None:
    env = relay_env
    fake, url = await env.fake()
    fake.record = False
    fake.delay = 0.2
    await env.add_channel(url)
    user_id, key = await customer(env)
    for _ in range(200):
        fake.report_usage(completion_tokens=2**31 - 1)

    results = await burst(env, key, 200)

    assert all(status == 200 for status, _ in results)
    user = await env.user_row(user_id)
    logs = [log for log in await env.consume_logs() if log["user_id"] == user_id]
    assert all(log["completion_tokens"] <= limits_for(MODEL).max_output for log in logs)
    assert user["quota"] == USER_QUOTA - sum(log["quota"] for log in logs) >= 0  # billed as counted: tiny


@pytest.mark.parametrize("stream", [False, True])
async def test_with_pre_consume_max_output_no_balance_goes_below_zero(relay_any: RelayEnv, stream: bool) -> None:
    env = relay_any
    fake, url = await env.fake()
    fake.record = False
    fake.delay = 0.2
    await env.add_channel(url)
    await env.set_option("PreConsumeMaxOutput", "true")
    user_id, key = await customer(env, remain_quota=60_000)
    for _ in range(200):
        fake.reply_text(STORY)

    results = await burst(env, key, 200, **({"stream": True} if stream else {}))

    statuses = [status for status, _ in results]
    served = statuses.count(200)
    refused = [body for status, body in results if status == 403]
    assert served + len(refused) == 200 and served > 0 and refused
    assert all(b"quota is not enough" in (body if isinstance(body, bytes) else json.dumps(body).encode())
               for body in refused)
    user = await env.user_row(user_id)
    token = await env.token_row(key)
    logs = [log for log in await env.consume_logs() if log["user_id"] == user_id]
    assert len(logs) == served
    assert user["quota"] == USER_QUOTA - sum(log["quota"] for log in logs) >= 0
    assert token["remain_quota"] == 60_000 - token["used_quota"] >= 0


async def test_a_stream_past_its_reservation_is_cut_with_finish_reason_length(relay_env: RelayEnv) -> None:
    env = relay_env
    fake, url = await env.fake()
    fake.honour_max_tokens = False  # an upstream that writes past max_tokens
    fake.stream_chunks = 40
    fake.chunk_delay = 0.01
    await env.add_channel(url)
    await env.set_option("PreConsumeMaxOutput", "true")
    _, key = await customer(env)
    fake.reply_text(" ".join(f"w{i}" for i in range(400)))

    stream = await env.client("sk-" + key).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "go on"}], max_tokens=50, stream=True)
    chunks = [chunk async for chunk in stream]

    assert chunks[-1].choices[0].finish_reason == "length"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert 0 < env.relay.tokenizer.count_text(text, MODEL) <= 50
    for _ in range(50):
        if fake.aborted_streams:
            break
        await asyncio.sleep(0.02)
    assert fake.aborted_streams == 1  # the upstream was closed, not read to the end
    (log,) = await env.consume_logs()
    price = pricing.price_for(env.relay.prices(), MODEL, 1, "default")
    assert log["completion_tokens"] <= 50
    assert log["quota"] <= pricing.text_quota(price, log["prompt_tokens"], 50)


async def test_a_stream_within_its_reservation_is_not_cut(relay_env: RelayEnv) -> None:
    env = relay_env
    _fake, url = await env.fake()
    await env.add_channel(url)
    await env.set_option("PreConsumeMaxOutput", "true")
    _, key = await customer(env)
    stream = await env.client("sk-" + key).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "a short one"}], stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a short one"


async def test_pre_consume_max_output_reserves_every_choice(relay_env: RelayEnv) -> None:
    """n answers cost n times one: the reservation (and so the cap on the charge) covers all of them."""
    env = relay_env
    fake, url = await env.fake()
    await env.add_channel(url)
    await env.set_option("PreConsumeMaxOutput", "true")
    _, key = await customer(env)
    fake.reply_text(" ".join(["word"] * 40))
    answer = await env.client("sk-" + key).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "twice"}], max_tokens=40, n=3)
    assert len(answer.choices) == 3 and answer.usage is not None and answer.usage.completion_tokens == 120
    (log,) = await env.consume_logs()
    price = pricing.price_for(env.relay.prices(), MODEL, 1, "default")
    assert log["completion_tokens"] == 120
    assert log["quota"] == pricing.text_quota(price, log["prompt_tokens"], 120)  # all three billed, not capped


async def test_pre_consume_max_output_bills_the_prompt_in_full(relay_env: RelayEnv) -> None:
    """Only the answer is capped at the reservation: a prompt the upstream counts larger than oneapi did (tools,
    files, images) is billed as the upstream counted it."""
    env = relay_env
    fake, url = await env.fake()
    await env.add_channel(url)
    await env.set_option("PreConsumeMaxOutput", "true")
    _, key = await customer(env)
    fake.report_usage(prompt_tokens=100_000, total_tokens=100_001)
    await env.client("sk-" + key).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=1)
    (log,) = await env.consume_logs()
    price = pricing.price_for(env.relay.prices(), MODEL, 1, "default")
    assert log["prompt_tokens"] == 100_000
    assert log["quota"] == pricing.text_quota(price, 100_000, log["completion_tokens"]) > 1_000
