"""Two nodes (their own stores, ledgers and journals) over one database and one Redis: one balance for both.

In-process, so the interleavings are controlled; ``test_multinode.py`` runs real ``oneapi serve`` processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oneapi.errors import InsufficientQuotaError
from oneapi.services import Services, start_services
from oneapi.services.ledger import Reservation
from oneapi.store.database import Database, open_specs
from oneapi.store.facade import Store
from oneapi.store.queries import tokens as token_q
from oneapi.store.queries import users as user_q
from tests.conftest import _wipe, open_backend, own_home
from tests.functional.conftest import make_config

KEY = "sharedtokenkey0000000000000000000000000000000000"[:48]


@dataclass
class Node:
    services: Services
    store: Store

    async def accounts(self) -> tuple[Any, Any]:
        token = await self.services.ledger.token(KEY)
        assert token is not None
        user = await self.services.ledger.user(token.user_id)
        assert user is not None
        return user, token

    async def take(self, amount: int) -> Reservation | None:
        user, token = await self.accounts()
        try:
            return await self.services.ledger.acquire(user, token, amount)
        except InsufficientQuotaError:
            return None


async def start_node(db: Database, config: Any) -> AsyncIterator[Node]:
    with own_home(config) as home:
        store = Store(db, read_threads=2)
        services = await start_services(home, store)
        try:
            yield Node(services, store)
        finally:
            await services.close()
            await store.close()


@pytest.fixture(params=["sqlite", "mysql"])
async def two_nodes(request: pytest.FixtureRequest, tmp_path: Path,
                    redis_url: str) -> AsyncIterator[tuple[Node, Node, Database]]:
    from oneapi.store.migrations import migrate_database

    db = open_backend(request.param, tmp_path)
    migrate_database(db)
    user_id = user_q.insert(db, {"username": "alice", "password": "", "quota": 1000, "group": "default"}, [])
    token_q.insert(db, {"user_id": user_id, "key": KEY, "name": "t", "status": 1, "remain_quota": 500,
                        "unlimited_quota": False, "expired_time": -1, "created_time": 0, "accessed_time": 0})
    db.close_connections()
    config = make_config(REDIS_CONN_STRING=redis_url)
    other = open_specs(db.spec)
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(contextlib.aclosing(start_node(db, config)))
        b = await stack.enter_async_context(contextlib.aclosing(start_node(other, config)))
        yield await anext(a), await anext(b), db
    other.close_connections()
    _wipe(db)
    db.close_connections()


async def balances(node: Node) -> tuple[int, int, int]:
    await node.services.ledger.flush()
    token = await node.store.read(token_q.find_by_key, KEY)
    user = await node.store.read(user_q.get, token["user_id"])
    return token["remain_quota"], token["used_quota"], user["quota"]


async def test_two_nodes_cannot_hold_more_than_the_token_has(two_nodes: tuple[Node, Node, Database]) -> None:
    a, b, _ = two_nodes
    held = await asyncio.gather(*(node.take(10) for node in [a, b] * 40))  # 800 asked of a 500 token
    granted = [r for r in held if r is not None]
    assert len(granted) == 50
    assert any(r is not None for r in held[0::2]) and any(r is not None for r in held[1::2])  # both served
    for reservation, node in zip(held, [a, b] * 40, strict=True):
        if reservation is not None:
            node.services.ledger.settle(reservation, 10, 1, None)
    await asyncio.gather(*a.services.ledger._shared_calls, *b.services.ledger._shared_calls)
    await b.services.ledger.flush()
    assert await balances(a) == (0, 500, 500)
    assert await a.take(1) is None and await b.take(1) is None  # the token is spent, on both nodes


async def test_settles_and_refunds_free_what_was_held(two_nodes: tuple[Node, Node, Database]) -> None:
    a, b, _ = two_nodes
    first = await a.take(300)
    assert first is not None and await b.take(300) is None  # 200 left while a holds 300
    a.services.ledger.settle(first, 100, 1, None)  # 200 of the hold come back
    await asyncio.gather(*a.services.ledger._shared_calls)
    second = await b.take(400)
    assert second is not None
    b.services.ledger.refund(second)
    await asyncio.gather(*b.services.ledger._shared_calls)
    assert await a.take(400) is not None


async def test_an_admin_change_on_one_node_reaches_the_other_within_a_second(
        two_nodes: tuple[Node, Node, Database]) -> None:
    a, b, _ = two_nodes
    for node in (a, b):
        assert node.services.changes is not None
        await asyncio.wait_for(node.services.changes.subscribed.wait(), 5)
    _, token = await b.accounts()
    assert token.status == 1
    await a.services.tokens.update(token.user_id, {"id": token.id, "status": 2}, status_only=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    while token.status != 2:
        assert loop.time() - started < 1.0, "node b still serves the disabled token"
        await asyncio.sleep(0.01)
    # a new quota set on a is what b can spend (the shared balance is loaded again from the database)
    user, _ = await b.accounts()
    await a.services.store.write(user_q.update, user.id, {"quota": 5})
    await a.services.ledger.user_changed(user.id)
    await a.services.tokens.update(token.user_id, {"id": token.id, "status": 1}, status_only=True)
    while token.status != 1:
        await asyncio.sleep(0.01)
    assert await b.take(6) is None and await b.take(5) is not None


async def test_without_redis_each_node_falls_back_to_its_own_balance(two_nodes: tuple[Node, Node, Database]) -> None:
    a, b, _ = two_nodes
    assert await a.take(100) is not None
    link = a.services.ledger.shared.link  # type: ignore[union-attr]
    link.lost(ConnectionError("simulated"))  # as a failed call would
    alone = await a.take(350)
    assert alone is not None and not alone.shared  # decided by a's own balance
    a.services.ledger.settle(alone, 350, 1, None)
    await a.services.ledger.flush()
    # Redis back: what a charged alone is dropped from Redis and loaded again with that charge in it
    await link._recovered[0]()
    link.up = True
    assert await b.take(51) is None and await b.take(50) is not None
