"""Write-behind accounting: applying a batch of quota deltas and consume logs in one go.

Every change is relative (``quota = quota + ?``), so batches from several nodes and admin edits interleave
without losing an update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oneapi.store.database import Database
from oneapi.store.queries.common import first


@dataclass
class Batch:
    """Deltas keyed by id. users: [quota, used_quota, request_count]; tokens: [remain_quota, used_quota,
    accessed_time (absolute, max wins)]; channels: used_quota."""

    users: dict[int, list[int]] = field(default_factory=dict)
    tokens: dict[int, list[int]] = field(default_factory=dict)
    channels: dict[int, int] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.users or self.tokens or self.channels or self.logs)


class LogsNotWrittenError(Exception):
    """The batch's deltas were committed but its log rows were not (only with a separate LOG_SQL_DSN
    database): the caller must retry the log rows alone, never the deltas again."""


def apply_batch(db: Database, batch: Batch) -> None:
    """Commit the deltas and the log rows. With the logs in the main database it is one transaction (all or
    nothing, so a failed batch can be retried whole); otherwise see :class:`LogsNotWrittenError`."""
    t = db.tables
    same_db = db.logs is db.main
    with db.main.atomic():
        for user_id, (quota, used, count) in batch.users.items():
            if quota or used or count:
                t.user.update(quota=t.user.quota + quota, used_quota=t.user.used_quota + used,
                              request_count=t.user.request_count + count).where(t.user.id == user_id).execute()
        for token_id, (remain, used, accessed) in batch.tokens.items():
            fields: dict[Any, Any] = {}
            if remain:
                fields[t.token.remain_quota] = t.token.remain_quota + remain
            if used:
                fields[t.token.used_quota] = t.token.used_quota + used
            if accessed:
                fields[t.token.accessed_time] = accessed
            if fields:
                t.token.update(fields).where(t.token.id == token_id).execute()
        for channel_id, used in batch.channels.items():
            if used:
                t.channel.update(used_quota=t.channel.used_quota + used).where(t.channel.id == channel_id).execute()
        if batch.logs and same_db:
            insert_logs(db, batch.logs)
    if batch.logs and not same_db:
        try:
            insert_logs(db, batch.logs)
        except Exception as exc:
            raise LogsNotWrittenError(f"{type(exc).__name__}: {exc}") from exc


_LOG_COLUMNS = ("user_id", "username", "created_at", "type", "content", "token_name", "model_name", "quota",
                "prompt_tokens", "completion_tokens", "channel_id", "request_id", "elapsed_time", "is_stream",
                "system_prompt_reset")


def insert_logs(db: Database, rows: list[dict[str, Any]]) -> None:
    """Insert consume logs with one executemany: peewee's per-row query building costs more than SQLite's
    insert itself at relay rates."""
    logs = db.logs
    columns = ", ".join(c.join(logs.quote) for c in _LOG_COLUMNS)
    placeholders = ", ".join([logs.param] * len(_LOG_COLUMNS))
    sql = f"INSERT INTO {'logs'.join(logs.quote)} ({columns}) VALUES ({placeholders})"
    values = [tuple(row.get(c, _LOG_DEFAULTS.get(c, 0)) for c in _LOG_COLUMNS) for row in rows]
    with logs.atomic():
        logs.cursor().executemany(sql, values)


_LOG_DEFAULTS: dict[str, Any] = {"username": "", "content": "", "token_name": "", "model_name": "",
                                 "request_id": "", "is_stream": False, "system_prompt_reset": False}


def load_user(db: Database, user_id: int) -> dict[str, Any] | None:
    t = db.tables.user
    return first(t.select(t.id, t.username, t.group, t.status, t.role, t.quota, t.used_quota, t.request_count)
                 .where(t.id == user_id))


def load_token(db: Database, key: str) -> dict[str, Any] | None:
    t = db.tables.token
    return first(t.select().where(t.key == key))
