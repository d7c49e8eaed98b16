"""``/api/token``: the caller's own relay tokens."""

from __future__ import annotations

from aiohttp import web

from oneapi.api.common import caller, ok, page_of, path_id, read_json, services
from oneapi.api.routes import add


def _status_only(request: web.Request) -> bool:
    return request.query.get("status_only", "") not in ("", "0", "false")


async def list_tokens(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).tokens.list_page(user["id"], page_of(request),
                                                       request.query.get("order", "")))


async def search_tokens(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).tokens.search(user["id"], request.query.get("keyword", "")))


async def get_token(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).tokens.get(user["id"], path_id(request)))


async def create_token(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).tokens.create(user["id"], await read_json(request)))


async def update_token(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).tokens.update(user["id"], await read_json(request), _status_only(request)))


async def delete_token(request: web.Request) -> web.Response:
    user = await caller(request)
    await services(request).tokens.delete(user["id"], path_id(request))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    add(router, "GET", "/api/token/search", search_tokens)
    add(router, "GET", "/api/token/", list_tokens)
    add(router, "POST", "/api/token/", create_token)
    add(router, "PUT", "/api/token/", update_token)
    add(router, "GET", "/api/token/{id}", get_token)
    add(router, "DELETE", "/api/token/{id}", delete_token)
