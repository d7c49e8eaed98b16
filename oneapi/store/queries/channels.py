"""Channels and their abilities (the (group, model) → channel routing index).

Abilities are rebuilt in the same transaction as every channel change, so the index never disagrees with
the channels table.
"""

from __future__ import annotations

from typing import Any

from oneapi.store.database import Database
from oneapi.store.queries.common import as_id, dicts, either, first, prefix_match

STATUS_UNKNOWN, STATUS_ENABLED, STATUS_MANUALLY_DISABLED, STATUS_AUTO_DISABLED = 0, 1, 2, 3


def split_list(text: str | None) -> list[str]:
    """A comma list as One API stores it, trimmed, without empties or duplicates, order kept."""
    seen: dict[str, None] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if part:
            seen.setdefault(part, None)
    return list(seen)


def ability_rows(channel: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"group": group, "model": model, "channel_id": channel["id"],
             "enabled": channel["status"] == STATUS_ENABLED, "priority": channel.get("priority") or 0}
            for group in split_list(channel.get("group")) for model in split_list(channel.get("models"))]


def _rebuild_abilities(db: Database, channel_id: int) -> None:
    t = db.tables
    t.ability.delete().where(t.ability.channel_id == channel_id).execute()
    row = first(t.channel.select().where(t.channel.id == channel_id))
    if row is not None:
        rows = ability_rows(row)
        if rows:
            t.ability.insert_many(rows).execute()


def list_page(db: Database, offset: int, limit: int) -> list[dict[str, Any]]:
    t = db.tables.channel
    return dicts(t.select().order_by(t.priority.desc(), t.id.desc()).offset(offset).limit(limit))


def list_all(db: Database) -> list[dict[str, Any]]:
    t = db.tables.channel
    return dicts(t.select().order_by(t.id))


def search(db: Database, keyword: str, limit: int) -> list[dict[str, Any]]:
    t = db.tables.channel
    ident = as_id(keyword)
    cond = prefix_match(t.name, keyword) if ident is None else either(prefix_match(t.name, keyword), t.id == ident)
    return dicts(t.select().where(cond).order_by(t.id.desc()).limit(limit))


def names(db: Database, channel_ids: list[int]) -> dict[int, str]:
    """The names of the given channels (missing ids are left out)."""
    if not channel_ids:
        return {}
    t = db.tables.channel
    return {int(r["id"]): str(r["name"] or "") for r in dicts(t.select(t.id, t.name).where(t.id.in_(channel_ids)))}


def get(db: Database, channel_id: int) -> dict[str, Any] | None:
    t = db.tables.channel
    return first(t.select().where(t.id == channel_id))


def insert_many(db: Database, rows: list[dict[str, Any]]) -> list[int]:
    """Create channels and their abilities in one transaction; returns the new ids."""
    t = db.tables
    ids: list[int] = []
    with db.main.atomic():
        for row in rows:
            channel_id = int(t.channel.insert(**row).execute())
            _rebuild_abilities(db, channel_id)
            ids.append(channel_id)
    return ids


def update(db: Database, channel_id: int, fields: dict[str, Any]) -> int:
    t = db.tables
    with db.main.atomic():
        changed = int(t.channel.update(**fields).where(t.channel.id == channel_id).execute()) if fields else 0
        if changed or not fields:
            _rebuild_abilities(db, channel_id)
    return changed


def set_status(db: Database, channel_id: int, status: int) -> int:
    t = db.tables
    with db.main.atomic():
        changed = int(t.channel.update(status=status).where(t.channel.id == channel_id).execute())
        t.ability.update(enabled=status == STATUS_ENABLED).where(t.ability.channel_id == channel_id).execute()
    return changed


def record_test(db: Database, channel_id: int, test_time: int, response_ms: int) -> int:
    t = db.tables.channel
    return int(t.update(test_time=test_time, response_time=response_ms).where(t.id == channel_id).execute())


def record_balance(db: Database, channel_id: int, balance: float, updated: int) -> int:
    t = db.tables.channel
    return int(t.update(balance=balance, balance_updated_time=updated).where(t.id == channel_id).execute())


def delete(db: Database, channel_id: int) -> int:
    t = db.tables
    with db.main.atomic():
        t.ability.delete().where(t.ability.channel_id == channel_id).execute()
        return int(t.channel.delete().where(t.channel.id == channel_id).execute())


def delete_disabled(db: Database) -> int:
    t = db.tables
    disabled = (STATUS_MANUALLY_DISABLED, STATUS_AUTO_DISABLED)
    with db.main.atomic():
        ids = [r["id"] for r in dicts(t.channel.select(t.channel.id).where(t.channel.status.in_(disabled)))]
        if not ids:
            return 0
        t.ability.delete().where(t.ability.channel_id.in_(ids)).execute()
        return int(t.channel.delete().where(t.channel.id.in_(ids)).execute())


def group_models(db: Database, group: str) -> list[str]:
    """Distinct models that enabled channels serve to ``group``, sorted."""
    a = db.tables.ability
    query = a.select(a.model).where(a.group == group, a.enabled == True).distinct()  # noqa: E712
    return sorted(r["model"] for r in dicts(query))


def abilities(db: Database) -> list[dict[str, Any]]:
    a = db.tables.ability
    return dicts(a.select().order_by(a.group, a.model, a.channel_id))
