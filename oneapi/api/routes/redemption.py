"""``/api/redemption`` (admins): vouchers."""

from __future__ import annotations

from aiohttp import web

from oneapi.api.common import ROLE_ADMIN, caller, ok, page_of, path_id, read_json, services
from oneapi.api.routes import add


async def list_vouchers(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok(await services(request).vouchers.list_page(page_of(request)))


async def search_vouchers(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok(await services(request).vouchers.search(request.query.get("keyword", "")))


async def get_voucher(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok(await services(request).vouchers.get(path_id(request)))


async def create_vouchers(request: web.Request) -> web.Response:
    actor = await caller(request, ROLE_ADMIN)
    return ok(await services(request).vouchers.create(actor["id"], await read_json(request)))


async def update_voucher(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    status_only = request.query.get("status_only", "") not in ("", "0", "false")
    return ok(await services(request).vouchers.update(await read_json(request), status_only))


async def delete_voucher(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    await services(request).vouchers.delete(path_id(request))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    add(router, "GET", "/api/redemption/search", search_vouchers)
    add(router, "GET", "/api/redemption/", list_vouchers)
    add(router, "POST", "/api/redemption/", create_vouchers)
    add(router, "PUT", "/api/redemption/", update_voucher)
    add(router, "GET", "/api/redemption/{id}", get_voucher)
    add(router, "DELETE", "/api/redemption/{id}", delete_voucher)
