"""Sliding windows of counts, one algorithm for every limit that Redis shares (``shared_windows.py``) and for its
per-node stand-in here: a token's requests and tokens per minute, and, in Redis, the per-IP limits of ``/api``
and the web pages.

A window of ``seconds`` is cut into ``buckets`` equal buckets (60: one second for a minute, three for One API's
three minutes). What a window holds is the sum of its last ``buckets`` buckets, the current one included; a
request is refused while that sum is >= its limit, and nothing is added for it. Why buckets rather than a log
of every hit: memory per key is at most ``buckets`` numbers whatever the limit (a token may allow 10^9 tokens a
minute), and a weighted count (tokens, settled after the answer) is a bucket increment like any other. The
price is the edge: a hit leaves the window between ``seconds - width`` and ``seconds`` after it was counted.
Why not GCRA: GCRA turns "N per window" into a steady rate with a burst of N, which admits up to 2N within one
window; One API's limits, and the ones users set on tokens, are counts per window.

The wait a refusal reports is exact for the buckets: the time until enough of the oldest buckets have left the
window for its sum to fall below the limit.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    seconds: float
    buckets: int = 60

    @property
    def width_ms(self) -> int:
        return max(1, round(self.seconds * 1000 / self.buckets))


@dataclass(frozen=True)
class Check:
    """One window of one key in a check: refused when it holds >= ``limit`` (0: never refused); when every
    window of the check admits, ``cost`` is added to each."""

    key: str
    window: Window
    limit: int
    cost: int


def retry_after(wait_ms: int) -> int:
    """Whole seconds for a ``Retry-After`` header: rounded up, at least 1."""
    return max(1, math.ceil(wait_ms / 1000))


class LocalWindows:
    """This process's windows (no Redis, or Redis down). At most ``max_keys`` keys, the least recently used
    forgotten first, each holding at most its window's bucket count: memory is bounded whatever the traffic."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._max_keys = max_keys
        self._counts: OrderedDict[str, dict[int, int]] = OrderedDict()

    def check(self, checks: list[Check], now_ms: int | None = None) -> int:
        """0: admitted, every cost added; else the milliseconds until the fullest refusing window admits."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        wait = 0
        for c in checks:
            buckets = self._live(c.key, c.window, now)
            if c.limit > 0:
                wait = max(wait, _wait(buckets, c.window, c.limit, now))
        if wait > 0:
            return wait
        for c in checks:
            if c.cost > 0:
                current = now // c.window.width_ms
                counts = self._counts.get(c.key)
                if counts is None:
                    counts = self._counts[c.key] = {}
                    if len(self._counts) > self._max_keys:
                        self._counts.popitem(last=False)
                counts[current] = counts.get(current, 0) + c.cost
        return 0

    def total(self, key: str, window: Window, now_ms: int | None = None) -> int:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return sum(self._live(key, window, now).values())

    def _live(self, key: str, window: Window, now: int) -> dict[int, int]:
        """The key's buckets still in the window (older ones dropped)."""
        counts = self._counts.get(key)
        if counts is None:
            return {}
        self._counts.move_to_end(key)
        oldest = now // window.width_ms - window.buckets + 1
        for bucket in [b for b in counts if b < oldest]:
            del counts[bucket]
        return counts


def _wait(buckets: dict[int, int], window: Window, limit: int, now: int) -> int:
    total = sum(buckets.values())
    for bucket in sorted(buckets):
        if total < limit:
            break
        total -= buckets[bucket]
        if total < limit:
            return max(1, (bucket + window.buckets) * window.width_ms - now)
    return 0
