"""The ledger: live balances of users and tokens in memory, reserved and settled without SQL on the hot path,
journaled locally, and persisted write-behind in batches.

Why in memory: a relay request would otherwise cost several SQL writes (reserve, settle, log), which caps
throughput at the database's commit rate. Here a reservation is a check-and-subtract on the event loop —
atomic because the loop runs one coroutine at a time — and charges are flushed as relative updates
(``quota = quota + ?``) by one background task.

What reaches the database, and when:

- A **reservation** stays in memory (``held`` on the account). It never reaches the database, so a process
  that dies mid-request leaves no orphan charge behind: the reservation dies with it.
- A **settle** (the final charge of a request, with its consume log) is appended to the local journal
  (``store/journal.py``) before anything else, then queued for the next batch. A killed process loses no
  settled charge: the next start replays the journal, exactly once, by sequence number.
- A **refund** only releases the hold.

Accounts are keyed by id. A token is found by the exact key a client presents (``keyformat`` has refused
anything malformed before), through a bounded key → id index; the only state kept per spelling is that index
and a short-lived memory of keys that do not exist. Every service that changes a token or a user tells the
ledger (:meth:`token_changed`, :meth:`user_changed`), which reloads the row before the service answers, so
the very next request on this node sees the change.

Consistency with the database: an account's view = the database value + deltas not yet committed − what is
held by requests in flight. Loads and reloads run on the store's writer thread, which executes in order, so a
reload sees every batch submitted before it and none after; the ledger adds back the batches still in flight
and the deltas not yet submitted.

Several nodes without Redis: each node reloads accounts older than SYNC_FREQUENCY on use, so a token can be
overspent by what the other nodes charge before this node's next reload (README, Multi-node).

Exactness: every reservation is settled or refunded exactly once (:class:`Reservation` refuses a second
settlement), a token's ``remain_quota + used_quota`` only changes through admin edits, and a batch the
database refuses in part is written without the refused rows, which are set aside in the journal directory
and reported (``store/queries/accounting.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oneapi import keyformat
from oneapi.errors import InsufficientQuotaError, StoreError
from oneapi.services.shared_balances import SharedBalances, Verdict
from oneapi.store.facade import Store
from oneapi.store.journal import Journal, JournalError
from oneapi.store.queries.accounting import (
    ACCOUNTS,
    JOURNAL_HEADER,
    LOGS,
    Batch,
    LogRow,
    LogsNotWrittenError,
    apply_batch,
    batch_from_records,
    charge_payload,
    charges_in,
    forget_marks,
    load_user,
    log_payload,
    read_marks,
)
from oneapi.store.queries.channels import split_list
from oneapi.store.queries.tokens import find_by_id, find_by_key
from oneapi.store.redis_names import RedisUnavailableError

log = logging.getLogger("oneapi.ledger")

MAX_ACCOUNTS = 100_000
COALESCE_SECONDS = 0.2  # even "unbatched", gather a fifth of a second of changes per database transaction
MAX_PENDING_LOGS = 100_000  # beyond this the database is not keeping up: new requests are refused, not lost
NEGATIVE_TTL = 10.0  # seconds an unknown token key is remembered as unknown
FAILURE_LOG_SECONDS = 30.0
MUST_RELOAD = float("-inf")  # loaded_at of an account whose reload after a change failed: reloaded before its next use
EVICTION_LOOKAHEAD = 64  # accounts past the oldest looked at when the oldest ones hold quota

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class UserAccount:
    id: int
    username: str
    group: str
    status: int
    role: int
    quota: int
    used_quota: int
    request_count: int
    held: int = 0  # reserved by requests in flight on this node (already taken out of quota)
    loaded_at: float = 0.0


@dataclass
class TokenAccount:
    id: int
    key: str
    user_id: int
    name: str
    status: int
    expired_time: int
    remain_quota: int
    used_quota: int
    unlimited: bool
    models: frozenset[str] | None  # None: every model
    subnets: tuple[Network, ...]
    subnet_text: str
    held: int = 0  # reserved by requests in flight on this node (already counted in remain and used)
    loaded_at: float = 0.0
    rpm_limit: int = 0  # requests per minute (0: no limit), enforced by services.token_limits
    tpm_limit: int = 0  # tokens billed per minute (0: no limit)


def _token_from_row(row: dict[str, Any], now: float) -> TokenAccount:
    models = split_list(row.get("models"))
    subnets: list[Network] = []
    for part in split_list(row.get("subnet")):
        with contextlib.suppress(ValueError):
            subnets.append(ipaddress.ip_network(part, strict=False))
    return TokenAccount(id=int(row["id"]), key=row["key"], user_id=int(row["user_id"]), name=row["name"] or "",
                        status=int(row["status"]), expired_time=int(row["expired_time"]),
                        remain_quota=int(row["remain_quota"]), used_quota=int(row["used_quota"]),
                        unlimited=bool(row["unlimited_quota"]), models=frozenset(models) if models else None,
                        subnets=tuple(subnets), subnet_text=row.get("subnet") or "", loaded_at=now,
                        rpm_limit=int(row.get("rpm_limit") or 0), tpm_limit=int(row.get("tpm_limit") or 0))


def _user_from_row(row: dict[str, Any], now: float) -> UserAccount:
    return UserAccount(id=int(row["id"]), username=row["username"], group=row["group"] or "default",
                       status=int(row["status"]), role=int(row["role"]), quota=int(row["quota"]),
                       used_quota=int(row["used_quota"]), request_count=int(row["request_count"]), loaded_at=now)


@dataclass
class Reservation:
    """Quota held for one upstream attempt; settle or refund it exactly once."""

    user: UserAccount
    token: TokenAccount
    amount: int
    done: bool = field(default=False)
    shared: bool = False  # also held in Redis (SharedBalances), released there when settled


@dataclass(frozen=True)
class ShutdownReport:
    """What :meth:`Ledger.close` could not write to the database, and where it is kept."""

    unwritten: int  # journal records the database does not hold yet (replayed at the next start)
    journal: Path

    @property
    def complete(self) -> bool:
        return self.unwritten == 0


class Ledger:
    def __init__(self, store: Store, journal: Journal, *, flush_interval: float = 0.0,
                 stale_after: float = 600.0, fsync_interval: float = 1.0) -> None:
        """``flush_interval`` 0 (BATCH_UPDATE_ENABLED off) flushes within COALESCE_SECONDS of a change;
        otherwise deltas accumulate for that many seconds (BATCH_UPDATE_INTERVAL). ``fsync_interval``: seconds
        between fsyncs of the journal (JOURNAL_FSYNC_INTERVAL); 0 fsyncs every record."""
        self._store = store
        self._journal = journal
        journal.set_header(JOURNAL_HEADER)
        self._flush_interval = flush_interval
        self._stale_after = stale_after
        self._fsync_interval = fsync_interval
        self._users: OrderedDict[int, UserAccount] = OrderedDict()
        self._tokens: OrderedDict[int, TokenAccount] = OrderedDict()
        self._token_ids: dict[str, int] = {}  # exact key → token id, for the tokens in _tokens
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._loading: dict[tuple[str, Any], asyncio.Future[Any]] = {}
        self._refreshing: dict[tuple[str, Any], asyncio.Task[Any]] = {}
        self._pending = Batch()
        self._unacked: deque[Batch] = deque()  # submitted, not confirmed: retried in order, never merged
        self._generation = 0
        self._written_through = 0  # journal sequence numbers up to here are in the database (both marks)
        self._flush_lock = asyncio.Lock()
        self._failures = 0  # flushes failed in a row
        self._failure_logged = 0.0
        self._journal_failure_logged = -FAILURE_LOG_SECONDS
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self.on_log: list[Callable[[LogRow], None]] = []  # consume logs as they are settled
        self.on_set_aside: list[Callable[[str], None]] = []
        self.on_changed: list[Callable[[str, int], Awaitable[None]]] = []  # an account changed here (publish it)
        self.shared: SharedBalances | None = None
        self._shared_calls: set[asyncio.Task[None]] = set()
        # Accounts charged while Redis was away (or whose shared settle failed): their hashes are dropped when
        # it returns, so they are loaded again from the database.
        self._alone: tuple[set[int], set[int]] = (set(), set())

    def share(self, balances: SharedBalances) -> None:
        """Reserve and settle through ``balances`` (Redis) from now on, falling back to this node's own
        balances while Redis is down."""
        self.shared = balances
        balances.link.on_recovered(self._rejoin)

    # -- lifecycle --------------------------------------------------------------------------------

    async def recover(self) -> int:
        """Replay what an earlier process journaled but never wrote (a kill, a power loss, a database that
        was down at shutdown), one segment at a time; returns the number of journal records applied. Then the
        journal is emptied under a new identity. Call before serving."""
        old_id = self._journal.id
        marks = await self._store.write(read_marks, old_id)
        charges = logs = refused = 0
        for records in self._journal.earlier_segments():
            batch = batch_from_records(records, marks)
            if batch.empty():
                continue
            applied = await self._store.write(apply_batch, batch, old_id, self._set_aside)
            charges += charges_in(records, marks[ACCOUNTS])
            logs += len(batch.logs)
            refused += applied.set_aside
            marks = {ACCOUNTS: max(marks[ACCOUNTS], batch.seq), LOGS: max(marks[LOGS], batch.log_seq)}
        if charges or logs:
            log.warning("replayed the journal in %s: %d charges and %d log rows the database lacked%s",
                        self._journal.directory, charges, logs, f" ({refused} set aside)" if refused else "")
        last = max([self._journal.last_seq, *marks.values()])
        self._journal.reset(last)
        await self._store.write(forget_marks, old_id)
        self._written_through = last
        return charges + logs

    async def adopt(self, directory: Path) -> int:
        """Replay a journal no process owns any more (``--workers`` was larger in an earlier run: see
        oneapi/workers.py), then remove it; returns the records applied. A journal another process holds is
        left alone, and one the database refused stays, with its records, for the next start."""
        try:
            journal = Journal.open(directory)
        except JournalError as exc:
            log.warning("left the journal in %s alone: %s", directory, exc)
            return 0
        written = False
        try:
            applied = await Ledger(self._store, journal).recover()
            written = True
        finally:
            await asyncio.get_running_loop().run_in_executor(None, journal.close, written)
        for name in ("id", "lock"):
            (directory / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: records set aside, kept for the operator
            directory.rmdir()
        return applied

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._flush_loop(), name="oneapi-ledger-flush")]
        if self._fsync_interval > 0:
            self._tasks.append(loop.create_task(self._sync_loop(), name="oneapi-journal-fsync"))

    async def close(self) -> ShutdownReport:
        """Flush everything pending; called on shutdown after requests have drained. What the database
        could not take stays in the journal, for the next start; when it took everything, the journal is
        emptied."""
        self._closing = True
        self._stop.set()
        self._wake.set()
        for task in self._tasks:
            if task.get_name() == "oneapi-journal-fsync":
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._shared_calls:
            await asyncio.gather(*self._shared_calls, return_exceptions=True)
        with contextlib.suppress(Exception):  # logged in flush; the journal keeps what it could not write
            await self.flush()
        report = ShutdownReport(self._journal.unwritten_count(self._written_through), self._journal.directory)
        await asyncio.get_running_loop().run_in_executor(None, self._journal.close, report.complete)
        return report

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            if not self._closing:
                # Let changes accumulate (BATCH_UPDATE_INTERVAL, or a short coalescing window), unless stopping.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._flush_interval or COALESCE_SECONDS)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # logged in flush; the batch stays queued and is retried
                if not self._closing:
                    await asyncio.sleep(1.0)
            if self._closing:
                return  # close() flushes whatever arrives after this

    async def _sync_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._fsync_interval)
            try:
                await loop.run_in_executor(None, self._journal.sync)
            except Exception:
                log.exception("could not fsync the journal; will retry")

    async def flush(self) -> None:
        """Write what is pending: first the batches an earlier attempt could not confirm, in order, then
        everything pending as one new batch. A batch that fails stays queued (never merged with newer
        changes), so its retry can ask the journal marks whether an attempt whose acknowledgement was lost
        did commit after all, and write only what is missing.

        One flush at a time: the marks are high-water marks, so a batch must not commit while an earlier one
        may still fail."""
        async with self._flush_lock:
            took_pending = False
            while True:
                if not self._unacked:
                    if took_pending or self._pending.empty():
                        break
                    self._unacked.append(self._pending)
                    self._pending = Batch()
                    took_pending = True
                batch = self._unacked[0]
                self._generation += 1
                batch.generation = self._generation
                try:
                    applied = await self._store.write(apply_batch, batch, self._journal.id, self._set_aside)
                except LogsNotWrittenError as exc:  # the deltas are in: only the log rows are retried
                    self._unacked[0] = batch.log_rows_only()
                    self._failed(f"could not write {len(batch.logs)} log rows ({exc})")
                    self._wake.set()
                    raise
                except Exception as exc:
                    self._failed(f"could not write {len(batch.users) + len(batch.tokens)} balance changes and "
                                 f"{len(batch.logs)} log rows ({_cause(exc)})")
                    self._wake.set()
                    raise
                self._unacked.popleft()
                if applied.deltas_were_there:  # our view counted this batch as not written: look again
                    self._stale_accounts(batch)
                # Everything journaled before this batch was taken is in it or in an earlier one.
                self._written_through = max(self._written_through, batch.seq, batch.log_seq)
            if self._failures:
                log.warning("the accounting batches are written again after %d failed attempts", self._failures)
                self._failures = 0
            self._journal.forget_through(self._written_through)

    def _stale_accounts(self, batch: Batch) -> None:
        for user_id in batch.users:
            if user_id in self._users:
                self._refresh_in_background(("user", user_id), functools.partial(self.reload_user, user_id))
        for token_id, _ in batch.tokens:
            if token_id in self._tokens:
                self._refresh_in_background(("token", token_id), functools.partial(self.reload_token, token_id))

    def _failed(self, what: str) -> None:
        """One line per failure, then one every FAILURE_LOG_SECONDS while the database stays out of reach: the
        flush loop retries every second, and a log that grows by a line a second helps nobody."""
        self._failures += 1
        now = time.monotonic()
        if self._failures == 1 or now - self._failure_logged >= FAILURE_LOG_SECONDS:
            log.error("%s; retrying (failed %d times; the charges are safe in the journal %s)", what,
                      self._failures, self._journal.directory)
            self._failure_logged = now

    def _set_aside(self, item: dict[str, Any], reason: str) -> None:
        """Called on the store's writer thread when the database refuses one change of a batch: kept on disk
        before the batch commits without it, then reported in the log and (from the loop) to listeners."""
        path = self._journal.set_aside(item, reason)
        message = f"the database refused an accounting change, kept in {path}: {reason}; {item}"
        log.error(message)
        self._loop.call_soon_threadsafe(self._report_set_aside, message)

    def _report_set_aside(self, message: str) -> None:
        for listener in self.on_set_aside:
            try:
                listener(message)
            except Exception:  # a failing observer must not break accounting
                log.exception("set-aside listener failed")

    # -- accounts ---------------------------------------------------------------------------------

    async def _load(self, kind: str, ident: Any, loader: Callable[[], Awaitable[Any]]) -> Any:
        key = (kind, ident)
        running = self._loading.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            result = await loader()
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved when nobody else waits
            raise
        finally:
            del self._loading[key]

    async def user(self, user_id: int) -> UserAccount | None:
        """The user's account; reloaded first when older than SYNC_FREQUENCY (other nodes may have charged it
        or changed it), so the request that finds it stale is served from the fresh one."""
        account = self._users.get(user_id)
        if account is not None and time.monotonic() - account.loaded_at <= self._stale_after:
            self._users.move_to_end(user_id)
            return account
        return await self._load("user", user_id, lambda: self.reload_user(user_id))

    def _refresh_in_background(self, key: tuple[str, Any], reload: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Reload a stale account without making the request wait, at most one reload per account at a time
        (under load, one per request would flood the writer queue and stall the accounting flush)."""
        if key in self._refreshing:
            return
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(reload())
        self._refreshing[key] = task
        task.add_done_callback(lambda done: self._refreshed(key, done))

    def _refreshed(self, key: tuple[str, Any], task: asyncio.Task[Any]) -> None:
        self._refreshing.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("refreshing an account from the database failed: %s", task.exception())

    async def reload_user(self, user_id: int) -> UserAccount | None:
        generation = self._generation
        row = await self._store.write(load_user, user_id)  # writer thread: ordered after earlier batches
        current = self._users.get(user_id)
        if row is None:
            if current is not None and not current.held:
                del self._users[user_id]
            elif current is not None:
                current.status = 0  # gone from the database: refused from now on, settled when its requests end
            return None
        fresh = _user_from_row(row, time.monotonic())
        quota, used, count = self._unsettled("user", user_id, generation)
        held = current.held if current is not None else 0
        fresh.quota += quota - held
        fresh.used_quota += used
        fresh.request_count += count
        fresh.held = held
        if current is not None:  # update in place: reservations hold a reference
            current.__dict__.update(fresh.__dict__)
            return current
        self._users[user_id] = fresh
        _evict(self._users)
        return fresh

    async def token(self, key: str) -> TokenAccount | None:
        """The token whose key is exactly ``key``, or None."""
        token_id = self._token_ids.get(key)
        if token_id is not None:
            account = self._tokens.get(token_id)
            if account is not None and time.monotonic() - account.loaded_at <= self._stale_after:
                self._tokens.move_to_end(token_id)
                return account
            if account is not None:  # stale, or a reload after a change failed: reloaded before serving
                return await self._load("token", token_id, lambda: self.reload_token(token_id))
        if not keyformat.is_token_key(key):
            return None
        seen = self._unknown.get(key)
        if seen is not None and time.monotonic() - seen < NEGATIVE_TTL:
            return None
        return await self._load("key", key, lambda: self._load_token_by_key(key))

    async def _load_token_by_key(self, key: str) -> TokenAccount | None:
        # Ask the read pool first: a flood of made-up keys must not queue on the writer thread, which the
        # accounting flush needs. Only a key that exists is loaded in order with the batches.
        row = await self._store.read(find_by_key, key)
        if row is not None:
            generation = self._generation
            row = await self._store.write(find_by_key, key)
        if row is None:
            self._unknown[key] = time.monotonic()
            if len(self._unknown) > MAX_ACCOUNTS:
                self._unknown.popitem(last=False)
            return None
        self._unknown.pop(key, None)
        return self._install_token(row, generation)

    async def reload_token(self, token_id: int) -> TokenAccount | None:
        generation = self._generation
        row = await self._store.write(find_by_id, token_id)
        if row is None:
            current = self._tokens.get(token_id)
            if current is not None:
                self._token_ids.pop(current.key, None)
                if current.held:
                    current.status = 0  # deleted: refused from now on; its requests in flight still settle
                else:
                    del self._tokens[token_id]
            return None
        return self._install_token(row, generation)

    def _install_token(self, row: dict[str, Any], since_generation: int) -> TokenAccount:
        fresh = _token_from_row(row, time.monotonic())
        current = self._tokens.get(fresh.id)
        if current is not None and current.key != fresh.key:
            # SQLite gave a deleted token's id to a new one: the cached account (and the holds of its requests
            # still in flight) belongs to the old token; the new one starts clean.
            self._token_ids.pop(current.key, None)
            del self._tokens[fresh.id]
            current = None
        remain, used, _ = self._unsettled("token", fresh.id, since_generation, fresh.key)
        held = current.held if current is not None else 0
        fresh.remain_quota += remain - (0 if fresh.unlimited else held)
        fresh.used_quota += used + held
        fresh.held = held
        if current is not None:
            current.__dict__.update(fresh.__dict__)
            fresh = current
        else:
            self._tokens[fresh.id] = fresh
            for evicted in _evict(self._tokens):
                self._token_ids.pop(evicted.key, None)
        self._token_ids[fresh.key] = fresh.id
        return fresh

    async def user_changed(self, user_id: int, *, here: bool = True) -> None:
        """The user's row changed in the database (admin edit, top-up, voucher, deletion): reload it if
        cached, before the caller answers. ``here``: the change was made on this node, which also rebuilds the
        shared balance from the database and tells the other nodes (``on_changed``); a change heard from
        another node only reloads this node's view. Never raises: the change is committed, and if the reload
        fails the account is reloaded before its next use instead."""
        await self._reload_changed("user", user_id, self._users.get(user_id), self.reload_user, here)

    async def token_changed(self, token_id: int, *, here: bool = True) -> None:
        """The token's row changed or was deleted: reload (or drop) it if cached, before the caller answers.
        Never raises (see :meth:`user_changed`)."""
        await self._reload_changed("token", token_id, self._tokens.get(token_id), self.reload_token, here)

    async def _reload_changed(self, kind: str, ident: int, account: UserAccount | TokenAccount | None,
                              reload: Callable[[int], Awaitable[object]], here: bool) -> None:
        if account is not None:
            try:
                await reload(ident)
            except Exception as exc:
                log.warning("reloading %s #%d after a change failed (%s); it is reloaded on its next use",
                            kind, ident, _cause(exc))
                account.loaded_at = MUST_RELOAD
        if here:
            await self._changed_here(kind, ident)

    async def _changed_here(self, kind: str, ident: int) -> None:
        if self.shared is not None and kind in ("user", "token"):
            # The shared balance is dropped, not patched: its next use loads it from the database (with this
            # node's unwritten charges), which now holds the change.
            with contextlib.suppress(RedisUnavailableError):
                await self.shared.forget(*(({ident}, set()) if kind == "user" else (set(), {ident})))
        for listener in self.on_changed:
            try:
                await listener(kind, ident)
            except Exception:  # telling the other nodes is best effort: they reload on SYNC_FREQUENCY anyway
                log.exception("publishing a change of %s #%d failed", kind, ident)

    def forget_all(self) -> None:
        """Every cached account is reloaded before its next use (changes may have been missed)."""
        for user in self._users.values():
            user.loaded_at = MUST_RELOAD
        for token in self._tokens.values():
            token.loaded_at = MUST_RELOAD

    def token_created(self, key: str) -> None:
        """A token with this key now exists: forget having looked for it in vain (and tell the other nodes to
        forget their misses, which a new key may be among: keys themselves are never published)."""
        self._unknown.pop(key, None)
        if self.on_changed:
            self._spawn(self._changed_here("new_token", 0))

    def forget_misses(self) -> None:
        """A token was created on another node: the keys looked for in vain may exist now."""
        self._unknown.clear()

    def _unsettled(self, kind: str, ident: int, since_generation: int, key: str = "") -> list[int]:
        """Deltas of ``kind``/``ident`` that a database read submitted at ``since_generation`` did not see: the
        batches submitted after it, the ones the writer thread has not marked as committed, and pending. A
        token's deltas count only for the token with that key (SQLite reuses a deleted token's id)."""
        total = [0, 0, 0]
        batches = [b for b in self._unacked if b.generation > since_generation or not b.deltas_in_db]
        for batch in [*batches, self._pending]:
            row = batch.users.get(ident) if kind == "user" else batch.tokens.get((ident, key))
            if row:
                total[0] += row[0]
                total[1] += row[1]
                total[2] += row[2] if kind == "user" else 0
        return total

    # -- money ------------------------------------------------------------------------------------

    async def acquire(self, user: UserAccount, token: TokenAccount, amount: int) -> Reservation:
        """:meth:`reserve`, checked against the balances every node shares when Redis is there: the hold is
        taken in Redis first (a Lua script checks and holds atomically, cluster-wide), then mirrored here.
        While Redis is down, this node's own balances decide (and the accounts charged meanwhile are reloaded
        from the database when it returns)."""
        shared = self.shared
        if shared is None:
            return self.reserve(user, token, amount)
        if not shared.link.up:
            return self._reserve_alone(user, token, amount)
        if len(self._pending.logs) >= MAX_PENDING_LOGS:
            raise StoreError("the database is not keeping up with the accounting; try again shortly",
                             status=503, code="accounting_backlog")
        amount = max(0, amount)
        limited = not token.unlimited
        try:
            for _ in range(3):  # a load, the other load, then the answer
                verdict = await self._shared_reserve(user.id, token.id, token.key, limited, amount)
                if verdict.granted:
                    break
                if verdict.short == "user":
                    raise InsufficientQuotaError("user quota is not enough", code="insufficient_user_quota")
                if verdict.short == "token":
                    raise InsufficientQuotaError("令牌额度不足 (token quota is not enough)",
                                                 code="pre_consume_token_quota_failed")
                await self._load_shared(verdict.reload, user, token)
            else:
                raise RedisUnavailableError("the shared balance would not load")
        except RedisUnavailableError:
            return self._reserve_alone(user, token, amount)
        self._hold(user, token, amount)
        return Reservation(user, token, amount, shared=True)

    async def _shared_reserve(self, user_id: int, token_id: int, key: str, limited: bool, amount: int) -> Verdict:
        """The Redis hold, which a cancelled request (its client gone) must not leave behind: the call runs to
        its end, and a hold it took is released."""
        assert self.shared is not None
        call = asyncio.ensure_future(self.shared.reserve(user_id, token_id, key, limited, amount))
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            def release(done: asyncio.Future[Verdict]) -> None:
                if not done.cancelled() and done.exception() is None and done.result().granted:
                    assert self.shared is not None
                    self._spawn(self._settle_shared(self.shared.settle(user_id, token_id, limited, amount, 0),
                                                    user_id, token_id))
            call.add_done_callback(release)
            raise

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Background Redis work, awaited at shutdown."""
        task = asyncio.get_running_loop().create_task(work)
        self._shared_calls.add(task)
        task.add_done_callback(self._shared_calls.discard)

    async def _load_shared(self, kind: str, user: UserAccount, token: TokenAccount) -> None:
        """Load a shared balance from the database: this node's view, freshly read, with its own holds
        added back (Redis keeps holds apart)."""
        assert self.shared is not None
        if kind == "user":
            fresh = await self.reload_user(user.id)
            if fresh is None or fresh.status != 1:
                raise InsufficientQuotaError("user quota is not enough", code="insufficient_user_quota")
            await self.shared.load_user(user.id, fresh.quota + fresh.held, force=True)
        else:
            token_account = await self.reload_token(token.id)
            if token_account is None or token_account.key != token.key:
                raise InsufficientQuotaError("令牌额度不足 (token quota is not enough)",
                                             code="pre_consume_token_quota_failed")
            await self.shared.load_token(token.id, token.key, token_account.remain_quota + token_account.held,
                                         force=True)

    def _reserve_alone(self, user: UserAccount, token: TokenAccount, amount: int) -> Reservation:
        reservation = self.reserve(user, token, amount)
        self._charged_alone(user.id, token.id)
        return reservation

    def _charged_alone(self, user_id: int, token_id: int) -> None:
        self._alone[0].add(user_id)
        self._alone[1].add(token_id)

    async def _rejoin(self) -> None:
        """Redis is back: drop the shared balances of what this node charged alone; they reload from the
        database (where those charges are, or soon are: this node's own unwritten ones are added)."""
        assert self.shared is not None
        users, tokens = self._alone
        self._alone = (set(), set())
        try:
            await self.shared.forget(users, tokens, recovering=True)
        except Exception:
            self._alone[0].update(users)
            self._alone[1].update(tokens)
            raise

    def _shared_settle(self, reservation: Reservation, charge: int) -> None:
        """Release the Redis hold and take the charge there, in the background: the answer does not wait."""
        user, token = reservation.user, reservation.token
        if not reservation.shared:  # reserved while Redis was away: its hashes do not count this charge
            if self.shared is not None and self.shared.link.up:
                self._spawn(self._forget_now(user.id, token.id))
            else:
                self._charged_alone(user.id, token.id)
            return
        assert self.shared is not None
        call = self.shared.settle(user.id, token.id, not token.unlimited, reservation.amount, charge)
        self._spawn(self._settle_shared(call, user.id, token.id))

    async def _settle_shared(self, call: Coroutine[Any, Any, None], user_id: int, token_id: int) -> None:
        try:
            await call
        except RedisUnavailableError:  # the hold and the charge are not in Redis: reload these when it is back
            self._charged_alone(user_id, token_id)

    async def _forget_now(self, user_id: int, token_id: int) -> None:
        assert self.shared is not None
        try:
            await self.shared.forget({user_id}, {token_id})
        except RedisUnavailableError:
            self._charged_alone(user_id, token_id)

    def _hold(self, user: UserAccount, token: TokenAccount, amount: int) -> None:
        user.quota -= amount
        user.held += amount
        token.used_quota += amount
        token.held += amount
        if not token.unlimited:
            token.remain_quota -= amount

    def reserve(self, user: UserAccount, token: TokenAccount, amount: int) -> Reservation:
        """Hold ``amount`` for one upstream attempt, or raise InsufficientQuotaError (HTTP 403).

        Check and subtraction happen without an await in between, so concurrent requests cannot both
        pass a check that only one of them can afford. The hold stays in memory: a process that dies leaves
        nothing to undo in the database.
        """
        if len(self._pending.logs) >= MAX_PENDING_LOGS:
            raise StoreError("the database is not keeping up with the accounting; try again shortly",
                             status=503, code="accounting_backlog")
        amount = max(0, amount)
        if user.quota - amount < 0:
            raise InsufficientQuotaError("user quota is not enough", code="insufficient_user_quota")
        if not token.unlimited and token.remain_quota < amount:
            raise InsufficientQuotaError("令牌额度不足 (token quota is not enough)",
                                         code="pre_consume_token_quota_failed")
        self._hold(user, token, amount)
        return Reservation(user, token, amount)

    def _release(self, reservation: Reservation) -> None:
        user, token, amount = reservation.user, reservation.token, reservation.amount
        user.quota += amount
        user.held -= amount
        token.used_quota -= amount
        token.held -= amount
        if not token.unlimited:
            token.remain_quota += amount

    def settle(self, reservation: Reservation, quota: int, channel_id: int, log_row: LogRow | None) -> None:
        """Charge the final ``quota`` for a successful request: journaled first (a killed process keeps it),
        then the balances move by the difference from the reservation and the change is queued for the
        database, with the consume log (if any)."""
        if reservation.done:
            raise RuntimeError("reservation settled twice")
        user, token = reservation.user, reservation.token
        now = int(time.time())
        limited = not token.unlimited
        # The row goes to the journal as it is (JSON holds any value); it is fitted to its columns when it is
        # written to the database, on the writer thread (LogRow.checked in insert_logs).
        seq = self._journaled(charge_payload(user.id, token.id, token.key, limited, channel_id, quota, now, log_row))
        reservation.done = True
        held = reservation.amount  # the hold is released and the final quota taken, in one step
        user.quota += held - quota
        user.held -= held
        user.used_quota += quota
        user.request_count += 1
        token.held -= held
        token.used_quota += quota - held
        if limited:
            token.remain_quota += held - quota
        self._pending.charge(user.id, token.id, token.key, limited, channel_id, quota, now)
        if seq:
            self._pending.seq = seq
        if log_row is not None:
            self._queue_log(log_row, seq)
        if self.shared is not None:
            self._shared_settle(reservation, quota)
        self._wake.set()

    def refund(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the attempt failed). Idempotent."""
        if reservation.done:
            return
        reservation.done = True
        self._release(reservation)
        if reservation.shared:
            self._shared_settle(reservation, 0)
        self._pending.token(reservation.token.id, reservation.token.key, 0, 0, int(time.time()))  # accessed only
        self._wake.set()

    def add_log(self, row: LogRow) -> None:
        """Queue a log row that belongs to no charge (an admin move whose balance change is already
        committed, when the logs live in another database): journaled, then written with the next batch."""
        checked = row.checked()
        self._queue_log(checked, self._journaled(log_payload(checked)), notify=False)
        self._wake.set()

    def _journaled(self, payload: list[Any]) -> int:
        """Append to the journal; its sequence number, or 0 when the disk refused. The charge then still
        counts and reaches the database with the next batch, but is not safe from a crash until the journal
        works again: serving goes on, and the operator hears of it."""
        try:
            return self._journal.append(payload)
        except OSError as exc:
            now = time.monotonic()
            if now - self._journal_failure_logged >= FAILURE_LOG_SECONDS:
                log.error("cannot write the journal in %s (%s): charges are not safe from a crash until it works "
                          "again", self._journal.directory, exc.strerror or exc)
                self._journal_failure_logged = now
            return 0

    def _queue_log(self, row: LogRow, seq: int, notify: bool = True) -> None:
        self._pending.logs.append(row)
        if seq:
            self._pending.log_seq = seq
        if notify:
            for listener in self.on_log:
                try:
                    listener(row)
                except Exception:  # a failing observer must not break accounting
                    log.exception("log listener failed")


def _cause(exc: BaseException) -> str:
    """The database's own words: StoreError hides them from clients, the operator needs them."""
    cause = exc.__cause__ or exc
    return f"{type(cause).__name__}: {cause}"


def _evict(accounts: OrderedDict[int, Any]) -> list[Any]:
    """Keep at most MAX_ACCOUNTS, dropping the least recently used — never one with quota held by a request
    in flight, whose hold the next load could not know about (it stays, over the limit, until released)."""
    excess = len(accounts) - MAX_ACCOUNTS
    if excess <= 0:
        return []
    evicted = []
    for ident in list(itertools.islice(accounts, excess + EVICTION_LOOKAHEAD)):
        if not accounts[ident].held:
            evicted.append(accounts.pop(ident))
            if len(evicted) == excess:
                break
    return evicted


__all__ = ["LOGS", "Ledger", "Reservation", "ShutdownReport", "TokenAccount", "UserAccount"]
