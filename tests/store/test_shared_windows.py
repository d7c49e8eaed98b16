"""The sliding windows of rate limits: the per-node ones (``LocalWindows``) and the Lua script in a real Redis
(``SharedWindows``) run the same scenarios with the same clock and must agree on every answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import pytest

from oneapi.services.shared_windows import SharedWindows, window_key
from oneapi.services.windows import Check, LocalWindows, Window, retry_after

MINUTE = Window(60.0, 60)
T0 = 1_800_000_000_000  # ms, on a bucket edge


class Windows(Protocol):
    async def check(self, checks: list[Check], now_ms: int | None = None) -> int: ...


class Local:
    def __init__(self) -> None:
        self.windows = LocalWindows()

    async def check(self, checks: list[Check], now_ms: int | None = None) -> int:
        return self.windows.check(checks, now_ms)


@pytest.fixture(params=["local", "redis"])
async def windows(request: pytest.FixtureRequest) -> AsyncIterator[Windows]:
    if request.param == "local":
        yield Local()
        return
    from oneapi.store.redis_link import RedisLink

    link = RedisLink(request.getfixturevalue("redis_url"), node_id="windows-test")
    await link.connect()
    yield SharedWindows(link)
    await link.close()


def rpm(limit: int, cost: int = 1, who: int = 7) -> Check:
    return Check(window_key("rpm", who), MINUTE, limit, cost)


def tpm(limit: int, cost: int = 0, who: int = 7) -> Check:
    return Check(window_key("tpm", who), MINUTE, limit, cost)


async def test_requests_up_to_the_limit_then_a_wait_until_the_oldest_leaves(windows: Windows) -> None:
    answers = [await windows.check([rpm(3)], T0 + t) for t in (0, 10_000, 20_000)]
    assert answers == [0, 0, 0]
    # the fourth in the same minute waits for the first bucket to leave: at T0 + 60 s
    assert await windows.check([rpm(3)], T0 + 30_500) == 29_500
    assert retry_after(29_500) == 30
    assert await windows.check([rpm(3)], T0 + 59_999) == 1
    assert await windows.check([rpm(3)], T0 + 60_000) == 0  # the first left; this one counts now
    assert await windows.check([rpm(3)], T0 + 60_001) > 0


async def test_a_refused_request_is_not_counted(windows: Windows) -> None:
    assert await windows.check([rpm(1)], T0) == 0
    for t in range(1, 60):
        assert await windows.check([rpm(1)], T0 + t * 1000) > 0
    assert await windows.check([rpm(1)], T0 + 60_000) == 0


async def test_tokens_are_weighed_and_refuse_while_the_window_holds_the_limit(windows: Windows) -> None:
    assert await windows.check([tpm(0, cost=600)], T0) == 0  # settling adds, never refuses
    assert await windows.check([tpm(0, cost=300)], T0 + 20_000) == 0
    assert await windows.check([tpm(1000)], T0 + 30_000) == 0  # 900 < 1000: admitted
    assert await windows.check([tpm(0, cost=200)], T0 + 40_000) == 0  # 1100 now
    # 1100 >= 1000: wait until the 600 of T0 leave (500 < 1000), at T0 + 60 s
    assert await windows.check([tpm(1000)], T0 + 45_000) == 15_000
    assert await windows.check([tpm(1000)], T0 + 60_000) == 0


async def test_every_window_of_a_check_must_admit_and_only_then_all_count(windows: Windows) -> None:
    assert await windows.check([tpm(0, cost=50)], T0) == 0
    # requests admitted, tokens full: refused, and the request is not counted either
    assert await windows.check([rpm(5), tpm(50)], T0 + 1000) == 59_000
    assert await windows.check([rpm(1), tpm(0)], T0 + 2000) == 0  # rpm window still empty: this one counts
    assert await windows.check([rpm(1)], T0 + 3000) == 59_000  # the one counted at T0 + 2 s leaves at T0 + 62 s


async def test_windows_of_other_keys_do_not_mix(windows: Windows) -> None:
    assert await windows.check([rpm(1, who=1)], T0) == 0
    assert await windows.check([rpm(1, who=2)], T0) == 0
    assert await windows.check([rpm(1, who=1)], T0 + 1) > 0


async def test_one_apis_three_minute_window_in_three_second_buckets(windows: Windows) -> None:
    three = Window(180.0)
    key = window_key("api", "192.0.2.7")
    for t in range(5):
        assert await windows.check([Check(key, three, 5, 1)], T0 + t * 1000) == 0
    assert await windows.check([Check(key, three, 5, 1)], T0 + 10_000) == 170_000
    assert await windows.check([Check(key, three, 5, 1)], T0 + 180_000) == 0  # the first bucket (3 hits) left


async def test_redis_keeps_at_most_a_window_of_buckets_and_the_keys_expire(redis_url: str) -> None:
    from oneapi.store.redis_link import RedisLink

    link = RedisLink(redis_url, node_id="windows-test")
    await link.connect()
    try:
        shared = SharedWindows(link)
        for t in range(0, 300_000, 1000):  # five minutes of one request a second
            assert await shared.check([rpm(10**9)], T0 + t) == 0
        fields = await link.client.hgetall(window_key("rpm", 7))
        assert len(fields) <= 60 and sum(int(v) for v in fields.values()) == 60
        assert 0 < await link.client.pttl(window_key("rpm", 7)) <= 61_000
        await shared.check([rpm(10**9)])  # Redis's own clock (TIME) when none is given
    finally:
        await link.close()


def test_local_windows_forget_the_least_recent_keys_beyond_their_bound() -> None:
    local = LocalWindows(max_keys=3)
    for who in range(5):
        local.check([rpm(1, who=who)], T0)
    assert local.total(window_key("rpm", 0), MINUTE, T0) == 0  # forgotten: memory stays bounded
    assert local.total(window_key("rpm", 4), MINUTE, T0) == 1
