"""Sign in, sign up and sign out, through the same account service as ``/api/user/login`` and ``register``,
with the Turnstile check and the e-mail code when the operator has them on. The other ways in (OAuth, WeChat,
e-mail codes, resets) are ``methods.py``."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from oneapi.api.common import end_session, services, start_session
from oneapi.errors import OneAPIError
from oneapi.web import methods
from oneapi.web.forms import failure_status, read_form
from oneapi.web.render import current_user, redirect, render, safe_next, translator

USERNAME_FIELD_MAX = 64  # a username or an e-mail address
TURNSTILE_FIELD = "cf-turnstile-response"  # the hidden field the Turnstile widget adds to its form


async def login_form(request: web.Request) -> web.Response:
    target = safe_next(request.query.get("next"))
    if await current_user(request) is not None:
        return redirect(request, target)
    return await render(request, "login.html", username=request.query.get("username", "")[:USERNAME_FIELD_MAX],
                        next=target, error="", turnstile=True)


async def login(request: web.Request) -> web.Response:
    form = await read_form(request)
    username, target = form.text("username"), safe_next(form.text("next"))
    try:
        await methods.check_turnstile(request, form.text(TURNSTILE_FIELD))
        user = await services(request).accounts.login(username[:USERNAME_FIELD_MAX], form.text("password", False))
    except OneAPIError as exc:
        return await render(request, "login.html", status=failure_status(exc), username=username[:USERNAME_FIELD_MAX],
                            next=target, error=translator(request).error(exc.message), turnstile=True)
    response = redirect(request, target)
    await start_session(request, response, user)
    return response


async def register_form(request: web.Request) -> web.Response:
    if await current_user(request) is not None:
        return redirect(request, "/dashboard")
    values = {"username": "", "email": "", "aff_code": request.query.get("aff", "")[:32]}
    return await render(request, "register.html", values=values, error="", info="", turnstile=True)


async def register(request: web.Request) -> web.Response:
    form = await read_form(request)
    t = translator(request)
    values = {"username": form.text("username"), "email": form.text("email"), "aff_code": form.text("aff_code")}
    password = form.text("password", strip=False)
    if password != form.text("password2", strip=False):
        return await render(request, "register.html", status=400, values=values, error=t("auth.password_mismatch"),
                            info="", turnstile=True)
    try:
        await methods.check_turnstile(request, form.text(TURNSTILE_FIELD))
        await services(request).accounts.register({**values, "password": password,
                                                   "verification_code": form.text("verification_code")})
    except OneAPIError as exc:
        return await render(request, "register.html", status=failure_status(exc), values=values,
                            error=t.error(exc.message), info="", turnstile=True)
    return redirect(request, "/login?username=" + quote(values["username"]), "flash.registered")


async def logout(request: web.Request) -> web.Response:
    await read_form(request)
    response = redirect(request, "/", "flash.logged_out")
    await end_session(request, response)
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/login", login_form)
    router.add_post("/login", login)
    router.add_get("/register", register_form)
    router.add_post("/register", register)
    router.add_post("/logout", logout)
