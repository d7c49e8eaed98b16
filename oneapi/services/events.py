"""Live events for the admin socket: request logs and server events, fanned out to subscribers, and the
rolling figures of the TUI dashboard.

Publishing never blocks and never grows without bound: each subscriber has a bounded queue, and a slow
subscriber loses its oldest events (it is told how many) rather than slowing the relay.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SUBSCRIBER_QUEUE = 1000
MAX_SUBSCRIBERS = 64
WINDOW_SECONDS = 60


class Subscription:
    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.dropped = 0

    def offer(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def next(self) -> dict[str, Any]:
        event = await self.queue.get()
        if self.dropped:
            event = {**event, "dropped_before": self.dropped}
            self.dropped = 0
        return event

    def close(self) -> None:
        self._hub._subscribers.discard(self)


class EventHub:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        if len(self._subscribers) >= MAX_SUBSCRIBERS:
            raise RuntimeError("too many live event subscribers")
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        return subscription

    @property
    def has_subscribers(self) -> bool:
        """Whether anyone listens: callers skip building events nobody would read."""
        return bool(self._subscribers)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        if not self._subscribers:
            return
        event = {"kind": kind, "time": time.time(), **data}
        for subscription in list(self._subscribers):
            subscription.offer(event)


@dataclass
class _Second:
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    quota: int = 0


@dataclass
class LiveStats:
    """Per-second buckets of the last minute, plus counters of models and channels since start. ``clock`` tells
    the time (tests hold it still to get figures that do not move)."""

    clock: Callable[[], float] = time.time
    started: float = field(default=0.0)
    _buckets: deque[tuple[int, _Second]] = field(default_factory=lambda: deque(maxlen=WINDOW_SECONDS))
    models: Counter[str] = field(default_factory=Counter)
    channels: Counter[int] = field(default_factory=Counter)
    total_requests: int = 0
    total_errors: int = 0
    total_quota: int = 0

    def __post_init__(self) -> None:
        self.started = self.started or self.clock()

    def _bucket(self, now: float | None = None) -> _Second:
        second = int(now if now is not None else self.clock())
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append((second, _Second()))
        return self._buckets[-1][1]

    def record_request(self, model: str, channel_id: int, tokens: int, quota: int) -> None:
        bucket = self._bucket()
        bucket.requests += 1
        bucket.tokens += tokens
        bucket.quota += quota
        self.total_requests += 1
        self.total_quota += quota
        if len(self.models) < 10_000 or model in self.models:
            self.models[model] += 1
        self.channels[channel_id] += 1

    def record_error(self) -> None:
        self._bucket().errors += 1
        self.total_errors += 1

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """Rates over the last minute, per-second series for sparklines, totals and top lists."""
        now = now if now is not None else self.clock()
        first = int(now) - WINDOW_SECONDS + 1
        series = {s: b for s, b in self._buckets if s >= first}
        seconds = [series.get(first + i, _Second()) for i in range(WINDOW_SECONDS)]
        requests = sum(b.requests for b in seconds)
        errors = sum(b.errors for b in seconds)
        return {
            "requests_per_second": requests / WINDOW_SECONDS,
            "tokens_per_second": sum(b.tokens for b in seconds) / WINDOW_SECONDS,
            "quota_last_minute": sum(b.quota for b in seconds),
            "error_rate": errors / (requests + errors) if requests + errors else 0.0,
            "series": {"requests": [b.requests for b in seconds], "tokens": [b.tokens for b in seconds],
                       "errors": [b.errors for b in seconds]},
            "total_requests": self.total_requests, "total_errors": self.total_errors,
            "total_quota": self.total_quota, "uptime": now - self.started,
            "top_models": self.models.most_common(5),
            "top_channels": [[cid, n] for cid, n in self.channels.most_common(5)],
        }
