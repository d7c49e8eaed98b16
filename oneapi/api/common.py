"""What every ``/api`` handler shares: app keys, the envelope, request parsing and the caller's identity."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from oneapi.api.client_ip import Network, forwarded_https
from oneapi.api.session import COOKIE_NAME, MAX_AGE, SessionCodec
from oneapi.errors import AuthenticationError, InvalidInputError, PermissionDeniedError
from oneapi.http.body import read_body
from oneapi.services import Services
from oneapi.services.accounts import ROLE_ADMIN, ROLE_COMMON, ROLE_ROOT, STATUS_ENABLED
from oneapi.services.inputs import (
    MAX_NESTING,
    MAX_SAFE_INT,
    check_int,
    check_json_value,
    is_storable_text,
    parse_query_int,
)

SERVICES = web.AppKey("services", Services)
SESSIONS = web.AppKey("sessions", SessionCodec)
CALLER = web.RequestKey("caller", dict)
"""Request key under which a door may preset the caller (the admin socket acts as root)."""
DROP_SESSION = web.RequestKey("drop_session", bool)
"""Set when the request's session cookie must be cleared (banned user, or a cookie we do not accept)."""
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple[Network, ...])
"""Reverse proxies whose X-Forwarded-* headers are believed (TRUSTED_PROXIES); set by ``server.make_app``."""

__all__ = ["ROLE_ADMIN", "ROLE_COMMON", "ROLE_ROOT", "caller", "ok", "page_of", "path_id", "read_json",
           "services"]


def ok(data: Any = None, message: str = "") -> web.Response:
    return web.json_response({"success": True, "message": message, "data": data},
                             dumps=lambda v: json.dumps(v, ensure_ascii=False))


def is_https(request: web.Request) -> bool:
    """Whether the browser's connection is HTTPS: ours, or a trusted reverse proxy's (X-Forwarded-Proto)."""
    return request.secure or forwarded_https(request.remote, request.headers.get("X-Forwarded-Proto"),
                                             request.app.get(TRUSTED_PROXIES, ()))


async def start_session(request: web.Request, response: web.StreamResponse, user: dict[str, Any]) -> None:
    """Log the browser in as ``user``: a new server-side session (``services.sessions``) named in the signed
    ``session`` cookie, HttpOnly, SameSite=Lax (so a link from another site or an OAuth redirect arrives logged
    in; state-changing requests need the CSRF token), and Secure whenever the browser speaks HTTPS to us or to
    our proxy. Every login is a session of its own, so the CSRF tokens of an earlier login (bound to its cookie)
    are worthless in a later one."""
    sid = await services(request).sessions.start(user["id"])
    data = {"id": user["id"], "username": user["username"], "display_name": user["display_name"],
            "role": user["role"], "status": user["status"], "sid": sid}
    response.set_cookie(COOKIE_NAME, request.app[SESSIONS].encode(data), max_age=MAX_AGE, path="/",
                        httponly=True, samesite="Lax", secure=is_https(request))


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    """Log the browser out: its session ends on the server (on every node), and the cookie is cleared."""
    sid = session_id(request)
    if sid:
        await services(request).sessions.end(sid)
    drop_session_cookie(response)


def drop_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE_NAME, path="/")


def session_id(request: web.Request) -> str:
    """The sid of the request's session cookie when the cookie is ours and unexpired, else ""."""
    cookie = request.cookies.get(COOKIE_NAME)
    data = request.app[SESSIONS].decode(cookie) if cookie else None
    sid = data.get("sid") if data is not None else None
    return sid if isinstance(sid, str) and sid.isascii() and 0 < len(sid) <= 64 else ""


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


async def read_json(request: web.Request) -> Any:
    """The decoded JSON body, checked once here for what no service can handle: a missing or malformed body,
    absurd nesting, text no database stores (a lone surrogate, JSON's ``"\\ud800"``). Each is an
    InvalidInputError (the envelope), never a 500."""
    raw = await read_body(request)
    if not raw.strip():
        raise InvalidInputError("request body is empty; expected JSON")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("request body is not valid JSON") from None
    except RecursionError:
        raise InvalidInputError(f"request body is JSON nested too deeply (at most {MAX_NESTING} levels)") from None
    check_json_value(value)
    return value


def check_url_text(request: web.Request) -> None:
    """Refuse a path or query holding text no database stores (``%00``): checked once for /api and the pages,
    before any handler passes a search keyword or a filter on to a query."""
    if "\x00" in request.path or not all(is_storable_text(v) for v in request.query.values()):
        raise InvalidInputError("the URL holds a NUL character (%00), which no field accepts")


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info.get(name, "")
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidInputError(f"{name} must be an integer")
    if len(digits) > 20:  # before int(): it refuses more than 4,300 digits, and no id has more than 16
        raise InvalidInputError(f"{name} must be an integer <= {MAX_SAFE_INT}")
    return check_int(name, int(raw), 1, MAX_SAFE_INT)


def page_of(request: web.Request) -> int:
    return parse_query_int("p", request.query.get("p"), default=0, low=0, high=1_000_000)


async def caller(request: web.Request, min_role: int = ROLE_COMMON) -> dict[str, Any]:
    """The authenticated user behind this request, with at least ``min_role``.

    Order as One API: the session cookie, else ``Authorization: <access token>``. The user row is re-read
    from the database, so a disabled user or a changed role counts at once.
    """
    user: dict[str, Any] | None = request.get(CALLER)
    if user is None:
        user = await _authenticate(request)
        request[CALLER] = user
    if user["status"] != STATUS_ENABLED:
        request[DROP_SESSION] = COOKIE_NAME in request.cookies
        raise AuthenticationError("用户已被封禁 (user banned)", status=200)
    if user["role"] < min_role:
        raise PermissionDeniedError("无权进行此操作，权限不足 (permission denied)")
    return user


async def _authenticate(request: web.Request) -> dict[str, Any]:
    svc = services(request)
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        # The cookie counts only while its session lives on the server: logout, a password change, a ban or a
        # deletion ended it (a cookie from before server-side sessions carries no sid, and logs in again).
        data = request.app[SESSIONS].decode(cookie)
        sid = session_id(request)
        if data is not None and isinstance(data.get("id"), int):  # signed by us: an id we wrote
            user = await svc.sessions.user(sid, data["id"]) if sid else None
            if user is not None:
                return user
            request[DROP_SESSION] = True
            # A ban or a deletion ended the session: say so (SPEC 2.1's "user banned", and the page's reason),
            # rather than "not logged in". caller() refuses the disabled user.
            owner = await svc.accounts.get(data["id"])
            if owner is not None and owner["status"] != STATUS_ENABLED:
                return owner
        request[DROP_SESSION] = True
    header = request.headers.get("Authorization", "").strip()
    if header.startswith("Bearer "):
        header = header[len("Bearer "):].strip()
    if not header:
        raise AuthenticationError("无权进行此操作，未登录且未提供 access token (not logged in and no access token)")
    user = await svc.accounts.by_access_token(header)
    if user is None:
        raise AuthenticationError("无权进行此操作，access token 无效 (invalid access token)", status=200)
    return user
