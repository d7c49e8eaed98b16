"""The ledger's persistence on every backend: relative write-behind, reloads that neither lose nor double
count, and failed flushes that come back exactly once.

Failures are real database failures: a table renamed away makes the batch's UPDATE (or INSERT) fail on the
writer thread, and renaming it back lets the retry succeed. The writer thread is held with a real job that
waits on an event, to put two operations in flight at once in a chosen order.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from oneapi.store.database import Database, open_specs
from oneapi.store.dsn import DatabaseSpec
from oneapi.store.facade import Store
from oneapi.store.migrations import migrate_database
from oneapi.store.queries import logs as log_q
from oneapi.store.queries import tokens as token_q
from oneapi.store.queries import users as user_q
from tests.conftest import LedgerFactory
from tests.unit.test_ledger import accounts, db_token, db_user, log_row, make_account, make_channel


def _rename(db: Database, old: str, new: str) -> None:
    database = db.logs if old.startswith("logs") else db.main
    database.execute_sql(f"ALTER TABLE {old.join(database.quote)} RENAME TO {new.join(database.quote)}")


async def rename(store: Store, old: str, new: str) -> None:
    await store.write(_rename, old, new)


class HeldWriter:
    """Occupies the store's writer thread until released, so later writes queue up behind it in order."""

    def __init__(self, store: Store) -> None:
        self._release = threading.Event()
        self._started = threading.Event()
        self.job: Awaitable[None] = store.write(self._hold)

    def _hold(self, db: Database) -> None:
        self._started.set()
        self._release.wait(10)

    async def __aenter__(self) -> HeldWriter:
        self.task = asyncio.ensure_future(self.job)
        while not self._started.is_set():
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._release.set()
        await self.task


async def consume_logs(store: Store) -> list[dict[str, Any]]:
    return await store.read(log_q.list_page, log_q.LogFilter(log_type=log_q.TYPE_CONSUME), 0, 1000)


async def test_flush_writes_relative_deltas_so_an_admin_top_up_is_not_lost(store: Store,
                                                                           new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000, remain=5_000)
    cid = await make_channel(store)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)

    reservation = ledger.reserve(user, token, 400)
    await store.write(user_q.add_quota, uid, 2_500)  # top-up straight into the database, ledger not told
    ledger.settle(reservation, 123, cid, log_row(uid, 123, cid))
    await ledger.flush()

    u = await db_user(store, uid)
    assert (u["quota"], u["used_quota"], u["request_count"]) == (10_000 + 2_500 - 123, 123, 1)
    t = await db_token(store, key)
    assert (t["remain_quota"], t["used_quota"]) == (5_000 - 123, 123)
    assert t["accessed_time"] > 0
    # and once told, the ledger's view agrees with the database
    await ledger.user_changed(uid)
    assert user.quota == u["quota"]


async def test_two_ledgers_on_one_database_do_not_overwrite_each_other(store: Store, new_ledger: LedgerFactory) -> None:
    """Two nodes: each flushes relative deltas, so both charges land."""
    uid, key = await make_account(store, quota=10_000, remain=5_000)
    a, b = new_ledger(store), new_ledger(store)
    ua, ta = await accounts(a, uid, key)
    ub, tb = await accounts(b, uid, key)
    a.settle(a.reserve(ua, ta, 100), 70, 0, None)
    b.settle(b.reserve(ub, tb, 100), 30, 0, None)
    await asyncio.gather(a.flush(), b.flush())
    assert (await db_user(store, uid))["quota"] == 10_000 - 100
    t = await db_token(store, key)
    assert (t["remain_quota"], t["used_quota"]) == (4_900, 100)


@pytest.mark.parametrize("order", ["flush_first", "reload_first"])
async def test_a_reload_during_a_flush_neither_loses_nor_double_counts(store: Store, new_ledger: LedgerFactory,
                                                                       order: str) -> None:
    uid, key = await make_account(store, quota=10_000, remain=5_000)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)
    ledger.settle(ledger.reserve(user, token, 300), 250, 0, None)  # pending: -250

    async with HeldWriter(store):  # both jobs queue behind the held writer, in the chosen order
        if order == "flush_first":
            flush = asyncio.ensure_future(ledger.flush())
            await asyncio.sleep(0)
            reload_user = asyncio.ensure_future(ledger.reload_user(uid))
            reload_token = asyncio.ensure_future(ledger.reload_token(token.id))
        else:
            reload_user = asyncio.ensure_future(ledger.reload_user(uid))
            reload_token = asyncio.ensure_future(ledger.reload_token(token.id))
            await asyncio.sleep(0)
            flush = asyncio.ensure_future(ledger.flush())
        await asyncio.sleep(0.05)
        # a reservation made while everything is in flight must survive the reload as well
        ledger.reserve(user, token, 40)
    await asyncio.gather(flush, reload_user, reload_token)

    assert user.quota == 10_000 - 250 - 40
    assert (token.remain_quota, token.used_quota) == (5_000 - 250 - 40, 250 + 40)
    assert user.used_quota == 250 and user.request_count == 1
    await ledger.flush()
    u, t = await db_user(store, uid), await db_token(store, key)
    # the database holds the charge; the 40 held by the request in flight exists only in memory
    assert (user.held, token.held) == (40, 40)
    assert (u["quota"], u["used_quota"], u["request_count"]) == (user.quota + 40, 250, 1)
    assert (t["remain_quota"], t["used_quota"]) == (token.remain_quota + 40, token.used_quota - 40)
    # a fresh reload after everything is written sees exactly the same numbers
    await ledger.reload_user(uid)
    await ledger.reload_token(token.id)
    assert (user.quota, token.remain_quota, token.used_quota) == (u["quota"] - 40, t["remain_quota"] - 40,
                                                                  t["used_quota"] + 40)


async def test_a_failed_flush_returns_its_batch_to_pending(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000, remain=5_000)
    cid = await make_channel(store)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)
    ledger.settle(ledger.reserve(user, token, 200), 90, cid, log_row(uid, 90, cid))

    await rename(store, "users", "users_away")
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
            await ledger.flush()
        # more activity while the database is broken joins the returned batch
        ledger.settle(ledger.reserve(user, token, 200), 10, cid, log_row(uid, 10, cid))
        # a reload in this state must still count what is unwritten
        await store.write(token_q.find_by_key, key)
    finally:
        await rename(store, "users_away", "users")
    await ledger.reload_token(token.id)
    assert (token.remain_quota, token.used_quota) == (5_000 - 100, 100)

    await ledger.flush()
    u, t = await db_user(store, uid), await db_token(store, key)
    assert (u["quota"], u["used_quota"], u["request_count"]) == (10_000 - 100, 100, 2)
    assert (t["remain_quota"], t["used_quota"]) == (4_900, 100)
    assert sorted(row["quota"] for row in await consume_logs(store)) == [10, 90]
    await ledger.flush()  # nothing left: no second application
    assert (await db_user(store, uid))["quota"] == 10_000 - 100


async def test_a_failed_log_insert_does_not_charge_twice(store: Store, new_ledger: LedgerFactory) -> None:
    """The deltas and the log rows of a batch are either written together, or the part already written is
    not written again on retry."""
    uid, key = await make_account(store, quota=10_000, remain=5_000)
    cid = await make_channel(store)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)
    ledger.settle(ledger.reserve(user, token, 200), 77, cid, log_row(uid, 77, cid))

    await rename(store, "logs", "logs_away")
    try:
        with pytest.raises(Exception):  # noqa: B017
            await ledger.flush()
    finally:
        await rename(store, "logs_away", "logs")
    await ledger.flush()
    await ledger.flush()

    u, t = await db_user(store, uid), await db_token(store, key)
    assert (u["quota"], u["used_quota"], u["request_count"]) == (10_000 - 77, 77, 1)
    assert (t["remain_quota"], t["used_quota"]) == (5_000 - 77, 77)
    assert [row["quota"] for row in await consume_logs(store)] == [77]
    await ledger.reload_user(uid)
    assert user.quota == 10_000 - 77


async def test_with_a_separate_log_database_a_failed_log_insert_retries_only_the_logs(
        tmp_path: Path, new_ledger: LedgerFactory) -> None:
    """LOG_SQL_DSN: deltas and logs cannot share a transaction; the deltas must not be applied twice."""
    db = open_specs(DatabaseSpec("sqlite", str(tmp_path / "main.db")),
                    DatabaseSpec("sqlite", str(tmp_path / "logs.db")))
    migrate_database(db)
    db.close_connections()
    assert db.logs is not db.main
    store = Store(db, read_threads=1)
    try:
        uid, key = await make_account(store, quota=10_000, remain=5_000)
        ledger = new_ledger(store)
        user, token = await accounts(ledger, uid, key)
        ledger.settle(ledger.reserve(user, token, 200), 77, 0, log_row(uid, 77))
        await rename(store, "logs", "logs_away")
        try:
            with pytest.raises(Exception):  # noqa: B017
                await ledger.flush()
            # the deltas are already in the database; the reloaded view must not count them again
            await ledger.reload_user(uid)
            assert user.quota == 10_000 - 77
        finally:
            await rename(store, "logs_away", "logs")
        await ledger.flush()
        await ledger.flush()
        u, t = await db_user(store, uid), await db_token(store, key)
        assert (u["quota"], u["used_quota"], u["request_count"]) == (10_000 - 77, 77, 1)
        assert (t["remain_quota"], t["used_quota"]) == (5_000 - 77, 77)
        assert [row["quota"] for row in await consume_logs(store)] == [77]
    finally:
        await store.close()


async def test_the_flush_loop_retries_until_the_database_is_back(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000, remain=5_000)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)
    await rename(store, "users", "users_away")
    ledger.start()
    try:
        ledger.settle(ledger.reserve(user, token, 50), 20, 0, None)
        await asyncio.sleep(0.3)  # the loop tried and failed at least once
        await rename(store, "users_away", "users")
        for _ in range(100):
            if (await db_user(store, uid))["quota"] == 10_000 - 20:
                break
            await asyncio.sleep(0.05)
        assert (await db_user(store, uid))["quota"] == 10_000 - 20
        assert (await db_token(store, key))["used_quota"] == 20
    finally:
        await ledger.close()
    assert (await db_user(store, uid))["quota"] == 10_000 - 20
