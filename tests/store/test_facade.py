"""The async Store facade on every backend: queries off the loop, errors mapped once, money moved exactly."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any

import peewee as pw
import pytest

from oneapi.errors import ConflictError, NotFoundError, OneAPIError, StoreError
from oneapi.store.database import Database, open_specs
from oneapi.store.facade import Store
from oneapi.store.queries import redemptions, users


def _where_am_i(db: Database) -> tuple[threading.Thread, int]:
    return threading.current_thread(), users.count(db)


async def test_reads_and_writes_run_off_the_event_loop_thread(store: Store) -> None:
    loop_thread = threading.current_thread()

    def off_the_loop(db: Database) -> int:
        assert threading.current_thread() is not loop_thread  # raised here, it would reach the test
        return users.count(db)

    assert await store.read(off_the_loop) == 0
    assert await store.write(off_the_loop) == 0
    read_thread, n = await store.read(_where_am_i)
    write_thread, _ = await store.write(_where_am_i)

    assert n == 0
    assert read_thread is not loop_thread and write_thread is not loop_thread
    assert read_thread.name.startswith("oneapi-store-reader-")
    assert write_thread.name == "oneapi-store-writer"


async def test_every_write_runs_on_the_one_writer_thread(store: Store) -> None:
    threads = await asyncio.gather(*(store.write(_where_am_i) for _ in range(10)))
    assert len({t for t, _ in threads}) == 1


async def test_arguments_and_results_cross_the_thread_boundary(store: Store) -> None:
    uid = await store.write(users.insert, {"username": "alice", "password": "x", "quota": 7}, [])
    row = await store.read(users.get, uid)
    assert row is not None and row["username"] == "alice" and row["quota"] == 7
    assert await store.read(users.list_page, 0, 10, order="quota") == [row]


async def test_oneapi_errors_propagate_unchanged(store: Store) -> None:
    with pytest.raises(NotFoundError, match="invalid voucher code") as info:
        await store.write(redemptions.redeem, "nope", 1, 0)
    assert type(info.value) is NotFoundError

    await store.write(users.insert, {"username": "alice", "password": "x"}, [])
    with pytest.raises(ConflictError) as conflict:
        await store.write(users.insert, {"username": "alice", "password": "x"}, [])
    assert type(conflict.value) is ConflictError


async def test_other_python_errors_propagate_unchanged(store: Store) -> None:
    def broken(db: Database) -> None:
        raise ValueError("a bug in query code")

    with pytest.raises(ValueError, match="a bug in query code"):
        await store.read(broken)


def _select_missing_table(db: Database) -> Any:
    return db.main.execute_sql("SELECT * FROM no_such_table").fetchall()


def _duplicate_option(db: Database) -> None:
    db.tables.option.insert(key="k", value="1").execute()
    db.tables.option.insert(key="k", value="2").execute()  # primary key: IntegrityError


@pytest.mark.parametrize("use_writer", [False, True])
async def test_database_errors_become_store_errors(store: Store, use_writer: bool) -> None:
    run = store.write if use_writer else store.read
    with pytest.raises(StoreError) as info:
        await run(_select_missing_table)
    assert isinstance(info.value, OneAPIError)
    assert isinstance(info.value.__cause__, pw.PeeweeException)
    assert info.value.http_status == 500 and info.value.code == "database_error"
    assert "no_such_table" not in str(info.value)  # details are logged, not shown

    # the thread's connection is still usable afterwards (PostgreSQL aborts the failed transaction)
    assert await run(users.count) == 0


async def test_integrity_errors_outside_query_handling_become_store_errors(store: Store) -> None:
    with pytest.raises(StoreError) as info:
        await store.write(_duplicate_option)
    assert isinstance(info.value.__cause__, pw.IntegrityError)
    assert await store.read(lambda db: db.tables.option.select().count()) == 1


async def test_calls_after_close_raise_store_error(store: Store) -> None:
    await store.write(users.insert, {"username": "alice", "password": "x"}, [])
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.read(users.count)
    with pytest.raises(StoreError, match="closed"):
        await store.write(users.add_quota, 1, 5)
    await store.close()  # closing twice is harmless


async def test_close_finishes_queued_writes(store: Store) -> None:
    uid = await store.write(users.insert, {"username": "alice", "password": "x"}, [])
    pending = [asyncio.ensure_future(store.write(users.add_quota, uid, 1)) for _ in range(20)]
    await asyncio.sleep(0)  # let every write reach the queue before closing
    await store.close()
    assert await asyncio.gather(*pending) == [1] * 20
    row = users.get(store.db, uid)
    assert row is not None and row["quota"] == 20


async def test_concurrent_redeems_of_one_voucher_credit_exactly_once(store: Store) -> None:
    uid = await store.write(users.insert, {"username": "alice", "password": "x", "quota": 10}, [])
    (key,) = await store.write(redemptions.insert_many, [{"key": "k" * 32, "name": "gift", "quota": 1000}])

    results = await asyncio.gather(*(store.write(redemptions.redeem, key, uid, 1_700_000_000)
                                     for _ in range(50)), return_exceptions=True)

    assert [r for r in results if not isinstance(r, BaseException)] == [(1000, [])]
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 49 and all(isinstance(f, ConflictError) for f in failures)
    row = await store.read(users.get, uid)
    assert row is not None and row["quota"] == 10 + 1000


async def test_concurrent_quota_additions_are_never_lost(store: Store) -> None:
    uid = await store.write(users.insert, {"username": "alice", "password": "x", "quota": 5}, [])

    changed = await asyncio.gather(*(store.write(users.add_quota, uid, 1) for _ in range(200)))

    assert changed == [1] * 200
    row = await store.read(users.get, uid)
    assert row is not None and row["quota"] == 5 + 200


async def test_concurrent_reads_and_writes_mix(store: Store) -> None:
    uid = await store.write(users.insert, {"username": "alice", "password": "x"}, [])
    jobs: list[Awaitable[Any]] = [store.write(users.add_quota, uid, 2) if i % 2 else store.read(users.get, uid)
                                  for i in range(60)]
    results = await asyncio.gather(*jobs)
    assert all(r == 1 for r in results[1::2])
    # reads see whole committed updates, never a half-applied one
    assert all(r is not None and 0 <= r["quota"] <= 60 and r["quota"] % 2 == 0 for r in results[0::2])
    row = await store.read(users.get, uid)
    assert row is not None and row["quota"] == 60


# Two stores over one database stand for two oneapi nodes: their writer threads really run at once, so
# these pass only because the SQL itself is atomic (a conditional UPDATE, `quota = quota + ?`), not because
# one writer thread happens to serialise everything.

async def test_two_nodes_racing_for_one_voucher_credit_once(store: Store) -> None:
    other = Store(open_specs(store.db.spec), read_threads=1)
    try:
        uid = await store.write(users.insert, {"username": "alice", "password": "x"}, [])
        (key,) = await store.write(redemptions.insert_many, [{"key": "n" * 32, "name": "gift", "quota": 300}])

        results = await asyncio.gather(*(node.write(redemptions.redeem, key, uid, 1_700_000_000)
                                         for _ in range(25) for node in (store, other)),
                                       return_exceptions=True)
    finally:
        await other.close()

    assert [r for r in results if not isinstance(r, BaseException)] == [(300, [])]
    # a loser sees the voucher used; SQLite may instead refuse a second concurrent writer outright
    allowed = (ConflictError, StoreError) if store.db.kind == "sqlite" else (ConflictError,)
    assert all(isinstance(r, allowed) for r in results if isinstance(r, BaseException))
    row = await store.read(users.get, uid)
    assert row is not None and row["quota"] == 300


async def test_two_nodes_adding_quota_at_once_lose_nothing(store: Store) -> None:
    other = Store(open_specs(store.db.spec), read_threads=1)
    try:
        uid = await store.write(users.insert, {"username": "alice", "password": "x"}, [])
        changed = await asyncio.gather(*(node.write(users.add_quota, uid, 1)
                                         for _ in range(100) for node in (store, other)))
    finally:
        await other.close()

    assert changed == [1] * 200
    row = await store.read(users.get, uid)
    assert row is not None and row["quota"] == 200
