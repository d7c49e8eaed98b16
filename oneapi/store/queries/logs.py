"""The logs table: consume, top-up, manage, system and test records, with One API's filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import peewee as pw

from oneapi.store.database import Database
from oneapi.store.queries.accounting import LogRow
from oneapi.store.queries.common import as_id, dicts, either, prefix_match

TYPE_UNKNOWN, TYPE_TOPUP, TYPE_CONSUME, TYPE_MANAGE, TYPE_SYSTEM, TYPE_TEST = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True)
class LogFilter:
    """One API's log filters; zero/empty means "any"."""

    log_type: int = 0
    start: int = 0
    end: int = 0
    user_id: int = 0
    username: str = ""
    token_name: str = ""
    model_name: str = ""
    channel_id: int = 0


def _where(t: Any, f: LogFilter) -> list[pw.Expression]:
    conds: list[pw.Expression] = []
    if f.log_type:
        conds.append(t.type == f.log_type)
    if f.start:
        conds.append(t.created_at >= f.start)
    if f.end:
        conds.append(t.created_at <= f.end)
    if f.user_id:
        conds.append(t.user_id == f.user_id)
    if f.username:
        conds.append(t.username == f.username)
    if f.token_name:
        conds.append(t.token_name == f.token_name)
    if f.model_name:
        conds.append(t.model_name == f.model_name)
    if f.channel_id:
        conds.append(t.channel_id == f.channel_id)
    return conds


def insert(db: Database, row: LogRow) -> int:
    """Write one row (fit for its columns: ``LogRow.checked``); returns its id."""
    return int(db.tables.log.insert(**row.checked().as_dict()).execute())


def insert_many(db: Database, rows: list[LogRow]) -> int:
    if rows:
        with db.logs.atomic():
            db.tables.log.insert_many([row.checked().as_dict() for row in rows]).execute()
    return len(rows)


def list_page(db: Database, f: LogFilter, offset: int, limit: int) -> list[dict[str, Any]]:
    t = db.tables.log
    query = t.select()
    conds = _where(t, f)
    if conds:
        query = query.where(*conds)
    return dicts(query.order_by(t.id.desc()).offset(offset).limit(limit))


def consume_totals(db: Database, f: LogFilter) -> dict[str, int]:
    """Count and sums of the consume logs matching the filter (the web console's usage totals)."""
    t = db.tables.log
    conds = [*_where(t, f), t.type == TYPE_CONSUME]
    query = (t.select(pw.fn.COUNT(t.id).alias("requests"), pw.fn.SUM(t.quota).alias("quota"),
                      pw.fn.SUM(t.prompt_tokens).alias("prompt_tokens"),
                      pw.fn.SUM(t.completion_tokens).alias("completion_tokens"))
             .where(*conds))
    row = dicts(query)[0]
    return {k: int(v or 0) for k, v in row.items()}  # SUM() is DECIMAL (or NULL) on some backends


def consumed_quota(db: Database, f: LogFilter) -> int:
    """Σ quota of consume logs matching the filter (``GET /api/log/stat``)."""
    t = db.tables.log
    conds = [*_where(t, f), t.type == TYPE_CONSUME]
    value = t.select(pw.fn.COALESCE(pw.fn.SUM(t.quota), 0)).where(*conds).scalar()
    return int(value or 0)


def search(db: Database, keyword: str, limit: int, user_id: int = 0) -> list[dict[str, Any]]:
    """One API's search: a number matches the log type, anything matches a content prefix (admins)."""
    t = db.tables.log
    log_type = as_id(keyword)
    cond = prefix_match(t.content, keyword) if log_type is None \
        else either(t.type == log_type, prefix_match(t.content, keyword))
    conds: list[Any] = [cond]
    if user_id:
        conds.append(t.user_id == user_id)
    return dicts(t.select().where(*conds).order_by(t.id.desc()).limit(limit))


def delete_before(db: Database, timestamp: int) -> int:
    t = db.tables.log
    return int(t.delete().where(t.created_at < timestamp).execute())


def daily_usage(db: Database, user_id: int, since: int, utc_offset: int = 0) -> list[dict[str, Any]]:
    """Consume logs of one user grouped by day and model (the dashboard). Days run from midnight to midnight at
    ``utc_offset`` seconds east of UTC; ``day`` is the day's start as a timestamp whose UTC date is that day."""
    t = db.tables.log
    # integer division, not `created_at % 86400`: peewee's `%` on a field means LIKE
    div = pw.SQL("DIV" if db.log_spec.kind == "mysql" else "/")
    shifted = t.created_at + utc_offset if utc_offset else t.created_at
    day = pw.NodeList((shifted, div, 86400), parens=True) * 86400
    query = (t.select(day.alias("day"), t.model_name, pw.fn.COUNT(t.id).alias("request_count"),
                      pw.fn.SUM(t.quota).alias("quota"), pw.fn.SUM(t.prompt_tokens).alias("prompt_tokens"),
                      pw.fn.SUM(t.completion_tokens).alias("completion_tokens"))
             .where(t.user_id == user_id, t.type == TYPE_CONSUME, t.created_at >= since)
             .group_by(day, t.model_name).order_by(day, t.model_name))
    # SUM() is DECIMAL on MySQL and PostgreSQL; callers (and JSON) get ints on every backend
    sums = ("quota", "prompt_tokens", "completion_tokens")
    return [{**row, **{k: int(row[k] or 0) for k in sums}} for row in dicts(query)]
