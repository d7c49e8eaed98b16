"""Sessions end when they should (issue 11, part 5), on every node that shares the database.

Two servers (two nodes: their own stores, ledgers and data directories, one SESSION_SECRET) over one database
on each backend. A browser logs in on one node and is then refused on both after a logout, a password change
(except the browser that changed it), a ban (also once the ban is lifted), an admin's new password, a deletion.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oneapi.api.session import SessionCodec
from oneapi.services.sessions import digest
from oneapi.store.database import Database, open_specs
from oneapi.store.queries import sessions as session_q
from oneapi.store.queries import users as user_q
from tests.conftest import _wipe, open_backend
from tests.functional.conftest import Api, make_config, start_api
from tests.functional.web_client import WebClient

PASSWORD = "password123"
NOT_LOGGED_IN = "未登录"
BANNED = "用户已被封禁"


@dataclass
class Nodes:
    a: Api
    b: Api
    db: Database

    def both(self) -> tuple[Api, Api]:
        return self.a, self.b


@pytest.fixture
async def nodes(backend: str, tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Nodes]:
    db = open_backend(backend, tmp_path)
    second = open_specs(db.spec)  # the other node's own connections to the same database
    config = make_config()
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(contextlib.aclosing(start_api(db, config, aiohttp_client)))
        node_a = await anext(a)
        b = await stack.enter_async_context(contextlib.aclosing(start_api(second, config, aiohttp_client)))
        node_b = await anext(b)
        yield Nodes(node_a, node_b, db)
    second.close_connections()
    _wipe(db)
    db.close_connections()


async def login(node: Api, username: str, password: str = PASSWORD) -> str:
    """The session cookie of a fresh login through /api (a browser of its own: the client's jar keeps none)."""
    resp = await node.client.post("/api/user/login", json={"username": username, "password": password})
    assert (await resp.json())["success"] is True
    node.client.session.cookie_jar.clear()
    return resp.cookies["session"].value


def cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"session={value}"}


async def is_in(node: Api, value: str) -> bool:
    """Whether the cookie is a live session on this node; a refused one must be a 401 that clears it."""
    resp = await node.client.get("/api/user/self", headers=cookie(value))
    body = await resp.json()
    if resp.status == 200 and body["success"]:
        return True
    # not logged in (401), or, when a ban or a deletion ended the session, One API's "user banned" (200)
    expected = {401: NOT_LOGGED_IN, 200: BANNED}
    assert resp.status in expected and expected[resp.status] in body["message"], body
    assert resp.cookies["session"].value == ""
    return False


def jar_session(node: Api) -> str:
    return node.client.session.cookie_jar.filter_cookies(node.client.make_url("/"))["session"].value


async def csrf_for(node: Api, value: str) -> dict[str, str]:
    """What a page of ours gives this browser to send with state-changing calls."""
    page = await (await node.client.get("/", headers=cookie(value))).text()
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page)
    assert match
    return {**cookie(value), "X-CSRF-Token": match.group(1)}


async def test_a_login_counts_on_every_node_and_a_logout_ends_it_everywhere(nodes: Nodes) -> None:
    await nodes.a.make_user("alice")
    value = await login(nodes.a, "alice")
    assert await is_in(nodes.a, value) and await is_in(nodes.b, value)
    other = await login(nodes.b, "alice")  # a second browser
    resp = await nodes.b.client.get("/api/user/logout", headers=cookie(value))
    assert (await resp.json())["success"] is True and resp.cookies["session"].value == ""
    assert not await is_in(nodes.a, value) and not await is_in(nodes.b, value)
    assert await is_in(nodes.a, other)  # the other browser's session is its own


async def test_a_password_change_ends_every_other_session(nodes: Nodes) -> None:
    await nodes.a.make_user("alice")
    changer, elsewhere, third = (await login(nodes.a, "alice"), await login(nodes.b, "alice"),
                                 await login(nodes.a, "alice"))
    resp = await nodes.b.client.put("/api/user/self", json={"password": "a-new-password"},
                                    headers=await csrf_for(nodes.b, changer))
    assert (await resp.json())["success"] is True
    for node in nodes.both():
        assert await is_in(node, changer)  # the browser that changed it stays in
        assert not await is_in(node, elsewhere) and not await is_in(node, third)
    assert await is_in(nodes.a, await login(nodes.a, "alice", "a-new-password"))


async def test_a_password_change_by_access_token_ends_every_session(nodes: Nodes) -> None:
    _, token = await nodes.a.make_user("alice")
    value = await login(nodes.a, "alice")
    await nodes.b.ok("PUT", "/api/user/self", token=token, json={"password": "a-new-password"})
    assert not await is_in(nodes.a, value)


async def test_a_ban_ends_every_session_and_lifting_it_does_not_bring_them_back(nodes: Nodes) -> None:
    await nodes.a.make_user("alice")
    value = await login(nodes.a, "alice")
    await nodes.b.ok("POST", "/api/user/manage", json={"username": "alice", "action": "disable"})
    assert not await is_in(nodes.a, value) and not await is_in(nodes.b, value)
    await nodes.b.ok("POST", "/api/user/manage", json={"username": "alice", "action": "enable"})
    assert not await is_in(nodes.a, value)
    assert await is_in(nodes.a, await login(nodes.a, "alice"))


async def test_an_admins_new_password_and_a_deletion_end_every_session(nodes: Nodes) -> None:
    alice, _ = await nodes.a.make_user("alice")
    bob, _ = await nodes.a.make_user("bob")
    alices, bobs = await login(nodes.a, "alice"), await login(nodes.b, "bob")
    await nodes.b.ok("PUT", "/api/user/", json={"id": alice, "password": "set-by-the-admin"})
    await nodes.a.ok("DELETE", f"/api/user/{bob}")
    for node in nodes.both():
        assert not await is_in(node, alices) and not await is_in(node, bobs)


async def test_the_web_pages_end_sessions_too(nodes: Nodes) -> None:
    await nodes.a.make_user("alice")
    browser = WebClient(nodes.a.client)
    await browser.login("alice", PASSWORD)
    value = jar_session(nodes.a)
    assert await is_in(nodes.b, value)
    await browser.post("/logout", {})
    assert not await is_in(nodes.b, value)

    await browser.login("alice", PASSWORD)
    kept = jar_session(nodes.a)
    other = await login(nodes.b, "alice")
    await browser.get("/setting")
    await browser.post("/setting/password", {"current": PASSWORD, "password": "a-new-password",
                                             "password2": "a-new-password"})
    assert await is_in(nodes.b, kept) and not await is_in(nodes.b, other)


async def test_a_cookie_without_a_live_session_is_refused(nodes: Nodes) -> None:
    """A well-signed cookie from before server-side sessions (no sid), one whose sid never existed, and one
    whose session expired: all refused."""
    alice, _ = await nodes.a.make_user("alice")
    codec = SessionCodec("test-secret")
    base = {"id": alice, "username": "alice", "display_name": "alice", "role": 1, "status": 1}
    for data in (base, {**base, "sid": "never-issued-sid"}, {**base, "sid": 7}):
        assert not await is_in(nodes.a, codec.encode(data))
    value = await login(nodes.a, "alice")
    sid = codec.decode(value)["sid"]  # type: ignore[index]
    nodes.db.main.connect(reuse_if_open=True)
    table = nodes.db.tables.session
    table.update(expires_at=int(time.time()) - 1).where(table.digest == digest(sid)).execute()
    assert not await is_in(nodes.b, value)
    # the sid, which alone would let a copy of the table in, is not what the table keeps
    assert sid not in str(list(nodes.db.tables.session.select().dicts()))


async def test_expired_rows_are_purged_and_reset_by_email_ends_sessions(nodes: Nodes) -> None:
    alice, _ = await nodes.a.make_user("alice")
    await nodes.a.ok("PUT", "/api/user/", json={"id": alice, "email": "alice@example.com"})
    value = await login(nodes.a, "alice")
    now = int(time.time())
    db = nodes.db
    db.main.connect(reuse_if_open=True)
    session_q.create(db, "0" * 64, alice, now - 100, now - 1)  # expired long ago
    assert session_q.end_expired(db, now) == 1
    assert session_q.count_for_user(db, alice) == 1
    assert user_q.set_password_by_email(db, "ALICE@example.com", "$2b$10$" + "x" * 53) == 1
    assert session_q.count_for_user(db, alice) == 0
    assert not await is_in(nodes.b, value)
