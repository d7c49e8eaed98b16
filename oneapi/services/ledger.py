"""The ledger: live balances of users and tokens in memory, reserved and settled without SQL on the hot path,
persisted write-behind in batches.

Why in memory: a relay request would otherwise cost several SQL writes (reserve, settle, log), which caps
throughput at the database's commit rate. Here a reservation is a check-and-subtract on the event loop —
atomic because the loop runs one coroutine at a time — and the deltas are flushed as relative updates
(``quota = quota + ?``) by one background task.

Consistency with the database: an account's view = the database value + deltas not yet committed. Loads and
reloads run on the store's writer thread, which executes in order, so a reload sees every batch submitted
before it and none after; the ledger adds back the batches submitted after the reload (still in flight) and
the deltas not yet submitted. Admin changes (top-up, quota edit, token edit) are written to the database by
their services, which then call :meth:`Ledger.reload_user` / :meth:`reload_token`; no change is lost.

Several nodes without Redis: each node reloads accounts older than SYNC_FREQUENCY on use, so a token can be
overspent by at most what other nodes have in flight before the next reload (One API has the same bound).

Exactness: every reservation is settled or refunded exactly once (:class:`Reservation` refuses a second
settlement), and a token's ``remain_quota + used_quota`` only changes through admin edits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from oneapi.errors import InsufficientQuotaError
from oneapi.store.facade import Store
from oneapi.store.queries.accounting import Batch, LogsNotWrittenError, apply_batch, load_token, load_user
from oneapi.store.queries.channels import split_list

log = logging.getLogger("oneapi.ledger")

MAX_ACCOUNTS = 100_000
COALESCE_SECONDS = 0.2  # even "unbatched", gather a fifth of a second of changes per database transaction
MAX_PENDING_LOGS = 50_000
NEGATIVE_TTL = 10.0  # seconds an unknown token key is remembered as unknown

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
    loaded_at: float = 0.0


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
                        subnets=tuple(subnets), subnet_text=row.get("subnet") or "", loaded_at=now)


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


class Ledger:
    def __init__(self, store: Store, *, flush_interval: float = 0.0, stale_after: float = 600.0) -> None:
        """``flush_interval`` 0 (BATCH_UPDATE_ENABLED off) flushes within COALESCE_SECONDS of a change;
        otherwise deltas accumulate for that many seconds (BATCH_UPDATE_INTERVAL)."""
        self._store = store
        self._flush_interval = flush_interval
        self._stale_after = stale_after
        self._users: OrderedDict[int, UserAccount] = OrderedDict()
        self._tokens: OrderedDict[str, TokenAccount] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._loading: dict[tuple[str, Any], asyncio.Future[Any]] = {}
        self._refreshing: dict[tuple[str, Any], asyncio.Task[Any]] = {}
        self._pending = Batch()
        self._inflight: dict[int, Batch] = {}
        self._generation = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.on_log: list[Callable[[dict[str, Any]], None]] = []

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_loop(), name="oneapi-ledger-flush")

    async def close(self) -> None:
        """Flush everything pending; called on shutdown after requests have drained."""
        self._closing = True
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.flush()

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
            except Exception:  # logged in flush; the deltas are back in pending and retried
                if not self._closing:
                    await asyncio.sleep(1.0)
            if self._closing:
                return  # close() flushes whatever arrives after this

    async def flush(self) -> None:
        """Write every pending delta and log in one batch. On failure the batch returns to pending."""
        if self._pending.empty():
            return
        batch, self._pending = self._pending, Batch()
        self._generation += 1
        generation = self._generation
        self._inflight[generation] = batch
        try:
            await self._store.write(apply_batch, batch)
        except LogsNotWrittenError:  # the deltas are in: retry only the log rows, or they would count twice
            log.exception("could not write %d log rows; will retry", len(batch.logs))
            self._pending.logs[:0] = batch.logs
            self._wake.set()
            raise
        except Exception:
            log.exception("could not write %d accounting changes; will retry", len(batch.users) + len(batch.tokens))
            self._merge_back(batch)
            raise
        finally:
            self._inflight.pop(generation, None)

    def _merge_back(self, batch: Batch) -> None:
        for uid, (q, u, c) in batch.users.items():
            self._user_delta(uid, q, u, c)
        for tid, (r, u, a) in batch.tokens.items():
            self._token_delta(tid, r, u, a)
        for cid, u in batch.channels.items():
            self._pending.channels[cid] = self._pending.channels.get(cid, 0) + u
        self._pending.logs[:0] = batch.logs
        self._wake.set()

    # -- pending deltas ---------------------------------------------------------------------------

    def _user_delta(self, user_id: int, quota: int, used: int = 0, count: int = 0) -> None:
        row = self._pending.users.setdefault(user_id, [0, 0, 0])
        row[0] += quota
        row[1] += used
        row[2] += count
        self._wake.set()

    def _token_delta(self, token_id: int, remain: int, used: int, accessed: int = 0) -> None:
        row = self._pending.tokens.setdefault(token_id, [0, 0, 0])
        row[0] += remain
        row[1] += used
        row[2] = max(row[2], accessed)
        self._wake.set()

    def _unsettled(self, kind: str, ident: int, since_generation: int) -> list[int]:
        """Deltas of ``kind``/``ident`` not in the database as of a read submitted at ``since_generation``."""
        total = [0, 0, 0]
        batches = [b for g, b in self._inflight.items() if g > since_generation] + [self._pending]
        for batch in batches:
            row = (batch.users if kind == "user" else batch.tokens).get(ident)
            if row:
                total[0] += row[0]
                total[1] += row[1]
                total[2] += row[2] if kind == "user" else 0
        return total

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
        account = self._users.get(user_id)
        if account is not None:
            self._users.move_to_end(user_id)
            if time.monotonic() - account.loaded_at > self._stale_after:
                self._refresh_in_background(("user", user_id), lambda: self.reload_user(user_id))
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
        if row is None:
            self._users.pop(user_id, None)
            return None
        fresh = _user_from_row(row, time.monotonic())
        quota, used, count = self._unsettled("user", user_id, generation)
        fresh.quota += quota
        fresh.used_quota += used
        fresh.request_count += count
        current = self._users.get(user_id)
        if current is not None:  # update in place: reservations hold a reference
            current.__dict__.update(fresh.__dict__)
            return current
        self._users[user_id] = fresh
        if len(self._users) > MAX_ACCOUNTS:
            self._users.popitem(last=False)
        return fresh

    async def token(self, key: str) -> TokenAccount | None:
        account = self._tokens.get(key)
        if account is not None:
            self._tokens.move_to_end(key)
            if time.monotonic() - account.loaded_at > self._stale_after:
                self._refresh_in_background(("token", key), lambda: self.reload_token(key))
            return account
        seen = self._unknown.get(key)
        if seen is not None and time.monotonic() - seen < NEGATIVE_TTL:
            return None
        return await self._load("token", key, lambda: self.reload_token(key))

    async def reload_token(self, key: str) -> TokenAccount | None:
        generation = self._generation
        row = await self._store.write(load_token, key)
        now = time.monotonic()
        if row is None:
            self._tokens.pop(key, None)
            self._unknown[key] = now
            if len(self._unknown) > MAX_ACCOUNTS:
                self._unknown.popitem(last=False)
            return None
        self._unknown.pop(key, None)
        fresh = _token_from_row(row, now)
        remain, used, _ = self._unsettled("token", fresh.id, generation)
        fresh.remain_quota += remain
        fresh.used_quota += used
        current = self._tokens.get(key)
        if current is not None:
            current.__dict__.update(fresh.__dict__)
            return current
        self._tokens[key] = fresh
        if len(self._tokens) > MAX_ACCOUNTS:
            self._tokens.popitem(last=False)
        return fresh

    async def user_changed(self, user_id: int) -> None:
        """The user's row changed in the database (admin edit, top-up, voucher): refresh it if cached."""
        if user_id in self._users:
            await self.reload_user(user_id)

    async def token_changed(self, key: str) -> None:
        """The token's row changed or was deleted: refresh (or drop) it if cached."""
        self._unknown.pop(key, None)
        if key in self._tokens:
            await self.reload_token(key)

    # -- money ------------------------------------------------------------------------------------

    def reserve(self, user: UserAccount, token: TokenAccount, amount: int) -> Reservation:
        """Hold ``amount`` for one upstream attempt, or raise InsufficientQuotaError (HTTP 403).

        Check and subtraction happen without an await in between, so concurrent requests cannot both
        pass a check that only one of them can afford.
        """
        amount = max(0, amount)
        if user.quota - amount < 0:
            raise InsufficientQuotaError("user quota is not enough", code="insufficient_user_quota")
        if not token.unlimited and token.remain_quota < amount:
            raise InsufficientQuotaError("令牌额度不足 (token quota is not enough)",
                                         code="pre_consume_token_quota_failed")
        self._move(user, token, amount)
        return Reservation(user, token, amount)

    def _move(self, user: UserAccount, token: TokenAccount, amount: int) -> None:
        """Charge ``amount`` (negative: give back) to the user's balance and the token's counters."""
        user.quota -= amount
        token.used_quota += amount
        remain = 0 if token.unlimited else -amount
        token.remain_quota += remain
        self._user_delta(user.id, -amount)
        self._token_delta(token.id, remain, amount, int(time.time()))

    def settle(self, reservation: Reservation, quota: int, channel_id: int, log_row: dict[str, Any] | None) -> None:
        """Charge the final ``quota`` for a successful request: the difference from the reservation moves,
        the user's usage counters grow, and the consume log (if any) is queued."""
        if reservation.done:
            raise RuntimeError("reservation settled twice")
        reservation.done = True
        user = reservation.user
        self._move(user, reservation.token, quota - reservation.amount)
        user.used_quota += quota
        user.request_count += 1
        self._user_delta(user.id, 0, quota, 1)
        if quota:
            self._pending.channels[channel_id] = self._pending.channels.get(channel_id, 0) + quota
        if log_row is not None:
            self.add_log(log_row)

    def refund(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the attempt failed). Idempotent."""
        if reservation.done:
            return
        reservation.done = True
        self._move(reservation.user, reservation.token, -reservation.amount)

    def add_log(self, row: dict[str, Any]) -> None:
        if len(self._pending.logs) >= MAX_PENDING_LOGS:
            log.error("log queue full (%d rows): dropping a log row; is the database reachable?",
                      MAX_PENDING_LOGS)
            return
        self._pending.logs.append(row)
        for listener in self.on_log:
            try:
                listener(row)
            except Exception:  # a failing observer must not break accounting
                log.exception("log listener failed")
        self._wake.set()
