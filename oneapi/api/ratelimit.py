"""Per-client request limits for ``/api`` and web pages (One API's global and critical limiters).

A sliding window: a client may make ``limit`` requests in any ``window`` seconds. Memory is bounded: at most
``max_clients`` clients are tracked, the least recently seen forgotten first, so a flood of spoofed
addresses cannot grow the process.

This is the per-process limiter: the only one without Redis, the fallback while Redis is down. With
``REDIS_CONN_STRING`` the middleware counts in Redis instead (``services/shared_windows.py``), across every node.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque


class RateLimiter:
    def __init__(self, limit: int, window: float, max_clients: int = 50_000) -> None:
        self.limit = limit
        self.window = window
        self._max_clients = max_clients
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, client: str, now: float | None = None) -> bool:
        """Record one request from ``client``; False when it is over the limit (the request is refused)."""
        if self.limit <= 0:
            return True
        now = time.monotonic() if now is None else now
        hits = self._hits.get(client)
        if hits is None:
            hits = deque(maxlen=self.limit)
            self._hits[client] = hits
            if len(self._hits) > self._max_clients:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(client)
        if len(hits) == self.limit and now - hits[0] < self.window:
            return False
        hits.append(now)
        return True
