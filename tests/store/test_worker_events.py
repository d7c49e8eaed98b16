"""Worker k's live events and dashboard figures reach worker 0 through a real Redis (services.worker_events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from oneapi.services.events import EventHub, LiveStats
from oneapi.services.worker_events import EventReceiver, EventSender
from oneapi.store.redis_link import RedisLink


@pytest.fixture
async def links(redis_url: str) -> AsyncIterator[tuple[RedisLink, RedisLink]]:
    first, second = RedisLink(redis_url), RedisLink(redis_url)
    await first.connect()
    await second.connect()
    yield first, second
    await first.close()
    await second.close()


async def test_figures_always_and_events_only_while_watched_reach_worker_0(
        links: tuple[RedisLink, RedisLink]) -> None:
    hub0, stats0 = EventHub(), LiveStats()
    hub1, stats1 = EventHub(), LiveStats()
    receiver = EventReceiver(links[0], "g1", hub0, stats0)
    sender = EventSender(links[1], "g1", hub1, stats1)
    other_group = EventReceiver(links[0], "g2", EventHub(), LiveStats())
    receiver.start()
    other_group.start()
    try:
        await asyncio.wait_for(receiver.subscribed.wait(), 5)
        stats1.record_request("gpt-4o", 3, tokens=10, quota=7)
        stats1.record_error()
        hub1.publish("log", {"log": {"id": 1}})  # nobody watches yet: not sent
        await sender.send()
        await _until(lambda: stats0.total_requests == 1)
        assert (stats0.total_errors, stats0.total_quota, stats0.models["gpt-4o"], stats0.channels[3]) == (1, 7, 1, 1)
        assert other_group._stats.total_requests == 0  # another machine's worker 0 hears nothing

        watching = hub0.subscribe()
        await asyncio.sleep(1.2)  # worker 0 announces that it is watched
        await sender.send()
        assert sender.watched and hub1.has_subscribers
        hub1.publish("log", {"log": {"id": 2}})
        await sender.send()
        event = await asyncio.wait_for(watching.next(), 5)
        assert event["kind"] == "log" and event["log"] == {"id": 2}
        receiver.receive("not json")  # what no worker sends is ignored, never raised
        receiver.receive('{"figures": {"requests": -5, "model:x": "many"}, "events": [1, {"kind": 2}]}')
        assert stats0.total_requests == 1
    finally:
        await receiver.close()
        await other_group.close()


async def _until(check: object, timeout: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
