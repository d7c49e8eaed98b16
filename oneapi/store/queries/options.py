"""The options table: string key → string value."""

from __future__ import annotations

from oneapi.store.database import Database
from oneapi.store.queries.common import dicts


def load_all(db: Database) -> dict[str, str]:
    t = db.tables.option
    return {row["key"]: row["value"] or "" for row in dicts(t.select())}


def save(db: Database, key: str, value: str) -> None:
    """Insert or replace one option (an upsert, so two nodes saving at once cannot collide)."""
    t = db.tables.option
    query = t.insert(key=key, value=value)
    if db.kind == "postgres":
        query = query.on_conflict(conflict_target=[t.key], update={t.value: value})
    else:
        query = query.on_conflict_replace()
    query.execute()
