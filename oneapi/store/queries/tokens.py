"""Relay tokens (API keys). Every lookup that serves a user is scoped by ``user_id``."""

from __future__ import annotations

from typing import Any, Literal

import peewee as pw

from oneapi.errors import ConflictError
from oneapi.store.database import Database
from oneapi.store.queries.common import dicts, exact, first, prefix_match

STATUS_ENABLED, STATUS_DISABLED, STATUS_EXPIRED, STATUS_EXHAUSTED = 1, 2, 3, 4

TokenOrder = Literal["id", "remain_quota", "used_quota"]


def list_page(db: Database, user_id: int, offset: int, limit: int,
              order: TokenOrder = "id") -> list[dict[str, Any]]:
    t = db.tables.token
    # One API: "remain_quota" orders unlimited tokens first (unlimited_quota desc, remain_quota desc)
    sort = {"id": [t.id.desc()], "remain_quota": [t.unlimited_quota.desc(), t.remain_quota.desc()],
            "used_quota": [t.used_quota.desc()]}[order]
    return dicts(t.select().where(t.user_id == user_id).order_by(*sort, t.id.desc()).offset(offset).limit(limit))


def search(db: Database, user_id: int, keyword: str, limit: int) -> list[dict[str, Any]]:
    t = db.tables.token
    return dicts(t.select().where(t.user_id == user_id, prefix_match(t.name, keyword))
                 .order_by(t.id.desc()).limit(limit))


def get(db: Database, token_id: int, user_id: int) -> dict[str, Any] | None:
    t = db.tables.token
    return first(t.select().where(t.id == token_id, t.user_id == user_id))


def find_by_key(db: Database, key: str) -> dict[str, Any] | None:
    """The token whose key is exactly ``key`` (never another case or a prefix)."""
    t = db.tables.token
    return first(t.select().where(exact(db, t.key, key)))


def find_by_id(db: Database, token_id: int) -> dict[str, Any] | None:
    t = db.tables.token
    return first(t.select().where(t.id == token_id))


def insert(db: Database, fields: dict[str, Any]) -> int:
    t = db.tables.token
    try:
        return int(t.insert(**fields).execute())
    except pw.IntegrityError:
        raise ConflictError("a token with that key already exists") from None


def update(db: Database, token_id: int, user_id: int, fields: dict[str, Any]) -> int:
    if not fields:
        return 0
    t = db.tables.token
    return int(t.update(**fields).where(t.id == token_id, t.user_id == user_id).execute())


def delete(db: Database, token_id: int, user_id: int) -> int:
    t = db.tables.token
    return int(t.delete().where(t.id == token_id, t.user_id == user_id).execute())


def count_for_user(db: Database, user_id: int) -> int:
    t = db.tables.token
    return int(t.select().where(t.user_id == user_id).count())
