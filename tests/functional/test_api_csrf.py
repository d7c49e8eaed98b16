"""``/api`` from a browser: the session cookie's attributes, the CSRF token on cookie-authenticated calls that
change state, and the refusal of state-changing calls a browser marks as cross-site."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import open_backend
from tests.functional.conftest import Api, make_config, start_api

PASSWORD = "password123"
REFUSED = "CSRF token missing or wrong"


async def session_of(api: Api, username: str, password: str = PASSWORD) -> tuple[str, str]:
    """Log in through /api; return (session cookie value, the CSRF token a page gives that session)."""
    api.client.session.cookie_jar.clear()
    resp = await api.client.post("/api/user/login", json={"username": username, "password": password})
    assert (await resp.json())["success"] is True
    value = resp.cookies["session"].value
    page = await (await api.client.get("/dashboard")).text()
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page)
    assert match
    api.client.session.cookie_jar.clear()
    return value, match.group(1)


def headers(session: str, token: str | None = None, **extra: str) -> dict[str, str]:
    out = {"Cookie": f"session={session}", **extra}
    if token is not None:
        out["X-CSRF-Token"] = token
    return out


async def display_name(api: Api, user_id: int) -> str:
    return str((await api.ok("GET", f"/api/user/{user_id}"))["display_name"])


async def test_session_cookie_is_httponly_lax_and_secure_only_behind_https(api: Api) -> None:
    resp = await api.client.post("/api/user/login", json={"username": "root", "password": "123456"})
    morsel = resp.cookies["session"]
    assert morsel["httponly"] and morsel["samesite"] == "Lax" and not morsel["secure"]
    # X-Forwarded-Proto from a trusted proxy (the test client is loopback, trusted by default)
    resp = await api.client.post("/api/user/login", json={"username": "root", "password": "123456"},
                                 headers={"X-Forwarded-Proto": "https"})
    assert resp.cookies["session"]["secure"]
    resp = await api.client.post("/api/user/login", json={"username": "root", "password": "123456"},
                                 headers={"X-Forwarded-Proto": "http"})
    assert not resp.cookies["session"]["secure"]


@pytest.fixture
async def untrusted(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Api]:
    async for a in start_api(open_backend("sqlite", tmp_path), make_config(TRUSTED_PROXIES="10.0.0.0/8"),
                             aiohttp_client):
        yield a


async def test_forwarded_proto_from_an_untrusted_peer_is_ignored(untrusted: Api) -> None:
    resp = await untrusted.client.post("/api/user/login", json={"username": "root", "password": "123456"},
                                       headers={"X-Forwarded-Proto": "https"})
    assert (await resp.json())["success"] is True and not resp.cookies["session"]["secure"]


async def test_cookie_authenticated_changes_need_the_token(api: Api) -> None:
    uid, _ = await api.make_user("alice")
    session, token = await session_of(api, "alice")
    for bad in (None, "", "0" * 64, token[:-1] + ("0" if token[-1] != "0" else "1"), "令牌"):
        resp = await api.client.put("/api/user/self", json={"display_name": "forged"}, headers=headers(session, bad))
        assert resp.status == 403, bad
        body = await resp.json()
        assert body["success"] is False and REFUSED in body["message"]
    assert await display_name(api, uid) == "alice"
    resp = await api.client.put("/api/user/self", json={"display_name": "Alice"}, headers=headers(session, token))
    assert (await resp.json())["success"] is True
    assert await display_name(api, uid) == "Alice"


async def test_reads_need_no_token(api: Api) -> None:
    await api.make_user("alice")
    session, _ = await session_of(api, "alice")
    resp = await api.client.get("/api/user/self", headers=headers(session))
    assert (await resp.json())["data"]["username"] == "alice"


async def test_regenerating_the_access_token_by_get_needs_the_token(api: Api) -> None:
    uid, old = await api.make_user("alice")
    session, token = await session_of(api, "alice")
    resp = await api.client.get("/api/user/token", headers=headers(session))
    assert resp.status == 403
    assert (await api.ok("GET", "/api/user/self", token=old))["id"] == uid  # the old token still works
    resp = await api.client.get("/api/user/token", headers=headers(session, token))
    new = (await resp.json())["data"]
    assert new and new != old


async def test_a_token_is_bound_to_its_session(api: Api) -> None:
    alice, _ = await api.make_user("alice")
    await api.make_user("bob")
    _, alice_token = await session_of(api, "alice")
    bob_session, _ = await session_of(api, "bob")
    resp = await api.client.put("/api/user/self", json={"display_name": "x"}, headers=headers(bob_session, alice_token))
    assert resp.status == 403
    # a new login of the same user is a new session: the old page's token no longer counts
    alice_again, _ = await session_of(api, "alice")
    resp = await api.client.put("/api/user/self", json={"display_name": "x"},
                                headers=headers(alice_again, alice_token))
    assert resp.status == 403 and await display_name(api, alice) == "alice"


async def test_access_token_callers_need_no_csrf_token(api: Api) -> None:
    uid, access = await api.make_user("alice")
    await api.ok("PUT", "/api/user/self", token=access, json={"display_name": "Script"})
    assert await display_name(api, uid) == "Script"


@pytest.mark.parametrize("browser_headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
])
async def test_cross_site_state_changes_are_refused(api: Api, browser_headers: dict[str, str]) -> None:
    uid, access = await api.make_user("alice")
    resp = await api.client.post("/api/user/login", json={"username": "alice", "password": PASSWORD},
                                 headers=browser_headers)
    assert resp.status == 403 and "session" not in resp.cookies
    assert "cross-site" in (await resp.json())["message"]
    resp = await api.client.post("/api/user/register", json={"username": "mallory", "password": PASSWORD},
                                 headers=browser_headers)
    assert resp.status == 403
    # even with an access token: a browser on another site is not a script
    resp = await api.client.put("/api/user/self", json={"display_name": "x"},
                                headers={"Authorization": access, **browser_headers})
    assert resp.status == 403 and await display_name(api, uid) == "alice"


async def test_same_origin_browser_requests_pass(api: Api) -> None:
    await api.make_user("alice")
    host = f"{api.client.server.host}:{api.client.server.port}"
    for browser_headers in ({"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                            {"Origin": f"http://{host}"}):
        resp = await api.client.post("/api/user/login", json={"username": "alice", "password": PASSWORD},
                                     headers=browser_headers)
        assert (await resp.json())["success"] is True, browser_headers
    # cross-site reads stay allowed (the same-origin policy keeps their answers from the other site)
    resp = await api.client.get("/api/status", headers={"Sec-Fetch-Site": "cross-site"})
    assert (await resp.json())["success"] is True


async def test_login_needs_no_token_even_with_a_session_cookie(api: Api) -> None:
    await api.make_user("alice")
    session, _ = await session_of(api, "alice")
    resp = await api.client.post("/api/user/login", json={"username": "root", "password": "123456"},
                                 headers=headers(session))
    assert (await resp.json())["success"] is True
