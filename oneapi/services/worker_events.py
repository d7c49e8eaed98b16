"""With ``--workers``, what the admin socket shows covers every worker of the machine, not only worker 0.

The admin socket (TUI, CLI) lives in worker 0. Every other worker sends worker 0, once a second and over Redis
pub/sub, what its own dashboard figures gained (requests, errors, tokens, quota, models, channels) and, only
while someone watches the live tail, its live events. One message per worker per second, whatever the load:
nothing is added to a request's path but an append to a list. Worker 0 says it has watchers with a key that
expires (``<channel>:watched``), so a worker 0 that died leaves no worker buffering for nobody.

Best effort, as the live tail itself: a second lost with Redis is a second missing from the dashboard, never a
charge (charges go through the ledger and the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from oneapi.services.events import EventHub, LiveStats
from oneapi.store.redis_names import PREFIX

if TYPE_CHECKING:
    from oneapi.store.redis_link import RedisLink

log = logging.getLogger("oneapi.workers")

SEND_SECONDS = 1.0
WATCHED_TTL = 5  # seconds the watched flag lives; worker 0 refreshes it every SEND_SECONDS
MAX_EVENTS = 1000  # per worker and second: a flood of events is cut, and the cut counted


def channel(group: str) -> str:
    return f"{PREFIX}workers:{group}"


class EventSender:
    """In worker k > 0: collects its figures and (when watched) its events, and sends them every second."""

    def __init__(self, link: RedisLink, group: str, hub: EventHub, stats: LiveStats) -> None:
        self._link = link
        self._channel = channel(group)
        self._events: list[dict[str, Any]] = []
        self._cut = 0
        self.watched = False
        hub.forward = self
        stats.forward = Counter()
        self._stats = stats
        self._task: asyncio.Task[None] | None = None

    def offer(self, kind: str, data: dict[str, Any], at: float) -> None:
        if not self.watched:
            return
        if len(self._events) >= MAX_EVENTS:
            self._cut += 1
            return
        self._events.append({"kind": kind, "time": at, **data})

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="oneapi-worker-events")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            await self.send()  # the last second's figures

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(SEND_SECONDS)
            await self.send()

    async def send(self) -> None:
        figures, self._stats.forward = self._stats.forward, Counter()
        events, self._events = self._events, []
        cut, self._cut = self._cut, 0
        if not self._link.up:
            return
        try:
            self.watched = bool(await self._link.client.exists(self._channel + ":watched"))
            if figures or events:
                message = {"figures": figures, "events": events, "cut": cut}
                await self._link.client.publish(self._channel, json.dumps(message))
        except (RedisError, OSError, TimeoutError) as exc:
            self._link.lost(exc)


class EventReceiver:
    """In worker 0: merges what the other workers send into its own hub and figures."""

    def __init__(self, link: RedisLink, group: str, hub: EventHub, stats: LiveStats) -> None:
        self._link = link
        self._channel = channel(group)
        self._hub = hub
        self._stats = stats
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="oneapi-worker-events"),
                       loop.create_task(self._announce(), name="oneapi-worker-watched")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _announce(self) -> None:
        while True:
            if self._hub.has_subscribers and self._link.up:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await self._link.client.set(self._channel + ":watched", "1", ex=WATCHED_TTL)
            await asyncio.sleep(SEND_SECONDS)

    async def _listen(self) -> None:
        while True:
            pubsub = self._link.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                self.subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.receive(message.get("data"))
            except (RedisError, OSError, TimeoutError):
                self.subscribed.clear()
                await asyncio.sleep(SEND_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def receive(self, data: object) -> None:
        try:
            message = json.loads(data) if isinstance(data, str) else None
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        figures = message.get("figures")
        if isinstance(figures, dict):
            self._stats.merge(figures)
        events = message.get("events")
        for event in events if isinstance(events, list) else []:
            if isinstance(event, dict) and isinstance(event.get("kind"), str):
                self._hub.relay(event)
        if isinstance(message.get("cut"), int) and message["cut"] > 0:
            self._hub.publish("alert", {"message": f"a worker dropped {message['cut']} live events in one "
                                                   "second (too many to forward)"})
