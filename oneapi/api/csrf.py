"""Cross-site request forgery defences, shared by the web pages and ``/api``.

The session cookie is ``SameSite=Lax``, so a browser still sends it on a top-level navigation from another
site (a link, a form's GET, an OAuth redirect). A request that changes something must therefore prove it came
from one of our own pages: it carries a token that only our pages know.

The token is an HMAC (keyed by ``SESSION_SECRET``) of what identifies the browser's session: the signed session
cookie once logged in, else a random pre-session cookie (``csrf``) set by the first page, so the login and
registration forms are covered too. Another site can make the browser send the cookies, but it cannot read our
pages, so it cannot know the token; a token is worthless with any other session.

``/api``: scripts authenticate with an access token in the ``Authorization`` header, which another site cannot
make a browser send, so only calls authenticated by the session cookie need the token, in the ``X-CSRF-Token``
header (the pages give it in ``<meta name="csrf-token">``). This concerns every method but GET/HEAD/OPTIONS,
and the few GET routes that change state. Besides, a browser request that changes state and that the browser
itself marks as coming from another site (``Sec-Fetch-Site``, else an ``Origin`` that is not this host) is
refused before anything else, which also keeps other sites from logging a browser into an account of theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from oneapi.api.common import DROP_SESSION, SESSIONS, is_https
from oneapi.api.middleware import envelope_error
from oneapi.api.session import COOKIE_NAME

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NONCE_COOKIE = "csrf"
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# GET routes of /api that change something worth forging (One API's clients call them with GET). Logging out is
# left out: a forged logout costs a login, and One API's clients log out with a plain GET.
# Binding a WeChat account or an e-mail address to the logged-in user is a GET in One API: forged, it would hand
# the account to whoever owns that WeChat or mailbox. Logging in by WeChat is one too (a forged one logs the
# browser into someone else's account).
STATE_CHANGING_GETS = ("/api/user/token", "/api/channel/test", "/api/channel/update_balance", "/api/oauth/wechat",
                       "/api/oauth/email/bind")
# Routes that authenticate nobody: the cross-site check covers them, whatever cookie the browser holds.
UNAUTHENTICATED = frozenset({"/api/user/login", "/api/user/register", "/api/user/reset", "/api/oauth/wechat"})
SAME_ORIGIN_ONLY = web.AppKey("csrf_same_origin_only", bool)
"""Set when THEME serves One API's own front end, which never sends the token: the browser's word that the call
comes from this origin (Sec-Fetch-Site, else Origin) stands in for it."""


class CsrfKeys:
    """Derives and checks tokens; one per application (keyed like the session cookie)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"oneapi-csrf\0" + secret.encode()).digest()

    def token(self, binding: str) -> str:
        return hmac.new(self._key, binding.encode(), hashlib.sha256).hexdigest()

    def matches(self, binding: str | None, presented: str | None) -> bool:
        if not binding or not presented or not presented.isascii():
            return False
        return hmac.compare_digest(self.token(binding), presented)


CSRF = web.AppKey("csrf", CsrfKeys)


def session_binding(request: web.Request) -> str | None:
    """The signed session cookie when it is one of ours and unexpired, else None."""
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie and request.app[SESSIONS].decode(cookie) is not None:
        return "session:" + cookie
    return None


def nonce_binding(request: web.Request) -> str | None:
    """The browser's pre-session nonce, when it has a well-formed one."""
    nonce = request.cookies.get(NONCE_COOKIE, "")
    return "anonymous:" + nonce if 16 <= len(nonce) <= 64 and nonce.isascii() else None


def binding(request: web.Request) -> str | None:
    """What this browser's tokens are bound to: its session, else its pre-session nonce, else nothing yet."""
    return session_binding(request) or nonce_binding(request)


def page_token(request: web.Request, response: web.StreamResponse) -> str:
    """The token for a page being rendered; sets the pre-session nonce cookie on a browser's first visit.

    A page whose response drops the session cookie (``DROP_SESSION``: a disabled or deleted user, a session not
    accepted) binds its token to the nonce, which the browser keeps, not to the cookie it is about to lose:
    else the login form on that very page would be refused as expired."""
    bound = nonce_binding(request) if request.get(DROP_SESSION) else binding(request)
    if bound is None:
        nonce = secrets.token_urlsafe(24)
        response.set_cookie(NONCE_COOKIE, nonce, path="/", httponly=True, samesite="Lax", secure=is_https(request))
        bound = "anonymous:" + nonce
    return request.app[CSRF].token(bound)


def valid_token(request: web.Request, presented: str | None) -> bool:
    return request.app[CSRF].matches(binding(request), presented)


def is_cross_site(request: web.Request) -> bool:
    """True when the browser says the request comes from another site (Fetch Metadata, else Origin)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site.lower() not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False  # not a browser's cross-origin request: scripts and old browsers' same-origin forms
    return urlsplit(origin).netloc.lower() != request.host.lower()


def is_same_origin(request: web.Request) -> bool:
    """True only when the browser says the request comes from this origin: ``Sec-Fetch-Site: same-origin``
    (every current browser sends it), else an ``Origin`` naming this host. No header: False (a browser that
    tells nothing is not trusted)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site.lower() == "same-origin"
    origin = request.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc.lower() == request.host.lower()


def _changes_state(request: web.Request) -> bool:
    if request.method not in SAFE_METHODS:
        return True
    return request.method == "GET" and request.path.rstrip("/").startswith(STATE_CHANGING_GETS)


@web.middleware
async def api_csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``/api``: refuse state-changing calls from other sites, and cookie-authenticated ones without the token."""
    if not request.path.startswith("/api") or not _changes_state(request):
        return await handler(request)
    if is_cross_site(request):
        return envelope_error("cross-site request refused: this call must come from this site's own pages", 403)
    bound = None if request.path.rstrip("/") in UNAUTHENTICATED else session_binding(request)
    if bound is not None and not request.app[CSRF].matches(bound, request.headers.get(HEADER)):
        if request.app.get(SAME_ORIGIN_ONLY) and is_same_origin(request):
            return await handler(request)
        return envelope_error(f"CSRF token missing or wrong: a call authenticated by the session cookie must send "
                              f"the {HEADER} header given by the page (scripts use an access token instead)", 403)
    return await handler(request)
