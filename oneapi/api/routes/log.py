"""``/api/log``: every log for admins, one's own for everyone."""

from __future__ import annotations

from aiohttp import web

from oneapi.api.common import ROLE_ADMIN, caller, ok, page_of, services
from oneapi.api.routes import add
from oneapi.errors import InvalidInputError
from oneapi.services.inputs import parse_query_int
from oneapi.services.logs import filter_from_query, public


async def all_logs(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    f = filter_from_query(request.query, admin=True)
    return ok([public(r) for r in await services(request).logs.page(f, page_of(request))])


async def delete_logs(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    if not request.query.get("target_timestamp"):
        raise InvalidInputError("target_timestamp is required: logs created before it are deleted")
    target = parse_query_int("target_timestamp", request.query.get("target_timestamp"), low=1)
    return ok(await services(request).logs.delete_before(target))


async def stat(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    f = filter_from_query(request.query, admin=True)
    return ok({"quota": await services(request).logs.stat(f)})


async def search(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok([public(r) for r in await services(request).logs.search(request.query.get("keyword", ""))])


async def self_logs(request: web.Request) -> web.Response:
    user = await caller(request)
    f = filter_from_query(request.query, admin=False, user_id=user["id"])
    return ok(await services(request).logs.self_page(user["id"], f, page_of(request)))


async def self_stat(request: web.Request) -> web.Response:
    user = await caller(request)
    f = filter_from_query(request.query, admin=False, user_id=user["id"])
    return ok({"quota": await services(request).logs.stat(f)})


async def self_search(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).logs.search(request.query.get("keyword", ""), user_id=user["id"]))


def add_routes(router: web.UrlDispatcher) -> None:
    add(router, "GET", "/api/log/self/stat", self_stat)
    add(router, "GET", "/api/log/self/search", self_search)
    add(router, "GET", "/api/log/self", self_logs)
    add(router, "GET", "/api/log/stat", stat)
    add(router, "GET", "/api/log/search", search)
    add(router, "GET", "/api/log/", all_logs)
    add(router, "DELETE", "/api/log/", delete_logs)
