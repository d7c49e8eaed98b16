"""A real oneapi HTTP server on a loopback port over a fresh database, and helpers to call ``/api``.

``api`` runs on SQLite; ``api_any`` runs on every configured backend (SQLite, MariaDB, PostgreSQL).
Callers authenticate with access tokens (``Authorization: <token>``), as scripts do; the session-cookie
path has tests of its own.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from oneapi.config import Config, load
from oneapi.server import make_app
from oneapi.services import Services, start_services
from oneapi.store.database import Database
from oneapi.store.facade import Store
from tests.conftest import open_backend, own_home
from tests.functional.app_server import AppTestServer


@dataclass
class Api:
    """A running server plus the root user's access token."""

    client: TestClient
    services: Services
    root_token: str
    tokens: dict[str, str] = field(default_factory=dict)

    async def call(self, method: str, path: str, token: str | None = None, json: Any = None,
                   data: bytes | str | None = None, headers: dict[str, str] | None = None,
                   expect_status: int | None = 200) -> Any:
        """Send a request; return the decoded JSON envelope. Checks the HTTP status unless None."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = token
        resp = await self.client.request(method, path, json=json, data=data, headers=hdrs)
        if expect_status is not None:
            assert resp.status == expect_status, (resp.status, await resp.text())
        assert "X-Oneapi-Request-Id" in resp.headers
        if resp.content_type == "application/json":
            return await resp.json()
        return await resp.text()

    async def ok(self, method: str, path: str, token: str | None = None, json: Any = None) -> Any:
        """Call and require success; return ``data``."""
        body = await self.call(method, path, token if token is not None else self.root_token, json=json)
        assert body["success"] is True, body
        return body.get("data")

    async def fail(self, method: str, path: str, token: str | None = None, json: Any = None,
                   data: bytes | str | None = None, contains: str = "", status: int = 200) -> str:
        """Call and require the failure envelope; return its message."""
        body = await self.call(method, path, token if token is not None else self.root_token, json=json,
                               data=data, expect_status=status)
        assert body["success"] is False, body
        assert contains.lower() in body["message"].lower(), body["message"]
        return str(body["message"])

    async def make_user(self, username: str, role: int = 1, password: str = "password123") -> tuple[int, str]:
        """Create a user (as root), promote to ``role``, and return (id, access token)."""
        await self.ok("POST", "/api/user/", json={"username": username, "password": password})
        if role >= 10:
            await self.ok("POST", "/api/user/manage", json={"username": username, "action": "promote"})
        user = await self.services.store.read(_find_user, username)
        token = await self.services.accounts.regenerate_access_token(user["id"])
        self.tokens[username] = token
        return int(user["id"]), token


async def csrf_header(client: TestClient) -> dict[str, str]:
    """The X-CSRF-Token header a browser page would send with the client's current cookies: read, as the pages'
    own scripts would, from the ``<meta name="csrf-token">`` of a page."""
    page = await (await client.get("/")).text()
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page)
    assert match, page[:500]
    return {"X-CSRF-Token": match.group(1)}


def _find_user(db: Database, username: str) -> dict[str, Any]:
    from oneapi.store.queries import users

    row = users.find_by_username(db, username)
    assert row is not None
    return row


async def start_api(db: Database, config: Config, aiohttp_client: Any) -> AsyncIterator[Api]:
    with own_home(config) as home:
        async with contextlib.aclosing(_start_api(db, home, aiohttp_client)) as apis:  # its cleanup runs first
            async for api in apis:
                yield api


async def _start_api(db: Database, config: Config, aiohttp_client: Any) -> AsyncIterator[Api]:
    from oneapi.store.migrations import migrate_database

    migrate_database(db)
    db.close_connections()
    store = Store(db, read_threads=2)
    services = await start_services(config, store)
    await services.accounts.ensure_root()
    root = await services.store.read(_find_user, "root")
    app = make_app(services, config, secret="test-secret")
    client = await aiohttp_client(AppTestServer(app))
    try:
        yield Api(client, services, root["access_token"])
    finally:
        await client.close()
        await store.close()


def make_config(**env: str) -> Config:
    base = {"INITIAL_ROOT_ACCESS_TOKEN": "root-access-token-0123456789abcd"}
    return load(None, {**base, **env})


@pytest.fixture
async def api(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Api]:
    async for a in start_api(open_backend("sqlite", tmp_path), make_config(), aiohttp_client):
        yield a


@pytest.fixture
async def api_any(backend: str, tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Api]:
    from tests.conftest import _wipe

    db = open_backend(backend, tmp_path)
    async for a in start_api(db, make_config(), aiohttp_client):
        yield a
    _wipe(db)
    db.close_connections()


@pytest.fixture
async def relay_env(tmp_path: Path) -> AsyncIterator[Any]:
    """oneapi with the relay on SQLite; add fakes and channels with ``relay_env.fake()`` / ``add_channel``."""
    from tests.functional.relay_env import relay_config, sqlite_db, start_relay_env

    async for env in start_relay_env(sqlite_db(tmp_path), relay_config()):
        yield env


@pytest.fixture
async def relay_any(backend: str, tmp_path: Path) -> AsyncIterator[Any]:
    """``relay_env`` on every configured backend (SQLite, MariaDB, PostgreSQL)."""
    from tests.conftest import _wipe
    from tests.functional.relay_env import relay_config, start_relay_env

    db = open_backend(backend, tmp_path)
    async for env in start_relay_env(db, relay_config()):
        yield env
    _wipe(db)
    db.close_connections()


@pytest.fixture
async def admin_env(tmp_path: Path) -> AsyncIterator[Any]:
    """relay_env plus the admin API on a temporary Unix socket (``admin_env.socket``)."""
    from tests.functional.admin_env import start_admin_env

    async for env in start_admin_env(tmp_path):
        yield env
