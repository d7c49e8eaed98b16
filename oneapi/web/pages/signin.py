"""The ways in besides a password, as pages: OAuth sign-in and binding (GitHub, Lark, OIDC), WeChat codes, e-mail
codes for sign-up and binding, and the password reset. Each posts a form (CSRF-checked) or follows a provider's
redirect, and runs the same flow as ``/api`` (``oneapi.web.methods``).

Binding (linking an outside account or an e-mail address to the logged-in user) asks for the current password
first (``settings.password_confirmed``): a linked account can log in, a linked mailbox can reset the password.
An OAuth binding starts from a settings form (``POST /setting/oauth/<provider>``), which issues a state that says
so and links on to the provider; a callback arriving logged in with a sign-in state binds nothing.

The OAuth callback paths are One API's (``/oauth/github``, ``/oauth/lark``, ``/oauth/oidc``), so an OAuth app
registered for One API works unchanged; the reset link in the e-mail is One API's ``/user/reset?email=&token=``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from oneapi.api.common import end_session, services, start_session
from oneapi.errors import OneAPIError
from oneapi.web import methods
from oneapi.web.forms import failure_status, read_form
from oneapi.web.methods.outside import ProviderName
from oneapi.web.pages.auth import TURNSTILE_FIELD
from oneapi.web.pages.settings import password_confirmed, settings_page
from oneapi.web.render import current_user, redirect, render, require_user, translator

LABELS = {"github": "GitHub", "lark": "Lark", "oidc": "OIDC"}


def _provider(request: web.Request) -> ProviderName:
    name = request.match_info["provider"]
    if name not in methods.PROVIDERS:
        raise web.HTTPNotFound()
    return name


async def _login_failed(request: web.Request, exc: OneAPIError, wechat: bool = False) -> web.Response:
    return await render(request, "login.html", status=failure_status(exc), username="", next="/dashboard",
                        error=translator(request).error(exc.message), turnstile=True, wechat_open=wechat)


# -- OAuth ----------------------------------------------------------------------------------------


async def oauth_start(request: web.Request) -> web.Response:
    """Off to the provider, with a new state for this browser (to sign in, or to bind when logged in)."""
    name = _provider(request)
    try:
        provider = await request.app[methods.OUTSIDE].provider(name)
        redirect_uri = methods.callback_url(request, provider)
    except OneAPIError as exc:
        return await _login_failed(request, exc)
    url = methods.Outside.authorize_url(provider, methods.new_state(request), redirect_uri)
    return web.Response(status=303, headers={"Location": url, "Cache-Control": "no-store"})


async def oauth_bind_start(request: web.Request) -> web.Response:
    """Settings: the current password, then a state that says "bind to this user", and the settings page again
    with a link to the provider. (A link, not a redirect: the form's own answer may not lead to another site,
    the pages' Content-Security-Policy says ``form-action 'self'``.)"""
    name = _provider(request)
    user = await require_user(request)
    form = await read_form(request)
    t = translator(request)
    if not await password_confirmed(user, form):
        return await settings_page(request, user, 400, error=t("settings.current_wrong"), error_form="methods")
    try:
        provider = await request.app[methods.OUTSIDE].provider(name)
        redirect_uri = methods.callback_url(request, provider)
    except OneAPIError as exc:
        return await settings_page(request, user, failure_status(exc), error=t.error(exc.message),
                                   error_form="methods")
    url = methods.Outside.authorize_url(provider, methods.new_state(request, bind_to=user["id"]), redirect_uri)
    return await settings_page(request, user, continue_url=url, continue_to=LABELS[name])


async def oauth_callback(request: web.Request) -> web.Response:
    """Where the provider sends the browser back: the state checked, then log in, sign up, or (when the state
    came from this user's settings form) bind."""
    name = _provider(request)
    user = await current_user(request)
    purpose = methods.take_state(request, request.query.get("state", "")[:64])
    if purpose is None:
        target = "/setting" if user else "/login"
        return redirect(request, target, "flash.error_oauth_state")
    if user is not None and purpose != user["id"]:  # logged in, but no password was asked for this binding
        return redirect(request, "/setting", "flash.error_bind_from_settings")
    try:
        found, bound = await methods.oauth_finish(request, name, request.query.get("code", "")[:1024], user)
    except OneAPIError as exc:
        if user is not None:
            return await settings_page(request, user, failure_status(exc), error=translator(request).error(
                exc.message), error_form="methods")
        return await _login_failed(request, exc)
    if bound:
        return redirect(request, "/setting", "flash.bound", provider=LABELS[name])
    response = redirect(request, "/dashboard")
    await start_session(request, response, found)
    return response


# -- WeChat ---------------------------------------------------------------------------------------


async def wechat_login(request: web.Request) -> web.Response:
    form = await read_form(request)
    try:
        user = await methods.wechat_finish(request, form.text("code"), None)
    except OneAPIError as exc:
        return await _login_failed(request, exc, wechat=True)  # the code form stays open
    response = redirect(request, "/dashboard")
    await start_session(request, response, user)
    return response


async def wechat_bind(request: web.Request) -> web.Response:
    user = await require_user(request)
    form = await read_form(request)
    if not await password_confirmed(user, form):
        return await settings_page(request, user, 400, error=translator(request)("settings.current_wrong"),
                                   error_form="methods")
    try:
        await methods.wechat_finish(request, form.text("code"), user)
    except OneAPIError as exc:
        return await settings_page(request, user, failure_status(exc), error=translator(request).error(exc.message),
                                   error_form="methods")
    return redirect(request, "/setting", "flash.bound", provider="WeChat")


# -- e-mail ---------------------------------------------------------------------------------------


async def register_code(request: web.Request) -> web.Response:
    """The sign-up form's "Send code" button (``formaction``): the code goes out, the form comes back filled."""
    form = await read_form(request)
    t = translator(request)
    values = {"username": form.text("username"), "email": form.text("email"), "aff_code": form.text("aff_code")}
    try:
        await methods.check_turnstile(request, form.text(TURNSTILE_FIELD))
        await methods.send_code(request, values["email"])
    except OneAPIError as exc:
        return await render(request, "register.html", status=failure_status(exc), values=values,
                            error=t.error(exc.message), info="", turnstile=True)
    return await render(request, "register.html", values=values, error="", turnstile=True,
                        info=t("register.code_sent", email=values["email"]))


async def email_code(request: web.Request) -> web.Response:
    """Settings: send a code to the address to bind."""
    user = await require_user(request)
    form = await read_form(request)
    email = form.text("email")
    try:
        await methods.check_turnstile(request, form.text(TURNSTILE_FIELD))
        await methods.send_code(request, email)
    except OneAPIError as exc:
        return await settings_page(request, user, failure_status(exc), error=translator(request).error(exc.message),
                                   error_form="email", new_email=email[:64])
    return await settings_page(request, user, new_email=email[:64],
                               email_info=translator(request)("register.code_sent", email=email))


async def email_bind(request: web.Request) -> web.Response:
    user = await require_user(request)
    form = await read_form(request)
    email = form.text("email")
    if not await password_confirmed(user, form):
        return await settings_page(request, user, 400, error=translator(request)("settings.current_wrong"),
                                   error_form="email", new_email=email[:64])
    try:
        await services(request).accounts.bind_email(user, email, form.text("code"))
    except OneAPIError as exc:
        return await settings_page(request, user, failure_status(exc), error=translator(request).error(exc.message),
                                   error_form="email", new_email=email[:64])
    return redirect(request, "/setting", "flash.email_bound")


async def reset_form(request: web.Request) -> web.Response:
    return await render(request, "reset.html", email=request.query.get("email", "")[:64], error="", sent="",
                        turnstile=True)


async def reset_send(request: web.Request) -> web.Response:
    form = await read_form(request)
    email = form.text("email")
    try:
        await methods.check_turnstile(request, form.text(TURNSTILE_FIELD))
        await methods.send_reset(request, email, tell_unknown=False)  # (One API's route tells; the page not)
    except OneAPIError as exc:
        return await render(request, "reset.html", status=failure_status(exc), email=email[:64], sent="",
                            error=translator(request).error(exc.message), turnstile=True)
    return await render(request, "reset.html", email=email[:64], error="", sent=email[:64], turnstile=True)


def _reset_context(request: web.Request, email: str, token: str, error: str = "") -> dict[str, Any]:
    return {"email": email[:64], "token": token[:64], "error": error}


async def reset_confirm_form(request: web.Request) -> web.Response:
    """The link in the reset e-mail: choose the new password (the token is checked when it is used)."""
    email, token = request.query.get("email", ""), request.query.get("token", "")
    if not email or not token:
        return await render(request, "reset_confirm.html", status=400, **_reset_context(
            request, email, token, translator(request)("reset.link_broken")))
    return await render(request, "reset_confirm.html", **_reset_context(request, email, token))


async def reset_confirm(request: web.Request) -> web.Response:
    form = await read_form(request)
    t = translator(request)
    email, token, password = form.text("email"), form.text("token"), form.text("password", strip=False)
    if password != form.text("password2", strip=False):
        return await render(request, "reset_confirm.html", status=400,
                            **_reset_context(request, email, token, t("auth.password_mismatch")))
    try:
        await services(request).accounts.reset_password(email, token, password or "-")
    except OneAPIError as exc:
        return await render(request, "reset_confirm.html", status=failure_status(exc),
                            **_reset_context(request, email, token, t.error(exc.message)))
    response = redirect(request, "/login?username=" + quote(email), "flash.password_reset")
    await end_session(request, response)  # whoever was logged in here logs in again, with the new password
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/oauth/{provider}/start", oauth_start)
    router.add_get("/oauth/{provider}", oauth_callback)
    router.add_post("/setting/oauth/{provider}", oauth_bind_start)
    router.add_post("/login/wechat", wechat_login)
    router.add_post("/setting/wechat", wechat_bind)
    router.add_post("/register/code", register_code)
    router.add_post("/setting/email/code", email_code)
    router.add_post("/setting/email", email_bind)
    router.add_get("/reset", reset_form)
    router.add_post("/reset", reset_send)
    router.add_get("/user/reset", reset_confirm_form)
    router.add_post("/user/reset", reset_confirm)
