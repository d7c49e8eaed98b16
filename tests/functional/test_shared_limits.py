"""Rate limits across nodes (issue 14): two servers (their own stores, ledgers, links and HTTP listeners) over
one database and one Redis let through at most each limit in total; with Redis stopped they go on serving under
per-node limits, never answering 500, and count together again once it is back.

In-process, on a private ``redis-server`` that the tests stop and start (``redis_server``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from oneapi.store.database import open_specs
from tests.conftest import RedisServer, _wipe, open_backend
from tests.functional.relay_env import RelayEnv, relay_config, start_relay_env

MINI = "gpt-4o-mini"


@contextlib.asynccontextmanager
async def two_nodes(backend: str, tmp_path: Path, redis_url: str, **env: str) -> AsyncIterator[tuple[RelayEnv, ...]]:
    db = open_backend(backend, tmp_path)
    other = open_specs(db.spec)
    config = relay_config(REDIS_CONN_STRING=redis_url, **env)
    try:
        async with contextlib.AsyncExitStack() as stack:
            a = await anext(await stack.enter_async_context(contextlib.aclosing(start_relay_env(db, config))))
            b = await anext(await stack.enter_async_context(contextlib.aclosing(start_relay_env(other, config))))
            yield a, b
    finally:
        other.close_connections()
        if backend != "sqlite":
            _wipe(db)
        db.close_connections()


async def statuses(nodes: tuple[RelayEnv, ...], path: str, count: int, method: str = "GET",
                   **kw: Any) -> Counter[int]:
    """``count`` requests, one after the other, alternating between the nodes: how many got each status."""
    got: Counter[int] = Counter()
    async with aiohttp.ClientSession() as http:
        for i in range(count):
            async with http.request(method, nodes[i % len(nodes)].base_url + path, **kw) as resp:
                await resp.read()
                got[resp.status] += 1
    return got


async def until_up(*nodes: RelayEnv) -> None:
    for node in nodes:
        link = node.services.redis
        assert link is not None
        for _ in range(200):
            if link.up:
                break
            await asyncio.sleep(0.05)
        assert link.up, "the link did not find Redis again"


async def test_api_web_and_login_limits_hold_across_nodes(redis_server: RedisServer, tmp_path: Path) -> None:
    async with two_nodes("sqlite", tmp_path, redis_server.url, GLOBAL_API_RATE_LIMIT="40",
                         GLOBAL_WEB_RATE_LIMIT="6") as nodes:
        login = {"json": {"username": "root", "password": "wrong"}}
        # the critical limit: 20 logins per IP whichever node takes them
        assert await statuses(nodes, "/api/user/login", 25, "POST", **login) == {200: 20, 429: 5}
        # those 20 counted in the /api window too: 20 more of 40
        assert await statuses(nodes, "/api/status", 30) == {200: 20, 429: 10}
        assert await statuses(nodes, "/about", 10) == {200: 6, 429: 4}


async def test_without_redis_each_node_limits_alone_and_shares_again_when_it_is_back(
        redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with two_nodes("sqlite", tmp_path, redis_server.url, GLOBAL_API_RATE_LIMIT="10") as nodes:
        assert await statuses(nodes, "/api/status", 30) == {200: 10, 429: 20}
        redis_server.stop()
        with caplog.at_level(logging.ERROR, logger="oneapi.redis"):
            # per node: 10 each, so 20 of 30; nothing fails for want of Redis
            assert await statuses(nodes, "/api/status", 30) == {200: 20, 429: 10}
            assert await statuses(nodes, "/api/status", 4) == {429: 4}
        lost = [r for r in caplog.records if "stopped answering" in r.getMessage()]
        assert len(lost) == 2  # one line per node, not one per request
        redis_server.start()  # empty: Redis kept nothing
        await until_up(*nodes)
        assert await statuses(nodes, "/api/status", 30) == {200: 10, 429: 20}


async def chats(nodes: tuple[RelayEnv, ...], key: str, count: int) -> Counter[str]:
    got: Counter[str] = Counter()
    for i in range(count):
        node = nodes[i % len(nodes)]
        try:
            await node.client(key).chat.completions.create(model=MINI, messages=[{"role": "user", "content": "hi"}])
            got["ok"] += 1
        except openai.RateLimitError as exc:
            assert exc.status_code == 429 and int(exc.response.headers["retry-after"]) >= 1
            got["429"] += 1
        await asyncio.gather(*node.services.token_limits._calls)  # the TPM increment reached Redis
    return got


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
async def test_token_limits_hold_across_nodes_and_per_node_without_redis(
        backend: str, redis_server: RedisServer, tmp_path: Path) -> None:
    async with two_nodes(backend, tmp_path, redis_server.url) as nodes:
        a, b = nodes
        _, url = await a.fake()
        await a.add_channel(url)
        await b.relay.reload_routes()
        rpm = await a.new_token(unlimited_quota=True, rpm_limit=4)
        assert await chats(nodes, rpm, 10) == {"ok": 4, "429": 6}
        # tokens per minute: "hi" bills 4 prompt + 2 completion tokens; after two answers (on either node) the
        # window holds 12, the limit: no more
        tpm = await a.new_token(unlimited_quota=True, tpm_limit=12)
        assert await chats(nodes, tpm, 6) == {"ok": 2, "429": 4}

        redis_server.stop()
        fresh = await b.new_token(unlimited_quota=True, rpm_limit=3)
        assert await chats(nodes, fresh, 10) == {"ok": 6, "429": 4}  # 3 on each node
        redis_server.start()
        await until_up(a, b)
        again = await a.new_token(unlimited_quota=True, rpm_limit=3)
        assert await chats(nodes, again, 6) == {"ok": 3, "429": 3}

