"""``/api/user``: registration, login and the session, self-service, and user administration."""

from __future__ import annotations

from aiohttp import web

from oneapi.api.common import (
    ROLE_ADMIN,
    caller,
    end_session,
    ok,
    page_of,
    path_id,
    read_json,
    services,
    session_id,
)
from oneapi.api.routes import add
from oneapi.api.routes.login import logged_in
from oneapi.services.accounts import public
from oneapi.services.inputs import Fields
from oneapi.web import methods


async def register(request: web.Request) -> web.Response:
    await methods.check_turnstile(request, request.query.get("turnstile", "")[:4096])
    await services(request).accounts.register(await read_json(request))
    return ok()


async def login(request: web.Request) -> web.Response:
    f = Fields(await read_json(request))
    if services(request).config.theme_dir is None:
        # oneapi's own pages: Turnstile guards logging in too. One API's front ends (a THEME directory) log in
        # without it (One API checks only sign-up and e-mails), so then only the login rate limit applies.
        await methods.check_turnstile(request, request.query.get("turnstile", "")[:4096])
    user = await services(request).accounts.login(f.str("username", max_len=64), f.str("password", max_len=128,
                                                                                       strip=False))
    return await logged_in(request, user)


async def logout(request: web.Request) -> web.Response:
    response = ok()
    await end_session(request, response)
    return response


async def get_self(request: web.Request) -> web.Response:
    return ok(public(await caller(request)))


async def update_self(request: web.Request) -> web.Response:
    user = await caller(request)
    await services(request).accounts.update_self(user, await read_json(request), session_id(request))
    return ok()


async def delete_self(request: web.Request) -> web.Response:
    user = await caller(request)
    await services(request).accounts.delete_self(user)
    response = ok()
    await end_session(request, response)
    return response


async def dashboard(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).logs.dashboard(user["id"]))


async def access_token(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).accounts.regenerate_access_token(user["id"]))


async def aff_code(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).accounts.aff_code(user))


async def redeem(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).vouchers.redeem(user, await read_json(request)))


async def available_models(request: web.Request) -> web.Response:
    user = await caller(request)
    return ok(await services(request).accounts.available_models(user))


async def list_users(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok(await services(request).accounts.list_page(page_of(request), request.query.get("order", "")))


async def search_users(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    accounts = services(request).accounts
    if "username" in request.query:  # oneapi's own: exactly this username (the CLI must not guess from prefixes)
        return ok(await accounts.named(request.query["username"]))
    return ok(await accounts.search(request.query.get("keyword", "")))


async def get_user(request: web.Request) -> web.Response:
    actor = await caller(request, ROLE_ADMIN)
    return ok(await services(request).accounts.get_for(actor, path_id(request)))


async def create_user(request: web.Request) -> web.Response:
    actor = await caller(request, ROLE_ADMIN)
    await services(request).accounts.create(actor, await read_json(request))
    return ok()


async def manage_user(request: web.Request) -> web.Response:
    actor = await caller(request, ROLE_ADMIN)
    return ok(await services(request).accounts.manage(actor, await read_json(request)))


async def update_user(request: web.Request) -> web.Response:
    actor = await caller(request, ROLE_ADMIN)
    await services(request).accounts.update(actor, await read_json(request))
    return ok()


async def delete_user(request: web.Request) -> web.Response:
    actor = await caller(request, ROLE_ADMIN)
    await services(request).accounts.delete(actor, path_id(request))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    add(router, "POST", "/api/user/register", register)
    add(router, "POST", "/api/user/login", login)
    add(router, "GET", "/api/user/logout", logout)
    add(router, "GET", "/api/user/self", get_self)
    add(router, "PUT", "/api/user/self", update_self)
    add(router, "DELETE", "/api/user/self", delete_self)
    add(router, "GET", "/api/user/dashboard", dashboard)
    add(router, "GET", "/api/user/token", access_token)
    add(router, "GET", "/api/user/aff", aff_code)
    add(router, "POST", "/api/user/topup", redeem)
    add(router, "GET", "/api/user/available_models", available_models)
    add(router, "GET", "/api/user/search", search_users)
    add(router, "POST", "/api/user/manage", manage_user)
    add(router, "GET", "/api/user/", list_users)
    add(router, "POST", "/api/user/", create_user)
    add(router, "PUT", "/api/user/", update_user)
    add(router, "GET", "/api/user/{id}", get_user)
    add(router, "DELETE", "/api/user/{id}", delete_user)
