"""The ways in besides a password: e-mail codes and password resets, GitHub, Lark and OIDC, WeChat, and the
Turnstile check in front of them. One flow per method, shared by ``/api`` (One API's routes, used by One API's
own front end and scripts) and oneapi's pages, so both doors keep the same rules.

Browser-bound state lives in small signed cookies (keyed like the session): the OAuth ``state`` (10 minutes,
used once, and saying whether it started a sign-in or, from the settings page, a binding), and a passed
Turnstile check (kept 10 minutes for the client IP that passed it, as One API keeps it in its session, so that
one check covers asking for a code and then signing up with it). Cookies a flow sets are written when the
response is prepared (:func:`set_cookie_later`), whichever door answers.
"""

from __future__ import annotations

import secrets
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from oneapi.api.common import SERVICES, SESSIONS, is_https, services
from oneapi.api.session import COOKIE_NAME
from oneapi.errors import InvalidInputError, PermissionDeniedError
from oneapi.services.accounts import EMAIL_MAX, check_email
from oneapi.services.verification import VALID_SECONDS
from oneapi.web.methods import mail
from oneapi.web.methods.outside import Account, Outside, Provider, ProviderName

OUTSIDE = web.AppKey("login_outside", Outside)
OUTBOX = web.AppKey("mail_outbox", mail.Outbox)
_LATER = web.RequestKey("cookies_later", list)
STATE_COOKIE, TURNSTILE_COOKIE = "oauth_state", "turnstile"
PASS_SECONDS = 600
PROVIDERS: tuple[ProviderName, ...] = ("github", "lark", "oidc")
NO_SERVER_ADDRESS = ("管理员未设置服务器地址 (the administrator has not set ServerAddress, the public address of this "
                     "site that links in e-mails and sign-in callbacks lead to)")

__all__ = ["OUTSIDE", "PROVIDERS", "Account", "Outside", "Provider", "setup"]


def setup(app: web.Application) -> None:
    """Give ``app`` (which carries /api's services) its outside-services client, closed with the app."""
    svc = app[SERVICES]
    app[OUTSIDE] = Outside(svc.config, svc.options)
    app[OUTBOX] = mail.Outbox()

    async def close(app: web.Application) -> None:
        await app[OUTBOX].close(svc.config.outbound_timeout)
        await app[OUTSIDE].close()

    app.on_cleanup.append(close)
    app.on_response_prepare.append(_write_cookies)


def set_cookie_later(request: web.Request, name: str, value: str | None, max_age: int = PASS_SECONDS) -> None:
    """Set (None: delete) a cookie on whatever response this request gets."""
    request.setdefault(_LATER, []).append((name, value, max_age))


async def _write_cookies(request: web.Request, response: web.StreamResponse) -> None:
    # Headers, not response.set_cookie: aiohttp has turned the cookie jar into headers by the time this hook runs.
    for name, value, max_age in request.get(_LATER, []):
        cookie: SimpleCookie = SimpleCookie()
        cookie[name] = value or ""
        morsel = cookie[name]
        morsel.update({"path": "/", "samesite": "Lax", "max-age": str(max_age if value else 0)})
        morsel["httponly"] = True
        if is_https(request):
            morsel["secure"] = True
        response.headers.add("Set-Cookie", morsel.OutputString())


def _signed(request: web.Request, kind: str, value: str, **extra: Any) -> str:
    return request.app[SESSIONS].encode({"kind": kind, "value": value, "until": int(time.time()) + PASS_SECONDS,
                                         **extra})


def _unsigned(request: web.Request, name: str, kind: str) -> dict[str, Any] | None:
    """The signed cookie's data when it is of ``kind`` and unexpired (its ``value`` a string)."""
    raw = request.cookies.get(name)
    data = request.app[SESSIONS].decode(raw) if raw else None
    if not data or data.get("kind") != kind or not isinstance(data.get("value"), str):
        return None
    if not isinstance(data.get("until"), int) or data["until"] < time.time():
        return None
    return data


def client_ip(request: web.Request) -> str:
    from oneapi.http.request import CLIENT_IP

    return request.get(CLIENT_IP) or request.remote or ""


def public_address(request: web.Request) -> str:
    """Where links that leave the server point (the reset link in an e-mail, the OAuth ``redirect_uri``):
    ``ServerAddress``, and nothing else. Never the request's ``Host``: anyone can send any Host, and a reset
    link built from it would carry a victim's token to the sender's site. Empty: refused, with a message
    asking the administrator to set it (One API's code default, ``http://localhost:3000``, would send people
    links that lead nowhere)."""
    address = services(request).options.get("ServerAddress").strip().rstrip("/")
    if not address:
        raise PermissionDeniedError(NO_SERVER_ADDRESS)
    return address


# -- Turnstile ------------------------------------------------------------------------------------


async def check_turnstile(request: web.Request, response_token: str) -> None:
    """When TurnstileCheckEnabled: a check passed in the last 10 minutes, else ``response_token`` verified now."""
    opts = services(request).options
    if not opts.get_bool("TurnstileCheckEnabled"):
        return
    ip = client_ip(request)
    passed = _unsigned(request, TURNSTILE_COOKIE, "turnstile")
    if passed is not None and passed["value"] == ip:  # a pass is good for the address it was won at
        return
    await request.app[OUTSIDE].turnstile_ok(response_token.strip(), ip)
    set_cookie_later(request, TURNSTILE_COOKIE, _signed(request, "turnstile", ip))


# -- e-mail ---------------------------------------------------------------------------------------


def _address(raw: str) -> str:
    email = raw.strip()
    if not email:
        raise InvalidInputError("email is required")
    if len(email) > EMAIL_MAX or not (email.isascii() and email.isprintable()):
        raise InvalidInputError(f"email must be a valid address of at most {EMAIL_MAX} characters")
    return check_email(email)


async def send_code(request: web.Request, raw_email: str) -> None:
    """``/api/verification``: a 6-character code for registering or binding this address (10 minutes)."""
    svc = services(request)
    mail.require_configured(svc.options)
    email = _address(raw_email)
    svc.accounts.check_email_domain(email)
    if await svc.accounts.email_taken(email):
        raise PermissionDeniedError("邮箱地址已被占用 (this e-mail address is already in use)")
    svc.accounts.codes.allow_send("verify", email, client_ip(request))
    code = svc.accounts.codes.issue("verify", email)
    name = svc.options.get("SystemName") or "One API"
    message = mail.build(svc.options, email, f"{name} 邮箱验证 · e-mail verification", [
        f"您好！您正在进行 {name} 邮箱验证，验证码为（{VALID_SECONDS // 60} 分钟内有效）：",
        f"Hello! Your {name} verification code (valid for {VALID_SECONDS // 60} minutes) is:"], highlight=code)
    await mail.send(svc.config, svc.options, message)


async def send_reset(request: web.Request, raw_email: str, tell_unknown: bool = True) -> None:
    """``/api/reset_password``: a link to ``<ServerAddress>/user/reset?email=&token=`` (10 minutes, used once).

    ``tell_unknown`` (One API's route): an address no account uses is refused with One API's message, and the
    mail is sent before the answer, whose failure it reports. Without it (oneapi's page, which must not tell
    who has an account), every address is answered alike: the same checks and send limits, then, for an
    address in use, the mail goes out after the answer (its failure is logged for the operator), so neither
    the answer nor its timing differs."""
    svc = services(request)
    mail.require_configured(svc.options)
    email = _address(raw_email)
    base = public_address(request)
    if tell_unknown and not await svc.accounts.email_taken(email):
        raise InvalidInputError("该邮箱地址未注册 (no account uses this e-mail address)")
    svc.accounts.codes.allow_send("reset", email, client_ip(request))
    if not tell_unknown and not await svc.accounts.email_taken(email):
        return
    token = svc.accounts.codes.issue("reset", email)
    link = f"{base}/user/reset?{urlencode({'email': email, 'token': token})}"
    name = svc.options.get("SystemName") or "One API"
    message = mail.build(svc.options, email, f"{name} 密码重置 · password reset", [
        f"您好！您正在进行 {name} 密码重置，请在 {VALID_SECONDS // 60} 分钟内打开下面的链接：",
        f"Hello! To reset your {name} password, open this link within {VALID_SECONDS // 60} minutes. "
        "If you did not ask for it, ignore this e-mail."], link=link)
    if tell_unknown:
        await mail.send(svc.config, svc.options, message)
    else:
        request.app[OUTBOX].send_later(svc.config, svc.options, message)


# -- OAuth ----------------------------------------------------------------------------------------


def new_state(request: web.Request, bind_to: int = 0) -> str:
    """A random 12-character state bound to this browser (One API keeps it in the session). ``bind_to``: the
    id of the user whose settings page started a binding, after asking the password (0: a sign-in)."""
    state = secrets.token_urlsafe(9)
    set_cookie_later(request, STATE_COOKIE, _signed(request, "oauth_state", state, bind=bind_to))
    return state


def take_state(request: web.Request, state: str) -> int | None:
    """What ``state`` was issued for, when it is this browser's live one: the user id to bind to, 0 for a
    sign-in; None when it is not. Used once, whatever the outcome."""
    data = _unsigned(request, STATE_COOKIE, "oauth_state")
    set_cookie_later(request, STATE_COOKIE, None)
    if not state or data is None or not secrets.compare_digest(data["value"].encode(), state.encode()):
        return None
    bind = data.get("bind")
    return bind if isinstance(bind, int) else 0


def state_matches(request: web.Request, state: str) -> bool:
    return take_state(request, state) is not None


async def session_user(request: web.Request) -> dict[str, Any] | None:
    """The user of this browser's session cookie, if any (banned users included: the caller refuses them)."""
    cookie = request.cookies.get(COOKIE_NAME)
    data = request.app[SESSIONS].decode(cookie) if cookie else None
    if not data or not isinstance(data.get("id"), int):
        return None
    return await services(request).accounts.get(data["id"])


def callback_url(request: web.Request, provider: Provider) -> str:
    """The ``redirect_uri`` a provider sends the browser back to (One API's ``/oauth/<name>`` page); "" for
    GitHub, which is sent none (it uses the callback registered with the OAuth app)."""
    if not provider.send_redirect_uri:
        return ""
    return f"{public_address(request)}/oauth/{provider.name}"


async def oauth_finish(request: web.Request, name: ProviderName, code: str,
                       user: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
    """The state was checked: log in (or register) by the provider's account, or bind it to ``user``.
    Returns (the user, whether this was a bind)."""
    outside = request.app[OUTSIDE]
    provider = await outside.provider(name)
    account = await outside.account(provider, code, callback_url(request, provider))
    accounts = services(request).accounts
    if user is not None:
        await accounts.bind_outside(user, provider.column, account.id)
        return user, True
    found = await accounts.outside_login(provider.column, account.id, display_name=account.name,
                                         email=account.email, username=account.username)
    return found, False


async def wechat_finish(request: web.Request, code: str, user: dict[str, Any] | None) -> dict[str, Any]:
    wechat_id = await request.app[OUTSIDE].wechat_id(code.strip())
    accounts = services(request).accounts
    if user is not None:
        await accounts.bind_outside(user, "wechat_id", wechat_id)
        return user
    return await accounts.outside_login("wechat_id", wechat_id, display_name="WeChat User")
