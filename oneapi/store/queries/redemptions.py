"""Vouchers (One API calls them redemption codes). Redeeming is one conditional UPDATE, so a code
credits exactly once however many requests or nodes race for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import peewee as pw

from oneapi.errors import ConflictError, NotFoundError
from oneapi.store.database import Database
from oneapi.store.queries.accounting import LogRow, log_in_transaction
from oneapi.store.queries.common import as_id, dicts, either, exact, first, prefix_match

STATUS_ENABLED, STATUS_DISABLED, STATUS_USED = 1, 2, 3


def list_page(db: Database, offset: int, limit: int) -> list[dict[str, Any]]:
    t = db.tables.redemption
    return dicts(t.select().order_by(t.id.desc()).offset(offset).limit(limit))


def search(db: Database, keyword: str, limit: int) -> list[dict[str, Any]]:
    t = db.tables.redemption
    ident = as_id(keyword)
    cond = prefix_match(t.name, keyword) if ident is None else either(prefix_match(t.name, keyword), t.id == ident)
    return dicts(t.select().where(cond).order_by(t.id.desc()).limit(limit))


def get(db: Database, redemption_id: int) -> dict[str, Any] | None:
    t = db.tables.redemption
    return first(t.select().where(t.id == redemption_id))


def insert_many(db: Database, rows: list[dict[str, Any]]) -> list[str]:
    t = db.tables.redemption
    try:
        with db.main.atomic():
            for row in rows:
                t.insert(**row).execute()
    except pw.IntegrityError:
        raise ConflictError("voucher key collision; nothing was created, try again") from None
    return [row["key"] for row in rows]


def update(db: Database, redemption_id: int, fields: dict[str, Any]) -> int:
    t = db.tables.redemption
    return int(t.update(**fields).where(t.id == redemption_id).execute()) if fields else 0


def delete(db: Database, redemption_id: int) -> int:
    t = db.tables.redemption
    return int(t.delete().where(t.id == redemption_id).execute())


def redeem(db: Database, key: str, user_id: int, now: int,
           describe: Callable[[int], LogRow] | None = None) -> tuple[int, list[LogRow]]:
    """Mark the voucher used, credit its quota to the user and write the log row ``describe(quota)``, in one
    transaction. Returns the quota credited and the log rows left for the ledger (``log_in_transaction``).

    The status check and the state change are one ``UPDATE … WHERE status = 1``: of any number of
    concurrent attempts, exactly one changes a row.
    """
    t = db.tables
    with db.main.atomic():
        row = first(t.redemption.select().where(exact(db, t.redemption.key, key)))
        if row is None:
            raise NotFoundError("invalid voucher code")
        if row["status"] != STATUS_ENABLED:
            raise ConflictError("this voucher has already been used" if row["status"] == STATUS_USED
                                else "this voucher is disabled")
        claimed = (t.redemption.update(status=STATUS_USED, redeemed_time=now, user_id=user_id)
                   .where(t.redemption.id == row["id"], t.redemption.status == STATUS_ENABLED).execute())
        if claimed != 1:
            raise ConflictError("this voucher has already been used")
        credited = t.user.update(quota=t.user.quota + row["quota"]).where(t.user.id == user_id).execute()
        if credited != 1:
            raise NotFoundError("no such user")
        quota = int(row["quota"])
        leftover = log_in_transaction(db, [describe(quota)]) if describe else []
    return quota, leftover
