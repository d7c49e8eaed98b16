"""One API's routes for the ways in besides a password: e-mail codes and resets, OAuth (GitHub, Lark, OIDC),
WeChat, with Turnstile in front where One API puts it. The flows themselves are ``oneapi.web.methods``, shared
with oneapi's own pages."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from oneapi.api.common import caller, ok, read_json, services, start_session
from oneapi.api.middleware import envelope_error
from oneapi.api.routes import Handler, add
from oneapi.services.inputs import Fields
from oneapi.web import methods
from oneapi.web.methods.outside import ProviderName

# One API's login answer is its whole User struct with only these filled in (the rest zero values).
_USER_FIELDS: dict[str, Any] = {
    "id": 0, "username": "", "password": "", "display_name": "", "role": 0, "status": 0, "email": "",
    "github_id": "", "wechat_id": "", "lark_id": "", "oidc_id": "", "verification_code": "", "access_token": "",
    "quota": 0, "used_quota": 0, "request_count": 0, "group": "", "aff_code": "", "inviter_id": 0}


def login_data(user: dict[str, Any]) -> dict[str, Any]:
    """What One API's SetupLogin answers: the user's id, names, role and status, in the User struct's shape."""
    return {**_USER_FIELDS, **{k: user[k] for k in ("id", "username", "display_name", "role", "status")}}


async def logged_in(request: web.Request, user: dict[str, Any], message: str = "") -> web.Response:
    response = ok(login_data(user), message)
    await start_session(request, response, user)
    return response


def query(request: web.Request, name: str, max_len: int = 256) -> str:
    return request.query.get(name, "").strip()[:max_len]


async def verification(request: web.Request) -> web.Response:
    await methods.check_turnstile(request, query(request, "turnstile", 4096))
    await methods.send_code(request, query(request, "email"))
    return ok()


async def reset_password(request: web.Request) -> web.Response:
    await methods.check_turnstile(request, query(request, "turnstile", 4096))
    await methods.send_reset(request, query(request, "email"))
    return ok()


async def reset(request: web.Request) -> web.Response:
    """``POST /api/user/reset {email, token}``: One API answers with a new random password; oneapi also takes
    an optional ``password`` to set a chosen one instead."""
    f = Fields(await read_json(request))
    email, token = f.str("email", max_len=64), f.str("token", max_len=64)
    password = f.str("password", max_len=64, strip=False)
    return ok(await services(request).accounts.reset_password(email, token, password))


async def oauth_state(request: web.Request) -> web.Response:
    return ok(methods.new_state(request))


def oauth(name: ProviderName) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        if not methods.state_matches(request, query(request, "state")):
            return envelope_error("state is empty or not same", 403)
        user = await methods.session_user(request)
        if user is not None:  # logged in: bind (a banned session is refused by caller())
            user = await caller(request)
        found, bound = await methods.oauth_finish(request, name, query(request, "code", 1024), user)
        return ok(message="bind") if bound else await logged_in(request, found)

    return handler


async def wechat(request: web.Request) -> web.Response:
    return await logged_in(request, await methods.wechat_finish(request, query(request, "code"), None))


async def wechat_bind(request: web.Request) -> web.Response:
    user = await caller(request)
    await methods.wechat_finish(request, query(request, "code"), user)
    return ok()


async def email_bind(request: web.Request) -> web.Response:
    user = await caller(request)
    await services(request).accounts.bind_email(user, query(request, "email"), query(request, "code"))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    add(router, "GET", "/api/verification", verification)
    add(router, "GET", "/api/reset_password", reset_password)
    add(router, "POST", "/api/user/reset", reset)
    add(router, "GET", "/api/oauth/state", oauth_state)
    for name in methods.PROVIDERS:
        add(router, "GET", f"/api/oauth/{name}", oauth(name))
    add(router, "GET", "/api/oauth/wechat", wechat)
    add(router, "GET", "/api/oauth/wechat/bind", wechat_bind)
    add(router, "GET", "/api/oauth/email/bind", email_bind)
