"""Routing through the real relay (SPEC 4.1–4.3, issue 3 §3): priority tiers, weights, retries across
channels, pinning, auto-disable, the ENABLE_METRIC window, and channel edits taking effect at once.

Several channels usually point at one fake upstream with different keys, so the fake's request log is the
exact order of attempts (``Authorization: Bearer <channel key>``) and its scripted failures are consumed
by whichever channel is tried next.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from oneapi.store.queries import channels as channel_q
from oneapi.store.queries import logs as log_q
from tests.fakes.openai_upstream import RATE_LIMIT_HEADERS, FakeOpenAI
from tests.functional.relay_env import ROOT_KEY, RelayEnv, relay_config, sqlite_db, start_relay_env
from tests.functional.test_relay_billing import balances, error_body, formula, ratios

MINI = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]


def keys_used(fake: FakeOpenAI) -> list[str]:
    """The channel key of every request the fake received, in order."""
    return [r.headers["authorization"].removeprefix("Bearer ") for r in fake.requests]


async def chat(client: openai.AsyncOpenAI, **kw: Any) -> Any:
    return await client.chat.completions.create(model=kw.pop("model", MINI), messages=kw.pop("messages", HELLO),
                                                **kw)


async def fire(client: openai.AsyncOpenAI, n: int, batch: int = 50) -> None:
    for start in range(0, n, batch):
        await asyncio.gather(*(chat(client) for _ in range(min(batch, n - start))))


def within(count: int, n: int, p: float, sds: float = 4.0) -> bool:
    return abs(count - n * p) <= sds * math.sqrt(n * p * (1 - p))


async def channel_status(env: RelayEnv, channel_id: int) -> int:
    return int((await env.services.channels.get(channel_id))["status"])


async def ability_flags(env: RelayEnv, channel_id: int) -> set[bool]:
    rows = await env.services.store.read(channel_q.abilities)
    return {bool(r["enabled"]) for r in rows if r["channel_id"] == channel_id}


async def system_logs(env: RelayEnv) -> list[dict[str, Any]]:
    await env.flush()
    return await env.services.store.read(log_q.list_page, log_q.LogFilter(log_type=log_q.TYPE_SYSTEM), 0, 100)


# -- priority and weights ---------------------------------------------------------------------------------


async def test_the_high_priority_channel_is_always_chosen_while_enabled(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    high = await relay_env.add_channel(url, key="key-high", priority=10)
    await relay_env.add_channel(url, key="key-low", priority=0, weight=100)
    await relay_env.add_channel(url, key="key-mid", priority=5, weight=100)
    client = relay_env.client()

    await fire(client, 30)
    assert Counter(keys_used(fake)) == {"key-high": 30}

    await relay_env.services.channels.set_status(high, channel_q.STATUS_MANUALLY_DISABLED)
    fake.requests.clear()
    await fire(client, 10)
    assert Counter(keys_used(fake)) == {"key-mid": 10}  # the next tier, not the heavier lower one


async def test_weights_split_a_tier_proportionally(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-light", weight=1)
    await relay_env.add_channel(url, key="key-heavy", weight=3)
    n = 400
    await fire(relay_env.client(), n)
    counts = Counter(keys_used(fake))
    assert counts["key-light"] + counts["key-heavy"] == n
    # 75% ± 4 binomial sd (sd = sqrt(400 · 0.75 · 0.25) ≈ 8.7): 300 ± 35; a uniform choice gives 200 ± 40
    assert within(counts["key-heavy"], n, 0.75), counts
    assert not within(counts["key-heavy"], n, 0.5), counts


async def test_weight_zero_channels_share_equally(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-a", weight=0)
    await relay_env.add_channel(url, key="key-b", weight=0)
    n = 400
    await fire(relay_env.client(), n)
    counts = Counter(keys_used(fake))
    assert counts["key-a"] + counts["key-b"] == n
    assert within(counts["key-a"], n, 0.5), counts  # 200 ± 40


# -- retries ----------------------------------------------------------------------------------------------


async def test_a_retry_moves_to_a_healthy_channel_and_charges_once(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "2")
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-bad", priority=10)
    good = await relay_env.add_channel(url, key="key-good", priority=0)
    key = await relay_env.new_token(name="retry", remain_quota=100_000)
    before = await balances(relay_env, key)

    fake.fail_next(500)
    answer = await chat(relay_env.client(key), messages=[{"role": "user", "content": "a b c d e f g"}])

    assert answer.choices[0].message.content == "echo: a b c d e f g"
    assert keys_used(fake) == ["key-bad", "key-good"]  # the failing channel was tried once
    assert fake.requests[0].body == fake.requests[1].body  # the body was replayed unchanged
    charge = formula(7 + 3, 8, *ratios(relay_env, MINI))
    (log,) = await relay_env.consume_logs()
    assert (log["channel_id"], log["quota"]) == (good, charge)
    after = await balances(relay_env, key)
    assert before["quota"] - after["quota"] == charge  # the failed attempt's reservation came back
    assert (after["remain_quota"], after["token_used"]) == (100_000 - charge, charge)
    assert after["request_count"] - before["request_count"] == 1


@pytest.mark.parametrize("status", [500, 502, 429, 401, 403, 404])
async def test_retryable_statuses_go_to_another_channel(relay_env: RelayEnv, status: int) -> None:
    await relay_env.set_option("RetryTimes", "1")
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-first", priority=10)
    await relay_env.add_channel(url, key="key-second")
    fake.fail_next(status)
    await chat(relay_env.client())
    assert keys_used(fake) == ["key-first", "key-second"]


async def test_a_network_error_is_retried_on_another_channel(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "1")
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-first", priority=10)
    await relay_env.add_channel(url, key="key-second")
    fake.drop_next()
    await chat(relay_env.client())
    assert keys_used(fake) == ["key-first", "key-second"]


@pytest.mark.parametrize("round_", range(5))
async def test_retries_never_repeat_a_channel_while_another_exists(relay_env: RelayEnv, round_: int) -> None:
    await relay_env.set_option("RetryTimes", "2")
    fake, url = await relay_env.fake()
    for name in ("a", "b", "c"):
        await relay_env.add_channel(url, key=f"key-{name}")
    fake.fail_next(500, times=3)
    with pytest.raises(openai.InternalServerError):
        await chat(relay_env.client())
    assert sorted(keys_used(fake)) == ["key-a", "key-b", "key-c"]  # three attempts, three channels


async def test_with_two_channels_retries_alternate(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "3")
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-a")
    await relay_env.add_channel(url, key="key-b")
    fake.fail_next(503, times=4)
    key = await relay_env.new_token(name="alt", remain_quota=100_000)
    before = await balances(relay_env, key)
    with pytest.raises(openai.InternalServerError):
        await chat(relay_env.client(key))
    used = keys_used(fake)
    assert len(used) == 4
    assert all(x != y for x, y in itertools.pairwise(used)), used
    assert await balances(relay_env, key) == before  # four reservations, four refunds


async def test_a_lone_channel_is_retried(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "2")
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-only")
    fake.fail_next(500, times=2)
    await chat(relay_env.client())
    assert keys_used(fake) == ["key-only"] * 3


async def test_a_400_is_not_retried(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "2")
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-first", priority=10)
    await relay_env.add_channel(url, key="key-second")
    key = await relay_env.new_token(name="bad", remain_quota=100_000)
    before = await balances(relay_env, key)
    fake.fail_next(400, {"message": "Invalid value for 'temperature'", "param": "temperature",
                         "code": "invalid_value"})
    with pytest.raises(openai.BadRequestError) as info:
        await chat(relay_env.client(key))
    assert error_body(info.value)["code"] == "invalid_value"
    assert keys_used(fake) == ["key-first"]
    assert await balances(relay_env, key) == before


async def test_exhausted_retries_on_429_keep_the_providers_error_and_retry_headers(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "2")
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-a")
    await relay_env.add_channel(url, key="key-b")
    key = await relay_env.new_token(name="busy", remain_quota=100_000)
    before = await balances(relay_env, key)
    fake.fail_next(429, times=3)

    with pytest.raises(openai.RateLimitError) as info:
        await chat(relay_env.client(key))

    assert info.value.status_code == 429
    # One API replaced the message with "upstream saturated" and dropped the headers SDK backoff reads.
    error = error_body(info.value)
    assert error["message"].startswith("Rate limit reached for requests. Please try again in 20ms.")
    assert error["code"] == "rate_limit_exceeded"
    headers = info.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "20")
    assert {k: headers[k] for k in RATE_LIMIT_HEADERS} == RATE_LIMIT_HEADERS
    assert "openai-organization" not in headers and "openai-project" not in headers
    used = keys_used(fake)
    assert len(used) == 3 and set(used) == {"key-a", "key-b"}
    assert all(x != y for x, y in itertools.pairwise(used)), used
    assert await balances(relay_env, key) == before
    assert await relay_env.consume_logs() == []


async def test_without_retry_times_one_attempt_only(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-a")
    await relay_env.add_channel(url, key="key-b")
    fake.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        await chat(relay_env.client())
    assert len(fake.requests) == 1


# -- pinning ----------------------------------------------------------------------------------------------


async def test_key_channelid_pins_a_channel_and_disables_retries(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "2")
    fake, url = await relay_env.fake()
    high = await relay_env.add_channel(url, key="key-high", priority=10)
    low = await relay_env.add_channel(url, key="key-low")

    pinned_low = relay_env.client(f"sk-{ROOT_KEY}-{low}")
    await fire(pinned_low, 5)
    assert keys_used(fake) == ["key-low"] * 5  # pinned beats priority

    fake.requests.clear()
    fake.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        await chat(relay_env.client(f"sk-{ROOT_KEY}-{high}"))
    assert keys_used(fake) == ["key-high"]  # no retry elsewhere


# -- auto-disable -----------------------------------------------------------------------------------------


async def test_auto_disable_on_401(relay_env: RelayEnv) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    fake, url = await relay_env.fake()
    bad = await relay_env.add_channel(url, key="key-bad", priority=10, name="revoked")
    await relay_env.add_channel(url, key="key-good")
    fake.fail_next(401)

    with pytest.raises(openai.AuthenticationError):
        await chat(relay_env.client())

    assert await channel_status(relay_env, bad) == channel_q.STATUS_AUTO_DISABLED
    assert await ability_flags(relay_env, bad) == {False}
    logs = [row for row in await system_logs(relay_env) if f"#{bad}" in row["content"]]
    assert len(logs) == 1 and "revoked" in logs[0]["content"] and "401" in logs[0]["content"]
    await chat(relay_env.client())
    assert keys_used(fake) == ["key-bad", "key-good"]


async def test_auto_disable_on_an_error_type_with_a_retry_in_the_same_request(relay_env: RelayEnv) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    await relay_env.set_option("RetryTimes", "1")
    fake, url = await relay_env.fake()
    bad = await relay_env.add_channel(url, key="key-bad", priority=10)
    await relay_env.add_channel(url, key="key-good")
    fake.fail_next(429, {"message": "You exceeded your current quota", "type": "insufficient_quota",
                         "code": "insufficient_quota"})
    await chat(relay_env.client())  # retried on the good channel
    assert await channel_status(relay_env, bad) == channel_q.STATUS_AUTO_DISABLED
    await chat(relay_env.client())
    assert keys_used(fake) == ["key-bad", "key-good", "key-good"]


async def test_without_the_option_a_401_does_not_disable(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    bad = await relay_env.add_channel(url, key="key-bad", priority=10)
    await relay_env.add_channel(url, key="key-good")
    fake.fail_next(401)
    with pytest.raises(openai.AuthenticationError):
        await chat(relay_env.client())
    assert await channel_status(relay_env, bad) == channel_q.STATUS_ENABLED
    assert await ability_flags(relay_env, bad) == {True}
    assert await system_logs(relay_env) == []
    await chat(relay_env.client())
    assert keys_used(fake) == ["key-bad", "key-bad"]


async def test_ordinary_errors_do_not_disable(relay_env: RelayEnv) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    fake, url = await relay_env.fake()
    ch = await relay_env.add_channel(url, key="key-a")
    for status in (500, 429, 400, 404):
        fake.fail_next(status)
        with pytest.raises(openai.APIStatusError):
            await chat(relay_env.client())
    assert await channel_status(relay_env, ch) == channel_q.STATUS_ENABLED


@pytest.fixture
async def metric_env(tmp_path: Path) -> AsyncIterator[RelayEnv]:
    config = relay_config(ENABLE_METRIC="true", METRIC_QUEUE_SIZE="4", METRIC_SUCCESS_RATE_THRESHOLD="0.8")
    async for env in start_relay_env(sqlite_db(tmp_path), config):
        yield env


async def test_metric_window_disables_a_channel_below_the_success_rate(metric_env: RelayEnv) -> None:
    fake, url = await metric_env.fake()
    flaky = await metric_env.add_channel(url, key="key-flaky", priority=10)
    mostly = await metric_env.add_channel(url, key="key-mostly", priority=5)
    await metric_env.add_channel(url, key="key-spare")
    client = metric_env.client()

    # three failures: the window (4) is not full yet, so no verdict
    for _ in range(3):
        fake.fail_next(500)
        with pytest.raises(openai.InternalServerError):
            await chat(client)
        assert await channel_status(metric_env, flaky) == channel_q.STATUS_ENABLED
    fake.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        await chat(client)
    assert await channel_status(metric_env, flaky) == channel_q.STATUS_AUTO_DISABLED

    # next tier: three successes then one failure = 75% < 80%
    await fire(client, 3)
    assert await channel_status(metric_env, mostly) == channel_q.STATUS_ENABLED
    fake.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        await chat(client)
    assert await channel_status(metric_env, mostly) == channel_q.STATUS_AUTO_DISABLED
    assert await ability_flags(metric_env, mostly) == {False}
    assert any("75%" in row["content"] for row in await system_logs(metric_env))

    fake.requests.clear()
    await chat(client)
    assert keys_used(fake) == ["key-spare"]


async def test_metric_window_off_by_default(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    ch = await relay_env.add_channel(url, key="key-a")
    for _ in range(12):
        fake.fail_next(500)
        with pytest.raises(openai.InternalServerError):
            await chat(relay_env.client())
    assert await channel_status(relay_env, ch) == channel_q.STATUS_ENABLED


# -- channel changes --------------------------------------------------------------------------------------


async def test_channel_changes_take_effect_without_restart(relay_env: RelayEnv) -> None:
    fake1, url1 = await relay_env.fake()
    fake2, url2 = await relay_env.fake()
    channels = relay_env.services.channels
    client = relay_env.client()

    with pytest.raises(openai.NotFoundError) as info:  # no channel yet: 404, which SDKs do not retry
        await chat(client)
    assert info.value.status_code == 404

    cid = await relay_env.add_channel(url1, models=MINI)
    await chat(client)
    assert len(fake1.requests) == 1

    await channels.update({"id": cid, "base_url": url2})
    await chat(client)
    assert (len(fake1.requests), len(fake2.requests)) == (1, 1)

    await channels.update({"id": cid, "models": "gpt-4o"})
    with pytest.raises(openai.NotFoundError) as info:
        await chat(client)
    assert info.value.status_code == 404
    await chat(client, model="gpt-4o")
    assert fake2.requests[-1].json()["model"] == "gpt-4o"

    await channels.update({"id": cid, "model_mapping": '{"gpt-4o": "gpt-4o-mini"}'})
    await chat(client, model="gpt-4o")
    assert fake2.requests[-1].json()["model"] == "gpt-4o-mini"

    other = await relay_env.add_channel(url1, models="gpt-4o", priority=1)
    await chat(client, model="gpt-4o")
    assert len(fake1.requests) == 2  # the new, higher-priority channel wins at once
    await channels.update({"id": other, "priority": -1})
    await chat(client, model="gpt-4o")
    assert len(fake2.requests) == 4

    await channels.delete(cid)
    await channels.set_status(other, channel_q.STATUS_MANUALLY_DISABLED)
    with pytest.raises(openai.InternalServerError) as info:  # a channel lists it, but none is enabled: 503
        await chat(client, model="gpt-4o")
    assert info.value.status_code == 503
    assert error_body(info.value)["code"] == "no_available_channel"
    await channels.set_status(other, channel_q.STATUS_ENABLED)
    await chat(client, model="gpt-4o")
    assert len(fake1.requests) == 3


async def test_groups_route_to_their_own_channels(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, key="key-default", group="default")
    await relay_env.add_channel(url, key="key-vip", group="vip", priority=10)
    await chat(relay_env.client())
    root = await relay_env.services.accounts.get(1)
    assert root is not None
    await relay_env.services.accounts.update(root, {"id": 1, "group": "vip"})
    await chat(relay_env.client())
    assert keys_used(fake) == ["key-default", "key-vip"]
