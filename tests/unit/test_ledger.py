"""oneapi.services.ledger: reserve / settle / refund arithmetic, exactly-once settlement, the flush loop and
bounded caches — against a real store (SQLite here; ``tests/store/test_ledger_backends.py`` runs the
persistence properties on every backend)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from oneapi.errors import InsufficientQuotaError, StoreError
from oneapi.services import ledger as ledger_module
from oneapi.services.ledger import Ledger, Reservation, TokenAccount, UserAccount
from oneapi.store.facade import Store
from oneapi.store.queries import channels as channel_q
from oneapi.store.queries import logs as log_q
from oneapi.store.queries import tokens as token_q
from oneapi.store.queries import users as user_q
from oneapi.store.queries.accounting import LogRow
from tests.conftest import LedgerFactory

_names = itertools.count(1)


@pytest.fixture
def backend() -> str:
    """These tests are about the ledger's own arithmetic: SQLite is enough."""
    return "sqlite"


async def make_account(store: Store, *, quota: int = 1_000_000, remain: int = 100_000,
                       unlimited: bool = False) -> tuple[int, str]:
    """A user with one token; returns (user id, token key)."""
    n = next(_names)
    key = f"{n:0>4}" + "k" * 44
    uid = await store.write(user_q.insert, {"username": f"u{n}", "password": "x", "quota": quota},
                            [{"key": key, "name": f"tok{n}", "remain_quota": remain, "unlimited_quota": unlimited}])
    return uid, key


async def make_channel(store: Store) -> int:
    (cid,) = await store.write(channel_q.insert_many, [{"type": 1, "key": "k", "name": "c", "models": "m"}])
    return int(cid)


async def db_user(store: Store, uid: int) -> dict[str, Any]:
    row = await store.read(user_q.get, uid)
    assert row is not None
    return row


async def db_token(store: Store, key: str) -> dict[str, Any]:
    row = await store.read(token_q.find_by_key, key)
    assert row is not None
    return row


def log_row(uid: int, quota: int, channel_id: int = 0, request_id: str = "r") -> LogRow:
    return LogRow(user_id=uid, username="u", type=log_q.TYPE_CONSUME, content="倍率：1.00 × 1.00 × 1.00",
                  token_name="t", model_name="m", quota=quota, prompt_tokens=quota, completion_tokens=0,
                  channel_id=channel_id, request_id=request_id, elapsed_time=1)


async def accounts(ledger: Ledger, uid: int, key: str) -> tuple[UserAccount, TokenAccount]:
    user, token = await ledger.user(uid), await ledger.token(key)
    assert user is not None and token is not None
    return user, token


# -- reserve ---------------------------------------------------------------------------------------------


async def test_reserve_moves_quota_from_user_and_token(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=1000, remain=500)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)

    reservation = ledger.reserve(user, token, 120)

    assert reservation.amount == 120 and not reservation.done
    assert (user.quota, token.remain_quota, token.used_quota) == (880, 380, 120)
    assert (user.held, token.held) == (120, 120)
    # a hold never reaches the database: a process that dies mid-request leaves nothing to undo there
    await ledger.flush()
    assert (await db_user(store, uid))["quota"] == 1000
    row = await db_token(store, key)
    assert (row["remain_quota"], row["used_quota"]) == (500, 0)


async def test_reserve_refuses_when_the_user_cannot_pay(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=100, remain=10_000)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)

    ledger.reserve(user, token, 100)  # exactly the balance: allowed
    with pytest.raises(InsufficientQuotaError) as info:
        ledger.reserve(user, token, 1)
    assert info.value.http_status == 403 and info.value.code == "insufficient_user_quota"
    assert (user.quota, token.remain_quota, token.used_quota) == (0, 9900, 100)  # nothing moved


async def test_reserve_refuses_when_the_token_cannot_pay(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000, remain=50)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)

    ledger.reserve(user, token, 50)  # exactly the token's remain: allowed
    with pytest.raises(InsufficientQuotaError) as info:
        ledger.reserve(user, token, 1)
    assert info.value.http_status == 403 and info.value.code == "pre_consume_token_quota_failed"
    assert (user.quota, token.remain_quota) == (9950, 0)


async def test_unlimited_token_counts_usage_but_keeps_its_remain(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000, remain=-1, unlimited=True)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)

    reservation = ledger.reserve(user, token, 400)
    ledger.settle(reservation, 250, 0, None)

    assert (user.quota, token.remain_quota, token.used_quota) == (9750, -1, 250)
    await ledger.flush()
    row = await db_token(store, key)
    assert (row["remain_quota"], row["used_quota"]) == (-1, 250)


async def test_a_negative_reservation_is_zero(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10, remain=10)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)
    reservation = ledger.reserve(user, token, -50)
    assert reservation.amount == 0 and (user.quota, token.remain_quota) == (10, 10)


# -- settle / refund -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reserved", "charged"), [(100, 100), (100, 37), (100, 260), (0, 15), (80, 0)])
async def test_settle_charges_exactly_the_final_quota(store: Store, new_ledger: LedgerFactory, reserved: int,
                                                      charged: int) -> None:
    uid, key = await make_account(store, quota=10_000, remain=5_000)
    cid = await make_channel(store)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)

    reservation = ledger.reserve(user, token, reserved)
    ledger.settle(reservation, charged, cid, log_row(uid, charged, cid))

    assert reservation.done
    assert (user.quota, user.used_quota, user.request_count) == (10_000 - charged, charged, 1)
    assert (token.remain_quota, token.used_quota) == (5_000 - charged, charged)
    await ledger.flush()
    u, t = await db_user(store, uid), await db_token(store, key)
    assert (u["quota"], u["used_quota"], u["request_count"]) == (10_000 - charged, charged, 1)
    assert (t["remain_quota"], t["used_quota"]) == (5_000 - charged, charged)
    assert (await store.read(channel_q.get, cid))["used_quota"] == charged  # type: ignore[index]
    logs = await store.read(log_q.list_page, log_q.LogFilter(log_type=log_q.TYPE_CONSUME), 0, 10)
    assert [(row["user_id"], row["quota"], row["channel_id"]) for row in logs] == [(uid, charged, cid)]


async def test_refund_gives_everything_back(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000, remain=5_000)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)

    reservation = ledger.reserve(user, token, 700)
    ledger.refund(reservation)

    assert reservation.done
    assert (user.quota, user.used_quota, user.request_count) == (10_000, 0, 0)
    assert (token.remain_quota, token.used_quota) == (5_000, 0)
    await ledger.flush()
    u, t = await db_user(store, uid), await db_token(store, key)
    assert (u["quota"], u["used_quota"], u["request_count"]) == (10_000, 0, 0)
    assert (t["remain_quota"], t["used_quota"]) == (5_000, 0)


async def test_a_reservation_settles_at_most_once(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000, remain=5_000)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)

    reservation = ledger.reserve(user, token, 100)
    ledger.settle(reservation, 60, 0, None)
    with pytest.raises(RuntimeError, match="twice"):
        ledger.settle(reservation, 60, 0, None)
    ledger.refund(reservation)  # after settle: a no-op
    ledger.refund(reservation)

    assert (user.quota, user.request_count, token.remain_quota, token.used_quota) == (9_940, 1, 4_940, 60)
    await ledger.flush()
    assert (await db_user(store, uid))["quota"] == 9_940
    assert (await db_token(store, key))["used_quota"] == 60


async def test_settle_after_refund_raises_and_refund_is_idempotent(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000, remain=5_000)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)

    reservation = ledger.reserve(user, token, 100)
    ledger.refund(reservation)
    ledger.refund(reservation)
    with pytest.raises(RuntimeError):
        ledger.settle(reservation, 60, 0, None)
    assert (user.quota, user.request_count, token.remain_quota, token.used_quota) == (10_000, 0, 5_000, 0)


async def test_remain_plus_used_is_invariant_over_many_operations(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=1_000_000, remain=200_000)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)
    charged = 0
    open_: list[Reservation] = []
    for i in range(300):
        open_.append(ledger.reserve(user, token, 50 + i % 7))
        if i % 3 == 0:
            ledger.refund(open_.pop(0))
        elif i % 3 == 1:
            amount = (i * 13) % 90
            ledger.settle(open_.pop(0), amount, 0, None)
            charged += amount
        assert token.remain_quota + token.used_quota == 200_000
        if i % 50 == 0:
            await ledger.flush()
    for reservation in open_:
        ledger.refund(reservation)
    await ledger.flush()
    u, t = await db_user(store, uid), await db_token(store, key)
    assert t["remain_quota"] + t["used_quota"] == 200_000
    assert t["used_quota"] == charged == u["used_quota"] == 1_000_000 - u["quota"]
    assert (user.quota, token.remain_quota) == (u["quota"], t["remain_quota"])


# -- the flush loop --------------------------------------------------------------------------------------


async def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_without_batching_changes_reach_the_database_promptly(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000)
    ledger = new_ledger(store, flush_interval=0.0)
    ledger.start()
    try:
        user, token = await accounts(ledger, uid, key)
        ledger.settle(ledger.reserve(user, token, 100), 42, 0, None)

        async def written() -> bool:
            return (await db_user(store, uid))["quota"] == 10_000 - 42
        await wait_for(written, timeout=2.0)
    finally:
        await ledger.close()


async def test_batch_mode_accumulates_for_the_interval_then_flushes(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000)
    interval = 0.6
    ledger = new_ledger(store, flush_interval=interval)
    ledger.start()
    try:
        user, token = await accounts(ledger, uid, key)
        started = time.monotonic()
        for amount in (5, 7, 11):
            ledger.settle(ledger.reserve(user, token, 100), amount, 0, log_row(uid, amount))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        # still inside the interval: nothing written yet
        assert (await db_user(store, uid))["quota"] == 10_000
        assert await store.read(log_q.list_page, log_q.LogFilter(), 0, 10) == []

        async def written() -> bool:
            return (await db_user(store, uid))["quota"] == 10_000 - 23
        await wait_for(written, timeout=3.0)
        assert time.monotonic() - started >= interval - 0.05
        u = await db_user(store, uid)
        assert (u["used_quota"], u["request_count"]) == (23, 3)
        assert len(await store.read(log_q.list_page, log_q.LogFilter(), 0, 10)) == 3
    finally:
        await ledger.close()


async def test_close_flushes_everything_even_in_batch_mode(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000)
    ledger = new_ledger(store, flush_interval=60.0)
    ledger.start()
    user, token = await accounts(ledger, uid, key)
    ledger.settle(ledger.reserve(user, token, 100), 9, 0, log_row(uid, 9))
    started = time.monotonic()
    await ledger.close()
    assert time.monotonic() - started < 5  # did not wait out the interval
    assert (await db_user(store, uid))["quota"] == 10_000 - 9
    assert len(await store.read(log_q.list_page, log_q.LogFilter(), 0, 10)) == 1


# -- accounts and caches ---------------------------------------------------------------------------------


async def test_accounts_are_loaded_once_and_shared(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=321, remain=123)
    ledger = new_ledger(store)
    first, again = await asyncio.gather(ledger.user(uid), ledger.user(uid))
    assert first is again and first is not None and first.quota == 321
    t1, t2 = await asyncio.gather(ledger.token(key), ledger.token(key))
    assert t1 is t2 and t1 is not None and (t1.remain_quota, t1.user_id) == (123, uid)
    assert await ledger.user(99_999) is None
    assert await ledger.token("x" * 48) is None
    assert await ledger.token(key + "x") is None  # only the exact key: no prefix, no junk, no other case
    assert await ledger.token(key[:-1]) is None
    assert await ledger.token(key.upper()) is None


async def test_an_unknown_key_is_remembered_briefly_and_forgotten_on_creation(
        store: Store, new_ledger: LedgerFactory) -> None:
    ledger = new_ledger(store)
    key = "n" * 48
    assert await ledger.token(key) is None
    # the token appears in the database behind the ledger's back: the negative cache still answers None
    await store.write(user_q.insert, {"username": "late", "password": "x", "quota": 5},
                      [{"key": key, "name": "late", "remain_quota": 5, "unlimited_quota": False}])
    assert await ledger.token(key) is None
    ledger.token_created(key)  # what the tokens service calls after creating one
    token = await ledger.token(key)
    assert token is not None and token.remain_quota == 5


async def test_reload_updates_the_account_in_place(store: Store, new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=1_000, remain=500)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)
    reservation = ledger.reserve(user, token, 100)
    await store.write(user_q.add_quota, uid, 50)  # an admin top-up, then the service's notification
    await ledger.user_changed(uid)
    assert await ledger.user(uid) is user  # same object: the reservation still points at the live account
    assert user.quota == 1_000 + 50 - 100  # database − the hold of the request in flight
    await ledger.token_changed(token.id)
    assert await ledger.token(key) is token and token.remain_quota == 500 - 100
    ledger.settle(reservation, 30, 0, None)
    assert user.quota == 1_000 + 50 - 30
    await ledger.user_changed(uid)
    await ledger.token_changed(token.id)
    assert (user.quota, user.held, token.remain_quota, token.used_quota) == (1_020, 0, 470, 30)


async def test_account_caches_are_bounded(store: Store, new_ledger: LedgerFactory,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_module, "MAX_ACCOUNTS", 3)
    made = [await make_account(store, quota=100 + i) for i in range(5)]
    ledger = new_ledger(store)
    for uid, key in made:
        assert await ledger.user(uid) is not None
        assert await ledger.token(key) is not None
    assert len(ledger._users) == 3 and len(ledger._tokens) == 3
    assert list(ledger._users) == [made[2][0], made[3][0], made[4][0]]  # least recently used evicted first
    await ledger.user(made[2][0])  # touch: now the most recent
    await ledger.user(made[0][0])  # reload an evicted one: evicts made[3]
    assert list(ledger._users) == [made[4][0], made[2][0], made[0][0]]
    reloaded = await ledger.user(made[0][0])
    assert reloaded is not None and reloaded.quota == 100
    for i in range(5):
        assert await ledger.token(f"{i}" * 48) is None
    assert len(ledger._unknown) == 3
    assert len(ledger._token_ids) == 3  # the key index follows the token cache


async def test_a_log_backlog_refuses_new_requests_instead_of_dropping_rows(
        store: Store, new_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_module, "MAX_PENDING_LOGS", 5)
    uid, key = await make_account(store, quota=10_000)
    ledger = new_ledger(store)
    user, token = await accounts(ledger, uid, key)
    for _ in range(5):
        ledger.settle(ledger.reserve(user, token, 10), 1, 0, log_row(uid, 1))
    with pytest.raises(StoreError) as info:  # the database is not keeping up: no sixth request
        ledger.reserve(user, token, 10)
    assert info.value.http_status == 503 and info.value.code == "accounting_backlog"
    await ledger.flush()
    assert len(await store.read(log_q.list_page, log_q.LogFilter(), 0, 100)) == 5
    ledger.settle(ledger.reserve(user, token, 10), 1, 0, log_row(uid, 1))  # served again once written
    await ledger.flush()
    assert len(await store.read(log_q.list_page, log_q.LogFilter(), 0, 100)) == 6
    assert (await db_user(store, uid))["quota"] == 10_000 - 6


async def test_log_listeners_see_each_row_and_a_failing_one_is_harmless(store: Store,
                                                                       new_ledger: LedgerFactory) -> None:
    uid, key = await make_account(store, quota=10_000)
    ledger = new_ledger(store)
    seen: list[int] = []

    def broken(row: LogRow) -> None:
        raise ValueError("observer bug")

    ledger.on_log.extend([broken, lambda row: seen.append(row.quota)])
    user, token = await accounts(ledger, uid, key)
    ledger.settle(ledger.reserve(user, token, 10), 4, 0, log_row(uid, 4))
    assert seen == [4] and user.quota == 10_000 - 4


async def test_a_stale_account_is_reloaded_once_not_once_per_request(store: Store, new_ledger: LedgerFactory) -> None:
    """Under load every request used to queue its own reload of a stale account on the writer thread, which
    could fill the writer queue and make the accounting flush fail."""
    user_id = await store.write(user_q.insert, {"username": "stale", "password": "x", "quota": 100}, [])
    await store.write(token_q.insert, {"user_id": user_id, "key": "stale_key_0123456789", "name": "t"})
    ledger = new_ledger(store, stale_after=0.0)
    ledger.start()
    try:
        await ledger.user(user_id)
        await ledger.token("stale_key_0123456789")
        time.sleep(0.001)  # both accounts are now older than stale_after
        for _ in range(200):
            await ledger.user(user_id)
            await ledger.token("stale_key_0123456789")
        assert len(ledger._refreshing) <= 2  # one background reload per account, not one per request
        await asyncio.sleep(0.2)
        assert not ledger._refreshing
    finally:
        await ledger.close()


async def test_a_journal_the_disk_refuses_does_not_stop_serving_or_lose_the_charge(
        store: Store, tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    from oneapi.store.journal import Journal

    uid, key = await make_account(store, quota=10_000)
    directory = tmp_path / "full"
    ledger = Ledger(store, Journal.open(directory))
    (directory / f"{1:020d}.jsonl").symlink_to("/dev/full")  # the journal's first segment lands on a full disk
    user, token = await accounts(ledger, uid, key)
    reservation = ledger.reserve(user, token, 100)
    ledger.settle(reservation, 30, 0, log_row(uid, 30))
    assert reservation.done and user.held == 0 and user.quota == 10_000 - 30
    assert any("cannot write the journal" in r.getMessage() for r in caplog.records)
    await ledger.flush()
    assert (await db_user(store, uid))["quota"] == 10_000 - 30
    assert len(await store.read(log_q.list_page, log_q.LogFilter(), 0, 10)) == 1
    await ledger.close()


async def test_accounts_with_quota_held_are_never_evicted(store: Store, new_ledger: LedgerFactory,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_module, "MAX_ACCOUNTS", 2)
    made = [await make_account(store, quota=1_000) for _ in range(4)]
    ledger = new_ledger(store)
    first_user, first_token = await accounts(ledger, *made[0])
    held = ledger.reserve(first_user, first_token, 100)  # the oldest account holds quota
    for uid, key in made[1:]:
        await accounts(ledger, uid, key)
    assert made[0][0] in ledger._users and first_token.id in ledger._tokens
    assert len(ledger._users) == 2 and len(ledger._tokens) == 2
    ledger.refund(held)
    await accounts(ledger, *made[1])  # released: now the oldest may go
    assert list(ledger._users) == [made[3][0], made[1][0]]
