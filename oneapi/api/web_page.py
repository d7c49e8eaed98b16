"""The minimal web page: one static HTML file (shipped in the package) that talks to ``/api``."""

from __future__ import annotations

from functools import cache
from importlib import resources

from aiohttp import web

from oneapi.api.common import SERVICES


@cache
def _index() -> bytes:
    return resources.files("oneapi").joinpath("web/index.html").read_bytes()


async def index(request: web.Request) -> web.Response:
    config = request.app[SERVICES].config
    if not config.is_master and config.frontend_base_url:
        # One API: slave nodes send people to the master's web front end (FRONTEND_BASE_URL).
        raise web.HTTPFound(config.frontend_base_url.rstrip("/") + "/")
    return web.Response(body=_index(), content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                            "script-src 'self' 'unsafe-inline'"})


async def fallback(request: web.Request) -> web.Response:
    """Unknown page paths get the page (One API serves its single-page app for them)."""
    return await index(request)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", index)


def add_fallback(router: web.UrlDispatcher) -> None:
    """Register last: every GET path no other route took, except the API prefixes (those stay 404/405)."""
    router.add_get(r"/{tail:(?!api\b|v1\b|dashboard/|admin/).*}", fallback)
