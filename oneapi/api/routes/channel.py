"""``/api/channel`` (admins): upstream channels. Keys go in, never come out."""

from __future__ import annotations

import json

from aiohttp import web

from oneapi.api.common import ROLE_ADMIN, caller, ok, page_of, path_id, read_json, services
from oneapi.api.routes import add
from oneapi.services import catalog
from oneapi.services.channels import public


async def list_channels(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok(await services(request).channels.list_page(page_of(request)))


async def search_channels(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok(await services(request).channels.search(request.query.get("keyword", "")))


async def all_models(request: web.Request) -> web.Response:
    """One API answers this one outside the envelope: ``{"object": "list", "data": [...]}`` (its channel form
    reads ``data`` directly)."""
    await caller(request, ROLE_ADMIN)
    return web.json_response({"object": "list", "data": catalog.model_objects()})


async def get_channel(request: web.Request) -> web.Response:
    """The channel with ``"key": ""``, as One API (its edit form keeps the key field, empty: unchanged)."""
    await caller(request, ROLE_ADMIN)
    return ok({**public(await services(request).channels.get(path_id(request))), "key": ""})


async def create_channel(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    ids = await services(request).channels.create(await read_json(request))
    return ok(ids)


async def update_channel(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok(await services(request).channels.update(await read_json(request)))


async def delete_disabled(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok(await services(request).channels.delete_disabled())


async def delete_channel(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    await services(request).channels.delete(path_id(request))
    return ok()


async def test_all(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    await services(request).channels.test_all(request.query.get("scope", "all") or "all")
    return ok(message="channel tests started")


async def test_channel(request: web.Request) -> web.Response:
    """One API answers this one outside the envelope: ``{success, message, time, modelName}``."""
    await caller(request, ROLE_ADMIN)
    result = await services(request).channels.test(path_id(request), request.query.get("model", ""))
    result.pop("fatal", None)
    return web.json_response(result, dumps=lambda v: json.dumps(v, ensure_ascii=False))


async def update_all_balances(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok(await services(request).channels.update_all_balances())


async def update_balance(request: web.Request) -> web.Response:
    """``{success, message, balance}`` outside the envelope, as One API."""
    await caller(request, ROLE_ADMIN)
    balance = await services(request).channels.update_balance(path_id(request))
    return web.json_response({"success": True, "message": "", "balance": balance})


def add_routes(router: web.UrlDispatcher) -> None:
    add(router, "GET", "/api/channel/test", test_all)
    add(router, "GET", "/api/channel/test/{id}", test_channel)
    add(router, "GET", "/api/channel/update_balance", update_all_balances)
    add(router, "GET", "/api/channel/update_balance/{id}", update_balance)
    add(router, "GET", "/api/channel/search", search_channels)
    add(router, "GET", "/api/channel/models", all_models)
    add(router, "GET", "/api/channel/", list_channels)
    add(router, "POST", "/api/channel/", create_channel)
    add(router, "PUT", "/api/channel/", update_channel)
    add(router, "DELETE", "/api/channel/disabled", delete_disabled)
    add(router, "GET", "/api/channel/{id}", get_channel)
    add(router, "DELETE", "/api/channel/{id}", delete_channel)
