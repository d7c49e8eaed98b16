"""``/api`` routes, one module per resource, each exposing ``add_routes(router)``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add(router: web.UrlDispatcher, method: str, path: str, handler: Handler) -> None:
    """Register ``path`` with and without its trailing slash (One API's clients use both)."""
    router.add_route(method, path, handler)
    alt = path[:-1] if path.endswith("/") else path + "/"
    if alt and alt != "/api":
        router.add_route(method, alt, handler)
