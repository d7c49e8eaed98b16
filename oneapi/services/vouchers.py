"""Vouchers (One API's redemption codes): batches of 32-hex keys worth a quota, redeemed exactly once."""

from __future__ import annotations

import time
from typing import Any

from oneapi.errors import InvalidInputError, NotFoundError
from oneapi.services import keys
from oneapi.services.inputs import MAX_SAFE_INT, Fields
from oneapi.services.ledger import Ledger
from oneapi.services.logs import TYPE_TOPUP, Logs
from oneapi.services.options import Options
from oneapi.store.facade import Store
from oneapi.store.queries import redemptions as q
from oneapi.store.queries.accounting import LogRow
from oneapi.store.queries.common import PAGE_SIZE

NAME_MAX = 20
NAME_COLUMN = 191  # redemptions.name
MAX_COUNT = 100


class Vouchers:
    def __init__(self, store: Store, options: Options, logs: Logs, ledger: Ledger) -> None:
        self._store = store
        self._ledger = ledger
        self._options = options
        self._logs = logs

    async def list_page(self, page: int) -> list[dict[str, Any]]:
        return await self._store.read(q.list_page, page * PAGE_SIZE, PAGE_SIZE)

    async def search(self, keyword: str) -> list[dict[str, Any]]:
        if len(keyword) > 64:
            raise InvalidInputError("keyword must be at most 64 characters")
        return await self._store.read(q.search, keyword, 100)

    async def get(self, voucher_id: int) -> dict[str, Any]:
        row = await self._store.read(q.get, voucher_id)
        if row is None:
            raise NotFoundError(f"voucher {voucher_id} does not exist")
        return row

    async def create(self, creator_id: int, body: Any) -> list[str]:
        f = Fields(body)
        name = f.str("name", max_len=NAME_MAX, required=True)
        quota = f.int("quota", required=True, low=1, high=MAX_SAFE_INT)
        count = f.int("count", default=1, low=1, high=MAX_COUNT)
        now = int(time.time())
        rows = [{"user_id": creator_id, "key": keys.uuid_hex(), "status": q.STATUS_ENABLED, "name": name,
                 "quota": quota, "created_time": now, "redeemed_time": 0} for _ in range(count)]
        return await self._store.write(q.insert_many, rows)

    async def update(self, body: Any, status_only: bool) -> dict[str, Any]:
        f = Fields(body)
        voucher_id = f.int("id", required=True, low=1)
        current = await self.get(voucher_id)
        if status_only:
            status = f.int("status", required=True)
            if status not in (q.STATUS_ENABLED, q.STATUS_DISABLED):
                raise InvalidInputError("status must be 1 (enabled) or 2 (disabled)")
            if current["status"] == q.STATUS_USED:
                raise InvalidInputError("a used voucher cannot be re-enabled or disabled")
            changes: dict[str, Any] = {"status": status}
        else:
            # One API checks the name's length only when creating; an edit may keep any name the column holds.
            changes = {"quota": f.int("quota", required=True, low=1, high=MAX_SAFE_INT)}
            if f.has("name"):
                changes["name"] = f.str("name", max_len=NAME_COLUMN)
        await self._store.write(q.update, voucher_id, changes)
        return {**current, **changes}

    async def delete(self, voucher_id: int) -> None:
        if not await self._store.write(q.delete, voucher_id):
            raise NotFoundError(f"voucher {voucher_id} does not exist")

    async def redeem(self, user: dict[str, Any], body: Any) -> int:
        key = Fields(body).str("key", max_len=64, required=True)
        if len(key) != 32 or not key.isalnum():
            raise NotFoundError("invalid voucher code")
        rows: list[LogRow] = []

        def describe(quota: int) -> LogRow:  # written in the transaction that redeems
            rows.append(Logs.row(user["id"], TYPE_TOPUP, f"通过兑换码充值 {self._options.display(quota)}",
                                 user["username"], quota=quota))
            return rows[-1]

        quota, leftover = await self._store.write(q.redeem, key, user["id"], int(time.time()), describe)
        self._logs.committed(rows, leftover)  # before any await: the credit is in, its log must follow
        await self._ledger.user_changed(user["id"])
        return quota
