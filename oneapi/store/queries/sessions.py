"""Web sessions (``oneapi_sessions``): one row per logged-in browser, keyed by the SHA-256 of its sid."""

from __future__ import annotations

from typing import Any

from oneapi.store.database import Database
from oneapi.store.queries.common import first


def create(db: Database, digest: str, user_id: int, now: int, expires_at: int) -> None:
    db.tables.session.insert(digest=digest, user_id=user_id, created_at=now, expires_at=expires_at).execute()


def user_of(db: Database, digest: str, user_id: int, now: int) -> dict[str, Any] | None:
    """The user of a live session, in one read: the session row must exist, belong to ``user_id`` (the id the
    signed cookie names) and not have expired."""
    u, s = db.tables.user, db.tables.session
    return first(u.select(u).join(s, on=(s.user_id == u.id))
                 .where(s.digest == digest, s.user_id == user_id, s.expires_at > now))


def end(db: Database, digest: str) -> int:
    s = db.tables.session
    return int(s.delete().where(s.digest == digest).execute())


def end_for_user(db: Database, user_id: int, keep: str = "") -> int:
    """End every session of the user, except the one whose digest is ``keep`` (the browser that asked)."""
    s = db.tables.session
    query = s.delete().where(s.user_id == user_id)
    if keep:
        query = query.where(s.digest != keep)
    return int(query.execute())


def end_expired(db: Database, now: int) -> int:
    s = db.tables.session
    return int(s.delete().where(s.expires_at <= now).execute())


def count_for_user(db: Database, user_id: int) -> int:
    s = db.tables.session
    return int(s.select().where(s.user_id == user_id).count())
