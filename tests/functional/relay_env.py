"""A real oneapi server with the relay on a loopback port, fake upstreams, and the official openai SDK."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from aiohttp.test_utils import TestServer

from oneapi.config import Config
from oneapi.proxy.state import Relay
from oneapi.server import make_app, make_relay
from oneapi.services import Services, start_services
from oneapi.store.database import Database
from oneapi.store.facade import Store
from oneapi.store.migrations import migrate_database
from oneapi.store.queries import logs as log_q
from oneapi.store.queries import tokens as token_q
from oneapi.store.queries import users as user_q
from tests.conftest import own_home
from tests.fakes.openai_upstream import FakeOpenAI, start_fake
from tests.functional.app_server import AppTestServer

ROOT_KEY = "rootrelaykey000000000000000000000000000000000000"[:48]
ROOT_ACCESS = "root-access-token-0123456789abcd"


@dataclass
class RelayEnv:
    services: Services
    relay: Relay
    server: TestServer
    base_url: str
    stops: list[Any] = field(default_factory=list)

    @property
    def root_key(self) -> str:
        return "sk-" + ROOT_KEY

    def client(self, key: str | None = None, **kw: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url + "/v1", api_key=key or self.root_key, max_retries=0,
                                  **kw)

    def sync_client(self, key: str | None = None, **kw: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url + "/v1", api_key=key or self.root_key, max_retries=0, **kw)

    async def fake(self, **kw: Any) -> tuple[FakeOpenAI, str]:
        fake = FakeOpenAI(**kw)
        url, stop = await start_fake(fake)
        self.stops.append(stop)
        return fake, url

    async def add_channel(self, base_url: str, *, models: str = "gpt-4o-mini,gpt-4o,text-embedding-3-small",
                          type: int = 1, key: str = "upstream-key", **fields: Any) -> int:
        ids = await self.services.channels.create({"type": type, "key": key, "name": fields.pop("name", "fake"),
                                                   "base_url": base_url, "models": models, **fields})
        return ids[0]

    async def flush(self) -> None:
        await self.services.ledger.flush()

    async def user_row(self, user_id: int = 1) -> dict[str, Any]:
        await self.flush()
        row = await self.services.store.read(user_q.get, user_id)
        assert row is not None
        return row

    async def token_row(self, key: str = ROOT_KEY) -> dict[str, Any]:
        await self.flush()
        row = await self.services.store.read(token_q.find_by_key, key.removeprefix("sk-"))
        assert row is not None
        return row

    async def consume_logs(self) -> list[dict[str, Any]]:
        await self.flush()
        return await self.services.store.read(log_q.list_page, log_q.LogFilter(log_type=log_q.TYPE_CONSUME), 0,
                                              10_000)

    async def the_consume_log(self) -> dict[str, Any]:
        """The one consume log of a request that ended while the client left: waits for it (up to 5 s), then
        checks that no second one follows."""
        for _ in range(100):
            if await self.consume_logs():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # nothing more arrives: billed once
        (log,) = await self.consume_logs()
        return log

    async def set_option(self, key: str, value: str) -> None:
        await self.services.options.update(key, value)

    async def new_token(self, user_id: int = 1, **fields: Any) -> str:
        token = await self.services.tokens.create(user_id, {"name": fields.pop("name", "t"), **fields})
        return "sk-" + token["key"]


async def start_relay_env(db: Database, config: Config) -> AsyncIterator[RelayEnv]:
    with own_home(config) as home:
        async with contextlib.aclosing(_start_relay_env(db, home)) as envs:  # its cleanup runs before ours
            async for env in envs:
                yield env


async def _start_relay_env(db: Database, config: Config) -> AsyncIterator[RelayEnv]:
    migrate_database(db)
    db.close_connections()
    store = Store(db, read_threads=2)
    services = await start_services(config, store)
    await services.accounts.ensure_root()
    relay = make_relay(config, services)
    await relay.reload_routes()
    app = make_app(services, config, secret="test-secret", relay=relay)
    server = AppTestServer(app, host="127.0.0.1")
    await server.start_server()
    env = RelayEnv(services, relay, server, f"http://127.0.0.1:{server.port}")
    try:
        yield env
    finally:
        await server.close()
        for stop in env.stops:
            await stop()
        await services.close()
        await store.close()


def relay_config(**env: str) -> Config:
    from oneapi.config import load

    return load(None, {"INITIAL_ROOT_TOKEN": ROOT_KEY, "INITIAL_ROOT_ACCESS_TOKEN": ROOT_ACCESS,
                       "GLOBAL_API_RATE_LIMIT": "0", **env})


def sqlite_db(tmp_path: Path) -> Database:
    from tests.conftest import open_backend

    return open_backend("sqlite", tmp_path)
