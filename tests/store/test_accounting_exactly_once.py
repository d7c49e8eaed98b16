"""Charges reach the database exactly once, whatever happens to the process or to one bad row, on every backend.

A "killed" ledger is one whose journal file is left as it was (the kernel has it) and whose memory is dropped:
no flush, no close. A new ledger over the same journal directory then replays it, as the next start does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from oneapi.services.ledger import Ledger
from oneapi.store.database import open_specs
from oneapi.store.dsn import DatabaseSpec
from oneapi.store.facade import Store
from oneapi.store.journal import Journal
from oneapi.store.migrations import migrate_database
from oneapi.store.queries import logs as log_q
from oneapi.store.queries.accounting import LOG_ROWS_PER_INSERT, Batch, LogRow, apply_batch, read_marks
from tests.store.test_ledger_backends import consume_logs, rename
from tests.unit.test_ledger import accounts, db_token, db_user, log_row, make_account, make_channel


def kill(ledger: Ledger) -> None:
    """What SIGKILL leaves: the journal's bytes on disk, nothing of the ledger's memory, the lock released."""
    ledger._journal.close()
    for task in ledger._tasks:
        task.cancel()


async def restart(store: Store, directory: Path) -> tuple[Ledger, int]:
    ledger = Ledger(store, Journal.open(directory))
    replayed = await ledger.recover()
    return ledger, replayed


# -- one bad row ---------------------------------------------------------------------------------------


def _add_unique_request_ids(db: Any) -> None:
    db.logs.execute_sql("CREATE UNIQUE INDEX test_unique_request_id ON logs (request_id)")


def _drop_unique_request_ids(db: Any) -> None:
    db.logs.execute_sql("DROP INDEX IF EXISTS test_unique_request_id" + (" ON logs" if db.kind == "mysql" else ""))


@contextlib.asynccontextmanager
async def unique_request_ids(store: Store) -> AsyncIterator[None]:
    """A constraint the logs table does not have, so that the database itself refuses one row."""
    await store.write(_drop_unique_request_ids)  # left by an interrupted run
    await store.write(_add_unique_request_ids)
    try:
        yield
    finally:
        await store.write(_drop_unique_request_ids)


async def test_a_refused_log_row_is_set_aside_and_the_rest_of_the_batch_is_written(store: Store) -> None:
    uid, _ = await make_account(store, quota=10_000)
    good = [log_row(uid, q, request_id=f"good-{q}") for q in range(1, 12)]
    batch = Batch(logs=[*good[:5], log_row(uid, 99, request_id="good-3"), *good[5:]], log_seq=17)
    batch.user(uid, -66, 66, 11)
    set_aside: list[tuple[dict[str, Any], str]] = []

    async with unique_request_ids(store):
        applied = await store.write(apply_batch, batch, "j1",
                                    lambda item, reason: set_aside.append((item, reason)))

    assert applied.set_aside == 1
    assert [(item["log"]["request_id"], item["log"]["quota"]) for item, _ in set_aside] == [("good-3", 99)]
    rows = await consume_logs(store)
    assert sorted(r["request_id"] for r in rows) == sorted(r.request_id for r in good)
    assert (await db_user(store, uid))["quota"] == 10_000 - 66
    assert (await store.read(read_marks, "j1"))["logs"] == 17


async def all_consume_logs(store: Store) -> list[dict[str, Any]]:
    return await store.read(log_q.list_page, log_q.LogFilter(log_type=log_q.TYPE_CONSUME), 0, 10_000)


async def test_a_batch_of_more_rows_than_one_insert_takes_is_written_whole_and_in_order(store: Store) -> None:
    """Rows go many to a statement (LOG_ROWS_PER_INSERT): a batch of two statements and a remainder lands whole,
    every value in its column, in order; one refused row still only sets itself aside."""
    uid, _ = await make_account(store, quota=10_000)
    count = 2 * LOG_ROWS_PER_INSERT + 7
    rows = [log_row(uid, q, request_id=f"many-{q}") for q in range(1, count + 1)]
    applied = await store.write(apply_batch, Batch(logs=rows, log_seq=5), "j5", lambda item, reason: None)
    assert applied.set_aside == 0
    written = sorted(await all_consume_logs(store), key=lambda r: r["id"])
    assert [(r["request_id"], r["quota"], r["user_id"]) for r in written] == \
        [(f"many-{q}", q, uid) for q in range(1, count + 1)]

    set_aside: list[tuple[dict[str, Any], str]] = []
    more = [log_row(uid, 1, request_id=f"more-{q}") for q in range(LOG_ROWS_PER_INSERT + 3)]
    more[LOG_ROWS_PER_INSERT + 1] = log_row(uid, 2, request_id="more-4")  # refused: the index below
    async with unique_request_ids(store):
        applied = await store.write(apply_batch, Batch(logs=more, log_seq=6), "j5",
                                    lambda item, reason: set_aside.append((item, reason)))
    assert applied.set_aside == 1 and [item["log"]["quota"] for item, _ in set_aside] == [2]
    assert len(await all_consume_logs(store)) == count + LOG_ROWS_PER_INSERT + 2


async def test_a_log_value_no_database_stores_is_fitted_not_refused(store: Store) -> None:
    """Out of a column's range, NUL (PostgreSQL), a lone surrogate: fitted on the way in (LogRow.checked)."""
    uid, _ = await make_account(store, quota=10_000)
    odd = LogRow(user_id=uid, type=log_q.TYPE_CONSUME, prompt_tokens=2**70, completion_tokens=-(2**40),
                 token_name="nul\x00here", model_name="lone \ud800", request_id="odd", quota=2**64)
    applied = await store.write(apply_batch, Batch(logs=[odd], log_seq=3), "j3", lambda item, reason: None)
    assert applied.set_aside == 0
    (row,) = await consume_logs(store)
    assert row["prompt_tokens"] == 2**31 - 1 and row["completion_tokens"] == -(2**31)
    assert row["token_name"] == "nul\ufffdhere" and row["model_name"] == "lone ?" and row["quota"] == 2**63 - 1


async def test_a_refused_balance_change_is_set_aside_and_the_others_are_written(store: Store) -> None:
    uid, _key = await make_account(store, quota=10_000)
    other, _ = await make_account(store, quota=10_000)
    batch = Batch(seq=9)
    batch.user(uid, -(2**70), 0, 0)  # beyond any BIGINT
    batch.user(other, -25, 25, 1)
    set_aside: list[dict[str, Any]] = []

    applied = await store.write(apply_batch, batch, "j2", lambda item, reason: set_aside.append(item))

    assert applied.set_aside == 1 and set_aside == [{"change": {"user_id": uid, "quota": -(2**70), "used_quota": 0,
                                                                "request_count": 0}, "batch": 9}]
    assert (await db_user(store, uid))["quota"] == 10_000
    assert (await db_user(store, other))["quota"] == 10_000 - 25
    assert (await store.read(read_marks, "j2"))["accounts"] == 9


async def test_the_ledger_reports_what_it_set_aside(store: Store, tmp_path: Path) -> None:
    uid, key = await make_account(store, quota=10_000)
    ledger = Ledger(store, Journal.open(tmp_path / "journal"))
    reports: list[str] = []
    ledger.on_set_aside.append(reports.append)
    user, token = await accounts(ledger, uid, key)
    ledger.settle(ledger.reserve(user, token, 10), 3, 0, log_row(uid, 3))
    ledger.settle(ledger.reserve(user, token, 10), 3, 0, log_row(uid, 3))  # the same request id again
    async with unique_request_ids(store):
        await ledger.flush()
    await asyncio.sleep(0.01)  # the report comes back to the loop from the writer thread
    assert len(reports) == 1 and "set-aside.jsonl" in reports[0]
    assert len(await consume_logs(store)) == 1 and (await db_user(store, uid))["quota"] == 10_000 - 6
    assert (tmp_path / "journal" / "set-aside.jsonl").exists()
    await ledger.close()


# -- kill -9 -------------------------------------------------------------------------------------------


async def test_charges_of_a_killed_process_are_replayed_exactly_once(store: Store, tmp_path: Path) -> None:
    uid, key = await make_account(store, quota=100_000, remain=50_000)
    cid = await make_channel(store)
    directory = tmp_path / "journal"
    ledger = Ledger(store, Journal.open(directory))
    user, token = await accounts(ledger, uid, key)
    for i in range(5):  # written before the kill
        ledger.settle(ledger.reserve(user, token, 100), 10 + i, cid, log_row(uid, 10 + i, cid, f"early-{i}"))
    await ledger.flush()
    for i in range(7):  # journaled, never flushed
        ledger.settle(ledger.reserve(user, token, 100), 20 + i, cid, log_row(uid, 20 + i, cid, f"late-{i}"))
    in_flight = ledger.reserve(user, token, 5_000)  # a request the kill interrupts
    assert in_flight.amount == 5_000
    kill(ledger)

    ledger, replayed = await restart(store, directory)
    assert replayed == 14  # seven charges and their seven log rows
    charged = sum(10 + i for i in range(5)) + sum(20 + i for i in range(7))
    u, t = await db_user(store, uid), await db_token(store, key)
    assert (u["quota"], u["used_quota"], u["request_count"]) == (100_000 - charged, charged, 12)
    assert (t["remain_quota"], t["used_quota"]) == (50_000 - charged, charged)  # no orphan reservation
    logs = await consume_logs(store)
    assert sorted(r["request_id"] for r in logs) == sorted([f"early-{i}" for i in range(5)]
                                                          + [f"late-{i}" for i in range(7)])
    kill(ledger)

    # a second start (or a crash during the first) applies nothing again
    ledger, replayed = await restart(store, directory)
    assert replayed == 0
    assert (await db_user(store, uid))["quota"] == 100_000 - charged
    assert len(await consume_logs(store)) == 12
    await ledger.close()


async def test_a_shutdown_with_the_database_down_keeps_the_charges_for_the_next_start(
        store: Store, tmp_path: Path) -> None:
    uid, key = await make_account(store, quota=1_000)
    directory = tmp_path / "journal"
    ledger = Ledger(store, Journal.open(directory))
    user, token = await accounts(ledger, uid, key)
    ledger.settle(ledger.reserve(user, token, 10), 7, 0, log_row(uid, 7))
    await rename(store, "users", "users_away")
    try:
        report = await ledger.close()
    finally:
        await rename(store, "users_away", "users")
    assert not report.complete and report.unwritten == 1 and report.journal == directory
    ledger, replayed = await restart(store, directory)
    assert replayed == 2
    assert (await db_user(store, uid))["quota"] == 1_000 - 7
    report = await ledger.close()
    assert report.complete


async def test_with_a_separate_log_database_a_kill_between_the_two_commits_writes_only_the_logs(
        tmp_path: Path) -> None:
    """LOG_SQL_DSN: the charges committed, the logs did not, then the process died. The replay writes the log
    rows (above the logs database's own mark) and not the charges again."""
    db = open_specs(DatabaseSpec("sqlite", str(tmp_path / "main.db")),
                    DatabaseSpec("sqlite", str(tmp_path / "logs.db")))
    migrate_database(db)
    db.close_connections()
    store = Store(db, read_threads=1)
    directory = tmp_path / "journal"
    try:
        uid, key = await make_account(store, quota=10_000)
        ledger = Ledger(store, Journal.open(directory))
        user, token = await accounts(ledger, uid, key)
        ledger.settle(ledger.reserve(user, token, 100), 40, 0, log_row(uid, 40))
        await rename(store, "logs", "logs_away")
        try:
            with pytest.raises(Exception):  # noqa: B017 - the logs database refused
                await ledger.flush()
        finally:
            await rename(store, "logs_away", "logs")
        assert (await db_user(store, uid))["quota"] == 10_000 - 40
        kill(ledger)
        ledger, _ = await restart(store, directory)
        assert (await db_user(store, uid))["quota"] == 10_000 - 40  # not charged twice
        assert [r["quota"] for r in await consume_logs(store)] == [40]
        await ledger.close()
    finally:
        await store.close()


# -- a commit whose acknowledgement is lost -------------------------------------------------------------


async def test_a_commit_whose_acknowledgement_was_lost_is_not_applied_again(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The COMMIT reached the server, the answer did not (MySQL error 2013, a server restart): the retry must
    find the journal marks and write nothing twice."""
    import peewee as pw

    from oneapi.services import ledger as ledger_module
    from oneapi.store.queries import accounting

    uid, key = await make_account(store, quota=1_000, remain=1_000)
    ledger = Ledger(store, Journal.open(tmp_path / "journal"))
    user, token = await accounts(ledger, uid, key)
    ledger.settle(ledger.reserve(user, token, 200), 100, 0, log_row(uid, 100))
    lost = []

    def commit_then_lose_the_answer(db: Any, *args: Any) -> Any:
        result = accounting.apply_batch(db, *args)
        if not lost:
            lost.append(True)
            raise pw.OperationalError(2013, "Lost connection to MySQL server during query")
        return result

    monkeypatch.setattr(ledger_module, "apply_batch", commit_then_lose_the_answer)
    with pytest.raises(Exception):  # noqa: B017 - the lost answer
        await ledger.flush()
    ledger.settle(ledger.reserve(user, token, 200), 30, 0, log_row(uid, 30, request_id="after"))
    await ledger.flush()

    u, t = await db_user(store, uid), await db_token(store, key)
    assert (u["quota"], u["used_quota"], u["request_count"]) == (1_000 - 130, 130, 2)
    assert (t["remain_quota"], t["used_quota"]) == (1_000 - 130, 130)
    assert sorted(r["quota"] for r in await consume_logs(store)) == [30, 100]
    await asyncio.sleep(0.05)  # the ledger looked again at the accounts it had counted as unwritten
    assert (user.quota, token.remain_quota) == (1_000 - 130, 1_000 - 130)
    await ledger.close()


# -- ids SQLite gives again ------------------------------------------------------------------------------


async def test_a_deleted_tokens_request_never_charges_the_token_that_gets_its_id(
        store: Store, tmp_path: Path) -> None:
    """SQLite gives the highest id again after that row is deleted: the old token's request in flight must
    charge its user, not the new token that now has the id."""
    from oneapi.store.queries import tokens as token_q
    from oneapi.store.queries import users as user_q

    a_id, a_key = await make_account(store, quota=10_000, remain=5_000)
    ledger = Ledger(store, Journal.open(tmp_path / "journal"))
    user, token = await accounts(ledger, a_id, a_key)
    in_flight = ledger.reserve(user, token, 500)
    await store.write(token_q.delete, token.id, a_id)
    await ledger.token_changed(token.id)
    b_id = await store.write(user_q.insert, {"username": "bee", "password": "x", "quota": 10_000}, [])
    b_key = "b" * 48
    new_id = await store.write(token_q.insert, {"user_id": b_id, "key": b_key, "name": "b", "remain_quota": 9_000})
    b_token = await ledger.token(b_key)
    assert b_token is not None and (b_token.held, b_token.remain_quota) == (0, 9_000)
    ledger.settle(in_flight, 300, 0, None)
    await ledger.flush()

    row = await store.read(token_q.find_by_id, new_id)
    assert row is not None and (row["remain_quota"], row["used_quota"]) == (9_000, 0)
    assert (await db_user(store, a_id))["quota"] == 10_000 - 300  # the user still pays
    await ledger.token_changed(new_id)
    assert (b_token.remain_quota, b_token.used_quota) == (9_000, 0)
    await ledger.close()


# -- a reload that fails after a change ------------------------------------------------------------------


async def test_a_change_whose_reload_fails_is_seen_before_the_next_use(store: Store, tmp_path: Path) -> None:
    from oneapi.store.queries import users as user_q

    uid, key = await make_account(store, quota=1_000)
    ledger = Ledger(store, Journal.open(tmp_path / "journal"))
    user, _ = await accounts(ledger, uid, key)
    await store.write(user_q.update, uid, {"status": user_q.STATUS_DISABLED})
    await rename(store, "users", "users_away")
    try:
        await ledger.user_changed(uid)  # the change is committed: the service must not fail now
    finally:
        await rename(store, "users_away", "users")
    again = await ledger.user(uid)
    assert again is user and user.status == user_q.STATUS_DISABLED
    await ledger.close()


# -- made-up keys ----------------------------------------------------------------------------------------


async def test_unknown_keys_are_looked_up_without_the_writer_thread(store: Store, tmp_path: Path) -> None:
    """A flood of made-up keys must not queue on the writer thread, which the accounting flush needs."""
    from tests.store.test_ledger_backends import HeldWriter

    ledger = Ledger(store, Journal.open(tmp_path / "journal"))
    async with HeldWriter(store):
        assert await asyncio.wait_for(ledger.token("made_up_key_0123456789"), 2) is None
    await ledger.close()


async def test_worker_0_replays_the_journals_of_workers_that_no_longer_exist(store: Store, tmp_path: Path) -> None:
    """--workers 3, killed, then started with 2: worker 2's journal has no owner; worker 0 replays and removes
    it (oneapi/workers.py), and leaves worker 1's, which worker 1 replays itself."""
    from oneapi.config import load
    from oneapi.workers import WorkerRole

    uid, key = await make_account(store, quota=100_000, remain=50_000)
    cid = await make_channel(store)
    base = tmp_path / "journal"
    for index in (1, 2):
        ledger = Ledger(store, Journal.open(base / f"worker-{index}"))
        user, token = await accounts(ledger, uid, key)
        ledger.settle(ledger.reserve(user, token, 100), 10 * index, cid, log_row(uid, 10 * index, cid, f"w{index}"))
        kill(ledger)
    (base / "worker-x").mkdir()  # not a worker's: left alone

    config = load(None, {"ONEAPI_HOME": str(tmp_path), "REDIS_CONN_STRING": "redis://127.0.0.1:6379/0"},
                  {"workers": 2})
    role = WorkerRole(0, 2)
    assert role.orphan_journals(config) == [base / "worker-2"]
    primary = Ledger(store, Journal.open(role.journal(config)))
    await primary.recover()
    assert await primary.adopt(base / "worker-2") == 2  # its charge and its log row
    assert not (base / "worker-2").exists() and (base / "worker-1").exists() and (base / "worker-x").exists()
    assert [r["request_id"] for r in await consume_logs(store)] == ["w2"]
    assert (await db_token(store, key))["used_quota"] == 20
    assert WorkerRole(1, 2).journal(config) == base / "worker-1"
    kill(primary)
