"""How ``/api`` knows who is calling (SPEC 2.1) and how it answers what it cannot serve.

Covers the access token and session cookie paths, bans and roles taking effect at once, the request id
header, unknown routes, bodies that are not what a route expects, and the per-IP rate limits (SPEC 2).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from oneapi.api.session import SessionCodec
from tests.conftest import open_backend
from tests.functional.conftest import Api, make_config, start_api

NO_CREDENTIALS = "未登录且未提供 access token"
BAD_TOKEN = "access token 无效"
BANNED = "用户已被封禁"
TOO_LOW = "权限不足"
PASSWORD = "password123"


async def login_cookie(api: Api, username: str, password: str = PASSWORD) -> str:
    """Log in; return the session cookie's value and empty the client's jar, so callers choose what to send."""
    resp = await api.client.post("/api/user/login", json={"username": username, "password": password})
    body = await resp.json()
    assert body["success"] is True, body
    value = resp.cookies["session"].value
    api.client.session.cookie_jar.clear()
    return value


def cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"session={value}"}


async def limited(tmp_path: Path, aiohttp_client: Any, **env: str) -> AsyncIterator[Api]:
    async for a in start_api(open_backend("sqlite", tmp_path), make_config(**env), aiohttp_client):
        yield a


@pytest.fixture
async def api_limit5(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Api]:
    async for a in limited(tmp_path, aiohttp_client, GLOBAL_API_RATE_LIMIT="5"):
        yield a


@pytest.fixture
async def api_limit5_untrusted(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Api]:
    """Only 10.0.0.0/8 is a trusted proxy: the test client's 127.0.0.1 is an ordinary client."""
    async for a in limited(tmp_path, aiohttp_client, GLOBAL_API_RATE_LIMIT="5", TRUSTED_PROXIES="10.0.0.0/8"):
        yield a


@pytest.fixture
async def api_web_limit2(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Api]:
    async for a in limited(tmp_path, aiohttp_client, GLOBAL_WEB_RATE_LIMIT="2", GLOBAL_API_RATE_LIMIT="0"):
        yield a


# -- access tokens ----------------------------------------------------------------------------------


async def test_no_credentials_is_http_401_envelope(api: Api) -> None:
    for method, path in [
        ("GET", "/api/user/self"), ("GET", "/api/user/"), ("GET", "/api/option/"), ("GET", "/api/models"),
        ("GET", "/api/group/"), ("POST", "/api/topup"), ("PUT", "/api/user/self"), ("GET", "/api/user/dashboard"),
    ]:
        body = await api.call(method, path, json={}, expect_status=401)
        assert body["success"] is False
        assert NO_CREDENTIALS in body["message"], path


async def test_empty_authorization_header_counts_as_none(api: Api) -> None:
    await api.fail("GET", "/api/user/self", token="   ", contains=NO_CREDENTIALS, status=401)


async def test_bad_access_token_is_200_failure(api: Api) -> None:
    for bad in ("0123456789abcdef0123456789abcdef", "nope", "x" * 500, "Bearer nope"):
        await api.fail("GET", "/api/user/self", token=bad, contains=BAD_TOKEN)


async def test_access_token_and_bearer_prefix_accepted(api: Api) -> None:
    plain = await api.ok("GET", "/api/user/self", token=api.root_token)
    bearer = await api.ok("GET", "/api/user/self", token=f"Bearer {api.root_token}")
    assert plain["username"] == bearer["username"] == "root"
    assert plain["role"] == 100


async def test_access_token_identifies_its_own_user(api: Api) -> None:
    uid, token = await api.make_user("alice")
    me = await api.ok("GET", "/api/user/self", token=token)
    assert me["id"] == uid and me["username"] == "alice" and me["role"] == 1


# -- session cookie -------------------------------------------------------------------------------


async def test_login_sets_cookie_that_authenticates(api: Api) -> None:
    resp = await api.client.post("/api/user/login", json={"username": "root", "password": "123456"})
    assert resp.status == 200
    morsel = resp.cookies["session"]
    assert morsel["httponly"] and morsel["path"] == "/"
    me = await api.call("GET", "/api/user/self")  # the jar sends the cookie; no Authorization header
    assert me["success"] is True and me["data"]["username"] == "root"


async def test_cookie_takes_precedence_over_header(api: Api) -> None:
    await api.make_user("alice")
    value = await login_cookie(api, "alice")
    me = await api.call("GET", "/api/user/self", headers={**cookie(value), "Authorization": api.root_token})
    assert me["data"]["username"] == "alice"


async def test_logout_clears_the_session(api: Api) -> None:
    await api.client.post("/api/user/login", json={"username": "root", "password": "123456"})
    assert (await api.call("GET", "/api/user/self"))["success"] is True
    resp = await api.client.get("/api/user/logout")
    body = await resp.json()
    assert body["success"] is True
    assert resp.cookies["session"].value == ""  # an expired, empty cookie replaces it
    assert NO_CREDENTIALS in (await api.call("GET", "/api/user/self", expect_status=401))["message"]


async def test_logout_without_session_is_harmless(api: Api) -> None:
    body = await api.call("GET", "/api/user/logout")
    assert body["success"] is True


def _forge(value: str, **changes: Any) -> str:
    """The cookie's payload rewritten (e.g. to root's id), keeping the original signature."""
    payload, _, signature = value.partition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{forged}.{signature}"


async def test_tampered_or_forged_cookie_is_ignored(api: Api) -> None:
    _, token = await api.make_user("alice")
    value = await login_cookie(api, "alice")
    assert (await api.call("GET", "/api/user/self", headers=cookie(value)))["data"]["username"] == "alice"
    other_secret = SessionCodec("not-the-server-secret").encode({"id": 1, "username": "root", "role": 100,
                                                                 "status": 1})
    for bad in (_forge(value, id=1, role=100), other_secret, value[:-2] + "AA", "garbage", "a.b", "."):
        # falls back to the header: none → 401; alice's token → alice, never root
        assert NO_CREDENTIALS in (await api.call("GET", "/api/user/self", expect_status=401))["message"]
        resp = await api.client.get("/api/user/self", headers=cookie(bad))
        assert resp.status == 401 and NO_CREDENTIALS in (await resp.json())["message"]
        assert resp.cookies["session"].value == ""  # the unusable cookie is cleared
        me = await api.call("GET", "/api/user/self", headers={**cookie(bad), "Authorization": token})
        assert me["data"]["username"] == "alice"
        await api.fail("GET", "/api/option/", token=token, contains=TOO_LOW)


async def raw_get(api: Api, path: str, header: str) -> bytes:
    """A request with a header the aiohttp client would refuse to send (raw UTF-8)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.client.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n{header}\r\nConnection: close\r\n\r\n".encode())
    response = await reader.read()
    writer.close()
    return response


async def test_non_ascii_credentials_are_refused_not_500(api: Api) -> None:
    response = await raw_get(api, "/api/user/self", "Cookie: session=é.é")
    assert response.startswith(b"HTTP/1.1 401"), response[:200]
    assert NO_CREDENTIALS.encode() in response
    response = await raw_get(api, "/api/user/self", "Authorization: Bearer 令牌é")
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert BAD_TOKEN.encode() in response


async def test_failed_login_keeps_the_current_session(api: Api) -> None:
    await api.make_user("alice")
    value = await login_cookie(api, "alice")
    resp = await api.client.post("/api/user/login", json={"username": "root", "password": "wrong-password"},
                                 headers=cookie(value))
    assert (await resp.json())["success"] is False
    assert "session" not in resp.cookies
    assert (await api.call("GET", "/api/user/self", headers=cookie(value)))["data"]["username"] == "alice"


async def test_cookie_of_deleted_user_is_refused(api: Api) -> None:
    uid, _ = await api.make_user("alice")
    value = await login_cookie(api, "alice")
    await api.ok("DELETE", f"/api/user/{uid}")
    body = await api.call("GET", "/api/user/self", headers=cookie(value))
    assert body["success"] is False and BANNED in body["message"]


# -- bans and roles take effect at once -----------------------------------------------------------


async def test_disabled_user_refused_at_once_with_cookie_and_token(api: Api) -> None:
    _, token = await api.make_user("alice")
    value = await login_cookie(api, "alice")
    await api.ok("POST", "/api/user/manage", json={"username": "alice", "action": "disable"})
    resp = await api.client.get("/api/user/self", headers=cookie(value))
    body = await resp.json()
    assert resp.status == 200 and body["success"] is False and BANNED in body["message"]
    assert resp.cookies["session"].value == ""  # SPEC 2.1: the session is cleared
    await api.fail("GET", "/api/user/self", token=token, contains=BANNED)
    await api.fail("GET", "/api/user/aff", token=token, contains=BANNED)
    login = await api.call("POST", "/api/user/login", json={"username": "alice", "password": PASSWORD})
    assert login["success"] is False and "用户名或密码错误" in login["message"]
    await api.ok("POST", "/api/user/manage", json={"username": "alice", "action": "enable"})
    assert (await api.ok("GET", "/api/user/self", token=token))["username"] == "alice"
    # the ban ended the session (issue 11): lifting it does not bring it back, the browser logs in again
    await api.call("GET", "/api/user/self", headers=cookie(value), expect_status=401)
    again = await login_cookie(api, "alice")
    assert (await api.call("GET", "/api/user/self", headers=cookie(again)))["success"] is True


async def test_role_change_counts_at_once_despite_cookie(api: Api) -> None:
    await api.make_user("adm", role=10)
    value = await login_cookie(api, "adm")
    assert (await api.call("GET", "/api/user/", headers=cookie(value)))["success"] is True
    await api.ok("POST", "/api/user/manage", json={"username": "adm", "action": "demote"})
    body = await api.call("GET", "/api/user/", headers=cookie(value))
    assert body["success"] is False and TOO_LOW in body["message"]


async def test_role_too_low(api: Api) -> None:
    _, common = await api.make_user("alice")
    _, admin = await api.make_user("adm", role=10)
    await api.fail("GET", "/api/user/", token=common, contains=TOO_LOW)
    await api.fail("GET", "/api/group/", token=common, contains=TOO_LOW)
    await api.fail("GET", "/api/option/", token=admin, contains=TOO_LOW)
    await api.fail("PUT", "/api/option/", token=admin, json={"key": "Notice", "value": "x"}, contains=TOO_LOW)
    assert await api.ok("GET", "/api/user/", token=admin)


# -- request ids, unknown routes ------------------------------------------------------------------


async def test_request_id_on_every_response(api: Api) -> None:
    seen = set()
    for method, path, headers, status in [
        ("GET", "/api/status", {}, 200), ("GET", "/api/user/self", {}, 401),
        ("GET", "/api/user/self", {"Authorization": "bad"}, 200), ("GET", "/api/nope", {}, 404),
        ("GET", "/", {}, 200), ("PUT", "/api/user/self", {"Authorization": api.root_token}, 200),
    ]:
        resp = await api.client.request(method, path, headers=headers, data=b"{")
        assert resp.status == status
        rid = resp.headers["X-Oneapi-Request-Id"]
        assert re.fullmatch(r"\d{20,}", rid), rid
        assert rid.startswith(("19", "20", "21"))  # yyyyMMddHHmmss first
        seen.add(rid)
    assert len(seen) == 6


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/nope"), ("POST", "/api/nope/deeper"), ("GET", "/api/user/self/extra"), ("GET", "/api"),
])
async def test_unknown_api_path_is_openai_style_404(api: Api, method: str, path: str) -> None:
    body = await api.call(method, path, token=api.root_token, expect_status=404)
    assert body == {"error": {"message": f"Invalid URL ({method} {path})", "type": "invalid_request_error",
                              "param": "", "code": ""}}


async def test_unknown_api_path_needs_no_auth_to_be_404(api: Api) -> None:
    body = await api.call("GET", "/api/nope", expect_status=404)
    assert body["error"]["message"] == "Invalid URL (GET /api/nope)"


async def test_wrong_method_on_known_path(api: Api) -> None:
    body = await api.call("PATCH", "/api/user/self", token=api.root_token, expect_status=405)
    assert body["error"]["message"] == "Invalid URL (PATCH /api/user/self)"
    assert body["error"]["type"] == "invalid_request_error"


# -- bodies ---------------------------------------------------------------------------------------

JSON_ROUTES = [("PUT", "/api/user/self"), ("POST", "/api/user/"), ("PUT", "/api/user/"),
               ("POST", "/api/user/manage"), ("POST", "/api/user/topup"), ("POST", "/api/topup"),
               ("PUT", "/api/option/"), ("POST", "/api/user/register"), ("POST", "/api/user/login")]


async def test_bad_bodies_get_clear_messages(api: Api) -> None:
    cases = [(b"not json", "not valid JSON"), (b"", "body is empty"), (b"  \n", "body is empty"),
             (b"\xff\xfe{", "not valid JSON"), (b"[1, 2]", "must be a JSON object"),
             (b"null", "must be a JSON object"), (b'"text"', "must be a JSON object"),
             (b"42", "must be a JSON object"), (b"{\"a\": 1", "not valid JSON")]
    for method, path in JSON_ROUTES:  # 2 critical routes x 9 cases: within the limit of 20
        for data, message in cases:
            await api.fail(method, path, data=data, contains=message)


async def test_deeply_nested_json_is_refused_not_500(api: Api) -> None:
    await api.fail("PUT", "/api/user/self", data=b"[" * 100_000 + b"]" * 100_000, contains="JSON")
    await api.fail("POST", "/api/user/login", data=b'{"a":' * 50_000 + b"1" + b"}" * 50_000, contains="JSON")


async def test_oversized_body_is_413(api: Api) -> None:
    data = b'{"display_name": "' + b"a" * (40 * 1024 * 1024) + b'"}'
    body = await api.call("PUT", "/api/user/self", token=api.root_token, data=data, expect_status=413)
    assert body["success"] is False and "too large" in body["message"]
    me = await api.ok("GET", "/api/user/self")
    assert me["display_name"] == "Root User"


# -- rate limits ----------------------------------------------------------------------------------


async def test_global_api_rate_limit_is_429(api_limit5: Api) -> None:
    api = api_limit5
    for _ in range(5):
        await api.ok("GET", "/api/status")
    resp = await api.client.get("/api/status")
    assert resp.status == 429
    assert "X-Oneapi-Request-Id" in resp.headers
    # every /api path counts and is refused, authenticated or not, known or not
    assert (await api.client.get("/api/user/self", headers={"Authorization": api.root_token})).status == 429
    assert (await api.client.get("/api/nope")).status == 429
    # web pages have their own budget
    assert (await api.client.get("/")).status == 200


async def test_rate_limit_is_per_client_ip_behind_trusted_proxy(api_limit5: Api) -> None:
    """127.0.0.1 (the test client) is a trusted proxy by default: X-Forwarded-For names the client."""
    api = api_limit5
    for _ in range(5):
        await api.ok("GET", "/api/status")
    assert (await api.client.get("/api/status")).status == 429
    other = {"X-Forwarded-For": "203.0.113.9"}
    for _ in range(5):
        assert (await api.client.get("/api/status", headers=other)).status == 200
    assert (await api.client.get("/api/status", headers=other)).status == 429
    assert (await api.client.get("/api/status", headers={"X-Forwarded-For": "203.0.113.10"})).status == 200


async def test_forwarded_for_from_untrusted_peer_is_ignored(api_limit5_untrusted: Api) -> None:
    api = api_limit5_untrusted
    for i in range(5):
        resp = await api.client.get("/api/status", headers={"X-Forwarded-For": f"198.51.100.{i}"})
        assert resp.status == 200
    resp = await api.client.get("/api/status", headers={"X-Forwarded-For": "198.51.100.77"})
    assert resp.status == 429


async def test_global_web_rate_limit(api_web_limit2: Api) -> None:
    api = api_web_limit2
    assert (await api.client.get("/")).status == 200
    assert (await api.client.get("/")).status == 200
    resp = await api.client.get("/")
    assert resp.status == 429 and "X-Oneapi-Request-Id" in resp.headers
    for _ in range(10):  # GLOBAL_API_RATE_LIMIT=0: /api unlimited
        await api.ok("GET", "/api/status")


async def test_login_critical_limit_20_per_20_minutes(api: Api) -> None:
    for i in range(20):
        path = "/api/user/login" if i % 2 else "/api/user/login/"
        body = await api.call("POST", path, json={"username": "nobody", "password": "wrong-password"})
        assert body["success"] is False
    resp = await api.client.post("/api/user/login", json={"username": "root", "password": "123456"})
    assert resp.status == 429
    assert "session" not in resp.cookies
    resp = await api.client.post("/api/user/register", json={"username": "bob", "password": PASSWORD})
    assert resp.status == 429  # register shares the critical budget
    assert (await api.call("GET", "/api/user/self", token=api.root_token))["success"] is True  # others unaffected
