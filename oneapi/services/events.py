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
from typing import Any, Protocol

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


class Forward(Protocol):
    """Where a worker k > 0 sends its events (services.worker_events.EventSender)."""

    watched: bool

    def offer(self, kind: str, data: dict[str, Any], at: float) -> None: ...


class EventHub:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self.forward: Forward | None = None  # --workers: the admin socket is in worker 0

    def subscribe(self) -> Subscription:
        if len(self._subscribers) >= MAX_SUBSCRIBERS:
            raise RuntimeError("too many live event subscribers")
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        return subscription

    @property
    def has_subscribers(self) -> bool:
        """Whether anyone listens: callers skip building events nobody would read."""
        return bool(self._subscribers) or (self.forward is not None and self.forward.watched)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        if self.forward is not None:
            self.forward.offer(kind, data, time.time())
        if self._subscribers:
            self.relay({"kind": kind, "time": time.time(), **data})

    def relay(self, event: dict[str, Any]) -> None:
        """Hand a complete event (this process's, or another worker's) to the subscribers."""
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
    # --workers, in worker k > 0: what was recorded since it was last sent to worker 0 (worker_events)
    forward: Counter[str] | None = None

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
        if self.forward is not None:
            self.forward.update({"requests": 1, "tokens": tokens, "quota": quota, f"model:{model}": 1,
                                 f"channel:{channel_id}": 1})

    def record_error(self) -> None:
        self._bucket().errors += 1
        self.total_errors += 1
        if self.forward is not None:
            self.forward["errors"] += 1

    def merge(self, figures: dict[str, Any]) -> None:
        """Add what another worker recorded in the last second (its ``forward`` counter)."""
        def count(key: str) -> int:
            value = figures.get(key, 0)
            return value if isinstance(value, int) and value > 0 else 0

        bucket = self._bucket()
        bucket.requests += count("requests")
        bucket.errors += count("errors")
        bucket.tokens += count("tokens")
        bucket.quota += count("quota")
        self.total_requests += count("requests")
        self.total_errors += count("errors")
        self.total_quota += count("quota")
        for key in figures:
            if key.startswith("model:") and (len(self.models) < 10_000 or key[6:] in self.models):
                self.models[key[6:]] += count(key)
            elif key.startswith("channel:") and key[8:].isdigit():
                self.channels[int(key[8:])] += count(key)

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
