"""``/api/option`` (root only): system options. Secrets are write-only."""

from __future__ import annotations

from aiohttp import web

from oneapi.api.common import ROLE_ROOT, caller, ok, read_json, services
from oneapi.api.routes import add
from oneapi.services.inputs import Fields


async def get_options(request: web.Request) -> web.Response:
    await caller(request, ROLE_ROOT)
    return ok(services(request).options.public_items())


async def update_option(request: web.Request) -> web.Response:
    await caller(request, ROLE_ROOT)
    f = Fields(await read_json(request))
    key = f.str("key", max_len=64, required=True)
    await services(request).options.update(key, f.data.get("value"))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    add(router, "GET", "/api/option/", get_options)
    add(router, "PUT", "/api/option/", update_option)
