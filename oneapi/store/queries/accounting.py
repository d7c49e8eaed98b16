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


def apply_batch(db: Database, batch: Batch) -> None:
    t = db.tables
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
    if batch.logs:
        with db.logs.atomic():
            t.log.insert_many(batch.logs).execute()


def load_user(db: Database, user_id: int) -> dict[str, Any] | None:
    t = db.tables.user
    return first(t.select(t.id, t.username, t.group, t.status, t.role, t.quota, t.used_quota, t.request_count)
                 .where(t.id == user_id))


def load_token(db: Database, key: str) -> dict[str, Any] | None:
    t = db.tables.token
    return first(t.select().where(t.key == key))
