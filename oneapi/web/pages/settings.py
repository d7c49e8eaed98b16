"""The console's settings: profile, password, the system access token, the invite link, deleting the account
(and, in ``signin.py``, linking e-mail, GitHub, Lark, OIDC and WeChat).

Changes go through ``services.accounts`` (``update_self``, ``regenerate_access_token``, ``aff_code``,
``delete_self``), as ``/api/user/self`` does. The web adds what a browser form needs: the new password typed
twice, and the current password (:func:`password_confirmed`) before every change that could hand the account
to someone else: a password change, a new access token, linking an e-mail address (whose mailbox can then
reset the password) or an outside account (which can then log in), deleting the account. So these pages
cannot be used from an unattended logged-in browser to take the account over. Two limits: an account made by
an outside login has no password to ask; and One API's ``/api`` routes (its front end's and scripts' door)
ask for none, as in One API.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from oneapi.api.common import end_session, services, session_id
from oneapi.errors import OneAPIError
from oneapi.services import passwords
from oneapi.web.forms import Form, failure_status, read_form
from oneapi.web.render import base_url, login_methods, redirect, render, require_user, translator

LINKABLE = ("github", "lark", "oidc")  # outside accounts linked through their OAuth flow (WeChat: by its code)


async def settings_page(request: web.Request, user: dict[str, Any], status: int = 200, **context: Any) -> web.Response:
    svc = services(request)
    code = await svc.accounts.aff_code(user)
    opts = svc.options
    page = {"access_token": "", "error": "", "error_form": "", "display_name": user["display_name"],
            "new_email": "", "email_info": "", "continue_url": "", "continue_to": ""}
    page.update(context)
    login = login_methods(request)
    switched_on = {"github": login.github, "lark": login.lark, "oidc": login.oidc}
    linkable = [name for name in LINKABLE if switched_on[name] and not user[f"{name}_id"]]
    return await render(request, "settings.html", status=status, section="setting", turnstile=True,
                        has_password=bool(user["password"]), linkable=linkable,
                        invite_link=f"{base_url(request)}/register?aff={code}",
                        inviter_reward=opts.get_int("QuotaForInviter"), invitee_reward=opts.get_int("QuotaForInvitee"),
                        **page)


async def settings(request: web.Request) -> web.Response:
    return await settings_page(request, await require_user(request))


async def _failed(request: web.Request, user: dict[str, Any], form_name: str, message: str, status: int = 400,
                  **context: Any) -> web.Response:
    return await settings_page(request, user, status, error=message, error_form=form_name, **context)


async def save_profile(request: web.Request) -> web.Response:
    user = await require_user(request)
    form = await read_form(request)
    display_name = form.text("display_name")
    try:
        await services(request).accounts.update_self(user, {"display_name": display_name})
    except OneAPIError as exc:
        return await _failed(request, user, "profile", translator(request).error(exc.message), failure_status(exc),
                             display_name=display_name[:64])
    return redirect(request, "/setting", "flash.profile_saved")


async def password_confirmed(user: dict[str, Any], form: Form) -> bool:
    """The form's ``current`` field is the user's password (re-authentication), or the account has none (made by
    an outside login: nothing to ask)."""
    return not user["password"] or await passwords.check_password(form.text("current", strip=False),
                                                                   user["password"])


async def change_password(request: web.Request) -> web.Response:
    user = await require_user(request)
    form = await read_form(request)
    t = translator(request)
    new = form.text("password", strip=False)
    if new != form.text("password2", strip=False):
        return await _failed(request, user, "password", t("auth.password_mismatch"))
    if not await password_confirmed(user, form):
        return await _failed(request, user, "password", t("settings.current_wrong"))
    if not new:
        return await _failed(request, user, "password", t("settings.password_required"))
    try:
        await services(request).accounts.update_self(user, {"password": new}, session_id(request))
    except OneAPIError as exc:
        return await _failed(request, user, "password", t.error(exc.message), failure_status(exc))
    return redirect(request, "/setting", "flash.password_changed")


async def new_access_token(request: web.Request) -> web.Response:
    """Shown once, on this response only: the page that answers the POST is not a redirect."""
    user = await require_user(request)
    form = await read_form(request)
    if not await password_confirmed(user, form):
        return await _failed(request, user, "access", translator(request)("settings.current_wrong"))
    token = await services(request).accounts.regenerate_access_token(user["id"])
    response = await settings_page(request, user, access_token=token)
    return response


async def delete_account(request: web.Request) -> web.Response:
    user = await require_user(request)
    form = await read_form(request)
    t = translator(request)
    if form.text("confirm") != user["username"]:
        return await _failed(request, user, "delete", t("settings.delete_confirm_wrong"))
    if not await password_confirmed(user, form):
        return await _failed(request, user, "delete", t("settings.current_wrong"))
    try:
        await services(request).accounts.delete_self(user)
    except OneAPIError as exc:
        return await _failed(request, user, "delete", t.error(exc.message), failure_status(exc))
    response = redirect(request, "/", "flash.account_deleted")
    await end_session(request, response)
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/setting", settings)
    router.add_post("/setting/profile", save_profile)
    router.add_post("/setting/password", change_password)
    router.add_post("/setting/access-token", new_access_token)
    router.add_post("/setting/delete", delete_account)
