"""One middleware in front of two chains: a relay request (/v1, /dashboard/) runs only the middlewares the relay
needs, and everything else (/api, the pages) the site's.

aiohttp runs every middleware of an application on every request. Five of the site's (its error pages, /api's
envelope, the per-IP rate limits, CSRF, the pages' errors) only look at the path of a relay request and pass it
on: a coroutine each, on the hot path, for nothing. Each chain is built once per route and kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache, partial
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware as AppMiddleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Middleware(Protocol):
    def __call__(self, request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]: ...


def doors(is_relay: Callable[[str], bool], relay: Sequence[Middleware], site: Sequence[Middleware]) -> AppMiddleware:
    """A middleware that sends a request through ``relay``'s middlewares when ``is_relay(path)``, else through
    ``site``'s (each list in the order aiohttp would run it)."""

    # aiohttp hands a route's handler (its inner chain) to the middlewares as one object per route; the
    # handlers of 404/405 answers are new each time, and only take an entry of the bounded cache.
    @lru_cache(maxsize=1024)
    def chain(handler: Handler, to_relay: bool) -> Handler:
        for middleware in reversed(relay if to_relay else site):
            handler = partial(middleware, handler=handler)
        return handler

    @web.middleware
    async def by_door(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await chain(handler, is_relay(request.path))(request)

    return by_door
