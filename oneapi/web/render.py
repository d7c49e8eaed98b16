"""Rendering a page: the Jinja2 environment, what every template sees, and the headers every page carries.

Templates are autoescaped: every value is escaped unless it is the operator's own HTML (``Footer``, the
rendered ``HomePageContent``, ``About`` and ``Notice``), which is marked safe in one place, :class:`Site`.
Each response carries a Content-Security-Policy admitting only this site's own script and stylesheet; the
policy opens a frame source for a home page given as a URL, and inline styles only for an operator text
that uses them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import tzinfo
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web
from markupsafe import Markup

from oneapi import __version__
from oneapi.api.common import DROP_SESSION, SESSIONS, caller, is_https, services
from oneapi.api.csrf import page_token
from oneapi.api.session import COOKIE_NAME
from oneapi.errors import AuthenticationError
from oneapi.services.accounts import ROLE_ADMIN
from oneapi.web import content, display, i18n
from oneapi.web.methods import mail

TEMPLATES = web.AppKey("web_templates", jinja2.Environment)
USER = web.RequestKey("web_user", dict)
NO_USER = web.RequestKey("web_no_user", str)
"""Set when the session cookie named nobody usable: the flash message for the login page."""
FLASH_COOKIE = "flash"
NOTICE_COOKIE = "notice_seen"
STATIC_FILES = ("app.css", "app.js", "icon.svg")


class LoginRequired(Exception):
    """The page needs a logged-in user: the middleware sends the browser to the login page and back."""

    def __init__(self, flash: str = "") -> None:
        super().__init__(flash)
        self.flash = flash


@cache
def static_bytes(name: str) -> bytes:
    return resources.files("oneapi.web").joinpath("static", name).read_bytes()


@cache
def static_version(name: str) -> str:
    return hashlib.sha256(static_bytes(name)).hexdigest()[:12]


def static_url(name: str) -> str:
    """A cache-busting URL: the file is served as immutable, so the URL changes with its content."""
    return f"/static/{name}?v={static_version(name)}"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("oneapi.web", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(static=static_url, version=__version__)
    return env


# -- who is asking ------------------------------------------------------------------------------


async def current_user(request: web.Request) -> dict[str, Any] | None:
    """The logged-in user (by the session cookie, through /api's own ``caller``), or None."""
    if USER in request:
        return request[USER]
    if NO_USER in request or COOKIE_NAME not in request.cookies:
        return None
    try:
        user = await caller(request)
    except AuthenticationError as exc:
        request[DROP_SESSION] = True  # a cookie for nobody, or a banned user: forget it
        # caller() answers a disabled user's session with status 200 ("用户已被封禁"), an unusable cookie with 401
        request[NO_USER] = "flash.error_banned" if exc.http_status == 200 else "flash.login_required"
        return None
    request[USER] = user
    return user


async def require_user(request: web.Request) -> dict[str, Any]:
    user = await current_user(request)
    if user is None:
        raise LoginRequired(request.get(NO_USER) or "flash.login_required")
    return user


# -- what every template sees -------------------------------------------------------------------


class Formatter:
    """Amounts and times as this reader sees them (currency option, browser time zone)."""

    def __init__(self, quota_per_unit: float, in_currency: bool, tz: tzinfo, tz_name: str) -> None:
        self.quota_per_unit = quota_per_unit
        self.in_currency = in_currency
        self.tz = tz
        self.tz_name = tz_name

    def money(self, quota: int) -> str:
        return display.money(quota, self.quota_per_unit, self.in_currency)

    def amount(self, quota: int) -> str:
        return display.amount_text(quota, self.quota_per_unit, self.in_currency)

    def parse_amount(self, text: str) -> int | None:
        return display.parse_amount(text, self.quota_per_unit, self.in_currency)

    def when(self, timestamp: int, seconds: bool = True) -> str:
        return display.when(timestamp, self.tz, seconds)

    def local_input(self, timestamp: int) -> str:
        return display.local_input(timestamp, self.tz)

    def parse_local(self, text: str) -> int | None:
        return display.parse_local(text, self.tz)

    def number(self, value: int) -> str:
        return display.number(value)


@dataclass
class Site:
    """The operator's settings every page shows, read from the options on each request."""

    name: str
    logo: str
    footer: Markup
    notice: Markup
    notice_id: str
    show_notice: bool
    base_url: str
    top_up_link: str
    register_open: bool
    inline_style: bool
    login: LoginMethods


def site_for(request: web.Request) -> Site:
    opts = services(request).options
    footer = opts.get("Footer").strip()
    notice_text = opts.get("Notice").strip()
    notice = content.render(notice_text)
    notice_html = notice.html if notice.kind in ("html", "markdown") else content.markdown(notice_text)
    notice_id = hashlib.sha256(notice_text.encode()).hexdigest()[:16] if notice_text else ""
    return Site(
        name=opts.get("SystemName").strip() or "One API",
        logo=opts.get("Logo").strip(),
        footer=Markup(footer),  # root's own HTML, shown as given
        notice=Markup(notice_html),
        notice_id=notice_id,
        show_notice=bool(notice_text) and request.cookies.get(NOTICE_COOKIE) != notice_id,
        base_url=base_url(request),
        top_up_link=opts.get("TopUpLink").strip(),
        register_open=opts.get_bool("RegisterEnabled") and opts.get_bool("PasswordRegisterEnabled"),
        inline_style=content.render(footer).inline_style or notice.inline_style,
        login=login_methods(request),
    )


@dataclass
class LoginMethods:
    """Which ways in the operator has switched on (the options, read per request)."""

    password: bool
    register: bool  # RegisterEnabled: outside accounts may sign up even when password sign-up is off
    email: bool  # SMTP is set up: codes, resets, binding
    email_verification: bool
    github: bool
    lark: bool
    oidc: bool
    wechat: bool
    wechat_qrcode: str
    turnstile_site_key: str  # "" when Turnstile is off
    turnstile_script: str

    @property
    def outside(self) -> bool:
        return self.github or self.lark or self.oidc or self.wechat


def login_methods(request: web.Request) -> LoginMethods:
    svc = services(request)
    opts = svc.options
    turnstile = opts.get_bool("TurnstileCheckEnabled") and bool(opts.get("TurnstileSiteKey").strip())
    return LoginMethods(
        password=opts.get_bool("PasswordLoginEnabled"), register=opts.get_bool("RegisterEnabled"),
        email=mail.configured(opts),
        email_verification=opts.get_bool("EmailVerificationEnabled"), github=opts.get_bool("GitHubOAuthEnabled"),
        lark=bool(opts.get("LarkClientId").strip()), oidc=opts.get_bool("OidcEnabled"),
        wechat=opts.get_bool("WeChatAuthEnabled"), wechat_qrcode=opts.get("WeChatAccountQRCodeImageURL").strip(),
        turnstile_site_key=opts.get("TurnstileSiteKey").strip() if turnstile else "",
        turnstile_script=svc.config.turnstile_script_url)


def base_url(request: web.Request) -> str:
    """The address a page shows its reader (the ``/v1`` base URL, the invitation link): ``ServerAddress``, else
    the one this request came to, which is the one the reader's own browser used. Only for showing: links that
    leave the server (e-mails, OAuth callbacks) come from ServerAddress alone (``methods.public_address``)."""
    address = services(request).options.get("ServerAddress").strip().rstrip("/")
    if address:
        return address
    return f"{'https' if is_https(request) else 'http'}://{request.host}"


def formatter(request: web.Request) -> Formatter:
    opts = services(request).options
    tz, tz_name = display.zone(request.cookies.get(display.TZ_COOKIE))
    return Formatter(opts.get_float("QuotaPerUnit"), opts.get_bool("DisplayInCurrencyEnabled"), tz, tz_name)


def translator(request: web.Request) -> i18n.Translator:
    return i18n.Translator(i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("Accept-Language")))


def read_flash(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    data = request.app[SESSIONS].decode(raw)
    if not data or not isinstance(data.get("key"), str) or not isinstance(data.get("params"), dict):
        return None
    return data["key"], {str(k): str(v) for k, v in data["params"].items()}


def set_flash(request: web.Request, response: web.StreamResponse, key: str, **params: Any) -> None:
    """A message for the next page (after a redirect); signed, so nobody else can put words in it."""
    value = request.app[SESSIONS].encode({"key": key, "params": {k: str(v) for k, v in params.items()}})
    response.set_cookie(FLASH_COOKIE, value, max_age=300, path="/", httponly=True, samesite="Lax",
                        secure=is_https(request))


def csp(frame_origin: str = "", inline_style: bool = False, widget_origin: str = "") -> str:
    """``widget_origin``: the Turnstile widget's site, whose script runs and whose frame shows on the page."""
    frames = " ".join(o for o in (frame_origin, widget_origin) if o)
    return "; ".join([
        "default-src 'none'", "script-src 'self'" + (f" {widget_origin}" if widget_origin else ""),
        "style-src 'self'" + (" 'unsafe-inline'" if inline_style else ""),
        "img-src * data:", "connect-src 'self'", "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'",
        f"frame-src {frames}" if frames else "frame-src 'none'",
    ])


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def safe_next(target: str | None, default: str = "/dashboard") -> str:
    """A local path to go back to after login or a switch; anything else (another site, //host) is the default."""
    if not target or len(target) > 2048 or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 32 or c == "\\" for c in target):
        return default
    return target


def login_url(request: web.Request) -> str:
    return "/login?next=" + quote(request.path_qs, safe="/")


async def render(request: web.Request, template: str, status: int = 200, frame_origin: str = "",
                 inline_style: bool = False, turnstile: bool = False, **context: Any) -> web.Response:
    """``turnstile``: the page shows the Turnstile widget (when the operator has it on)."""
    user = await current_user(request)
    t = translator(request)
    site = site_for(request)
    response = web.Response(status=status, content_type="text/html", charset="utf-8")
    flash = read_flash(request)
    if flash is not None:
        response.del_cookie(FLASH_COOKIE, path="/")
    page = {
        "t": t, "lang": t.lang, "html_lang": t.html_lang, "fmt": formatter(request), "site": site, "user": user,
        "is_admin": bool(user and user["role"] >= ROLE_ADMIN), "csrf": page_token(request, response),
        "path": request.path, "path_qs": request.path_qs,
        "flash": t(flash[0], **flash[1]) if flash and t.has(flash[0]) else "",
        "flash_kind": "error" if flash and flash[0].startswith("flash.error") else "ok",
        "turnstile": site.login.turnstile_site_key if turnstile else "",
    }
    response.text = request.app[TEMPLATES].get_template(template).render(**page, **context)
    response.headers.update({
        "Content-Security-Policy": csp(frame_origin, inline_style or site.inline_style,
                                       origin_of(site.login.turnstile_script) if page["turnstile"] else ""),
        "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store" if user else "no-cache", "Vary": "Cookie, Accept-Language",
    })
    return response


def redirect(request: web.Request, location: str, flash: str = "", **params: Any) -> web.Response:
    """303 See Other (POST/redirect/GET), optionally with a message for the next page."""
    response = web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
    if flash:
        set_flash(request, response, flash, **params)
    return response
