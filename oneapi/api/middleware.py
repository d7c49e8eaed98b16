"""Middlewares of the HTTP door: request ids, per-IP rate limits, and errors mapped to One API's shapes.

``/api`` failures answer with the envelope ``{success: false, message}``; like One API, almost all of them
are HTTP 200. The exceptions: not logged in (401), rate limited (429), body too large (413), unknown route
(404 with the OpenAI-style "Invalid URL" body).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from oneapi.api.client_ip import Network, client_ip
from oneapi.api.common import DROP_SESSION, check_url_text
from oneapi.api.ratelimit import RateLimiter
from oneapi.api.session import COOKIE_NAME
from oneapi.errors import AuthenticationError, OneAPIError, RateLimitedError
from oneapi.http.body import BodyTooLargeError
from oneapi.http.request import (  # re-exported: the /api modules and the server take them from here
    CLIENT_IP,
    REQUEST_ID,
    REQUEST_ID_HEADER,
    invalid_url,
    payload_problem,
    unreadable_body,
)
from oneapi.services.shared_windows import SharedWindows, window_key
from oneapi.services.windows import Check, Window
from oneapi.store.redis_names import RedisUnavailableError

log = logging.getLogger("oneapi.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WINDOW = 180.0  # One API's global limits count requests per 3 minutes
CRITICAL_LIMIT, CRITICAL_WINDOW = 20, 1200.0  # login / register: 20 per 20 minutes per IP
GLOBAL, CRITICAL = Window(WINDOW), Window(CRITICAL_WINDOW)  # the same windows in Redis (services/windows.py)
# One API's CriticalRateLimit routes: logging in, signing up, e-mails, resets and the OAuth callbacks.
CRITICAL_PATHS = frozenset({"/api/user/login", "/api/user/register", "/api/verification", "/api/reset_password",
                            "/api/user/reset", "/api/oauth/state", "/api/oauth/github", "/api/oauth/lark",
                            "/api/oauth/oidc", "/api/oauth/wechat", "/api/oauth/wechat/bind",
                            "/api/oauth/email/bind"})
CRITICAL_PAGES = frozenset({
    *(("POST", path) for path in ("/login", "/register", "/reset", "/user/reset", "/login/wechat", "/register/code",
                                  "/setting/wechat", "/setting/email", "/setting/email/code", "/setting/password",
                                  "/setting/access-token", "/setting/delete", "/setting/oauth/github",
                                  "/setting/oauth/lark", "/setting/oauth/oidc")),
    *(("GET", f"/oauth/{name}{end}") for name in ("github", "lark", "oidc") for end in ("", "/start")),
})
"""The web's (method, path) pairs reaching the same services: its forms, the forms that check the current
password (each a password guess), and the OAuth redirects and callbacks (GET; HEAD counts as GET)."""


_stamp_cache: list[Any] = [0, ""]  # (second, formatted) — formatting a date per request costs more than the rest


def new_request_id() -> str:
    """One API's format: yyyyMMddHHmmss + (nanoseconds mod 1e9) + 8 random digits (unique, not secret)."""
    now = time.time_ns()
    second = now // 1_000_000_000
    if _stamp_cache[0] != second:
        _stamp_cache[:] = [second, datetime.fromtimestamp(second, UTC).strftime("%Y%m%d%H%M%S")]
    return f"{_stamp_cache[1]}{now % 1_000_000_000}{random.randrange(10**8):08d}"


def envelope_error(message: str, status: int = 200) -> web.Response:
    return web.json_response({"success": False, "message": message},
                             status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = new_request_id()
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def make_client_ip_middleware(proxies: tuple[Network, ...]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def client_ip_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[CLIENT_IP] = client_ip(request.remote, request.headers.get("X-Forwarded-For"), proxies)
        return await handler(request)

    return client_ip_middleware


def make_rate_limit_middleware(api_limit: int, web_limit: int,
                               shared: SharedWindows | None = None) -> Callable[..., Awaitable[web.StreamResponse]]:
    """One API's per-IP limits: GLOBAL_API_RATE_LIMIT on /api, GLOBAL_WEB_RATE_LIMIT on pages, both per
    WINDOW, and the critical limit on top for logins and the like. ``shared`` (Redis): counted across every
    node, one script per request; without it, or while Redis is down, each process counts on its own."""
    api = RateLimiter(api_limit, WINDOW)
    pages = RateLimiter(web_limit, WINDOW)
    critical = RateLimiter(CRITICAL_LIMIT, CRITICAL_WINDOW)

    async def allowed(kind: str, limiter: RateLimiter, ip: str, is_critical: bool) -> bool:
        if shared is not None and shared.up:
            checks = [Check(window_key(kind, ip), GLOBAL, limiter.limit, 1)] if limiter.limit > 0 else []
            if is_critical:
                checks.append(Check(window_key("critical", ip), CRITICAL, CRITICAL_LIMIT, 1))
            try:
                return not checks or await shared.check(checks) == 0
            except RedisUnavailableError:
                pass  # the link logged it once; this process counts on its own until Redis is back
        return limiter.allow(ip) and (not is_critical or critical.allow(ip))

    @web.middleware
    async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/v1") or path.startswith("/dashboard/") or request.method == "OPTIONS":
            return await handler(request)  # the relay is not rate limited per IP (SPEC 1.1); tokens may be
        ip = request.get(CLIENT_IP) or request.remote or ""
        if path.startswith("/api"):
            ok = await allowed("api", api, ip, path.rstrip("/") in CRITICAL_PATHS)
        else:
            method = "GET" if request.method == "HEAD" else request.method
            ok = await allowed("web", pages, ip, (method, path.rstrip("/")) in CRITICAL_PAGES)
        if not ok:
            raise RateLimitedError("too many requests; slow down and retry later")
        return await handler(request)

    return rate_limit_middleware


@web.middleware
async def api_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure under /api becomes the envelope; nothing escapes as a traceback."""
    if not request.path.startswith("/api"):
        return await handler(request)
    try:
        check_url_text(request)
        response = await handler(request)
        if isinstance(response, web.Response) and "gzip" in request.headers.get("Accept-Encoding", "") \
                and isinstance(response.body, bytes) and len(response.body) > 1024:
            response.enable_compression(web.ContentCoding.gzip)  # One API gzips /api answers
        return response
    except RateLimitedError:
        return web.Response(status=429, text="Too Many Requests")
    except AuthenticationError as exc:
        response = envelope_error(exc.message, 401 if exc.http_status == 401 else 200)
        if request.get(DROP_SESSION):  # banned user, or a session cookie we do not accept (SPEC 2.1)
            response.del_cookie(COOKIE_NAME, path="/")
        return response
    except BodyTooLargeError as exc:
        return unreadable_body(envelope_error(exc.message, 413))
    except OneAPIError as exc:
        return envelope_error(exc.message)
    except web.HTTPRequestEntityTooLarge:
        return unreadable_body(envelope_error("request body is too large", 413))
    except RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on a body that is not gzip
        return unreadable_body(envelope_error(f"request body could not be read: {payload_problem(exc)}", 400))
    except web.HTTPNotFound:
        return invalid_url(request)
    except web.HTTPMethodNotAllowed:
        return invalid_url(request, 405)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return envelope_error("internal server error; the administrator can find details in the server log", 500)


@web.middleware
async def page_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Rate limits and unknown paths outside /api."""
    try:
        return await handler(request)
    except RateLimitedError:
        return web.Response(status=429, text="Too Many Requests")
