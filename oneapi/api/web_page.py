"""Where the web pages meet the HTTP application: ``oneapi.web``'s pages on a master (or a slave without
``FRONTEND_BASE_URL``), or One API's own front end when ``THEME`` names its build directory, else a permanent
redirect of every page to the front end, keeping path and query."""

from __future__ import annotations

from aiohttp import web

from oneapi.api.csrf import SAME_ORIGIN_ONLY
from oneapi.api.routes import Handler
from oneapi.config import Config
from oneapi.web import add_web
from oneapi.web.middleware import page_middleware
from oneapi.web.pages.public import not_found
from oneapi.web.theme import add_theme

PAGE_PATHS = r"/{tail:(?!api\b|v1\b|dashboard/|admin/).*}"

__all__ = ["add_routes", "page_middleware"]


def _redirect_to(base: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        # One API: slave nodes send people to the master's web front end (FRONTEND_BASE_URL), path included.
        raise web.HTTPMovedPermanently(base + request.path_qs)

    return handler


def add_routes(app: web.Application, config: Config) -> None:
    """Register after every other route: the last one catches page paths nobody took ("page not found"; the
    API prefixes keep their own 404s)."""
    if not config.is_master and config.frontend_base_url:
        app.router.add_route("*", PAGE_PATHS, _redirect_to(config.frontend_base_url.rstrip("/")))
        return
    if config.theme_dir is not None:
        app[SAME_ORIGIN_ONLY] = True  # One API's front end never sends the CSRF token (see api/csrf.py)
        add_theme(app, config.theme_dir, PAGE_PATHS)
        return
    add_web(app)
    app.router.add_get(PAGE_PATHS, not_found)
