"""Web sessions kept on the server (issue 11): a signed cookie alone stayed valid after logout and after a
password change (One API has the same weakness). Each login now gets a random sid, carried in the cookie and
recorded in the database (as its SHA-256); a cookie counts only while its row exists and has not expired.
Logout deletes the row; a password change, a ban or a deletion deletes the user's rows in the same transaction
as the change (``queries.users``). Every node reads the same table, so a session ends everywhere at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from oneapi.store.facade import Store
from oneapi.store.queries import sessions as q

LIFETIME = 30 * 24 * 3600  # One API keeps sessions for 30 days
PURGE_EVERY = 3600.0  # seconds between deletions of expired rows (by any node, at a login)


def digest(sid: str) -> str:
    """What the table keeps of a sid: a copy of the table lets nobody in."""
    return hashlib.sha256(sid.encode()).hexdigest()


class Sessions:
    def __init__(self, store: Store, lifetime: int = LIFETIME) -> None:
        self._store = store
        self.lifetime = lifetime
        self._purged_at = 0.0

    async def start(self, user_id: int) -> str:
        """A new session for ``user_id``; returns its sid (for the cookie)."""
        sid = secrets.token_urlsafe(24)
        now = int(time.time())
        await self._store.write(q.create, digest(sid), user_id, now, now + self.lifetime)
        if time.monotonic() - self._purged_at > PURGE_EVERY:
            self._purged_at = time.monotonic()
            await self._store.write(q.end_expired, now)
        return sid

    async def user(self, sid: str, user_id: int) -> dict[str, Any] | None:
        """The user row behind a live session of ``user_id``, or None when it ended or expired."""
        return await self._store.read(q.user_of, digest(sid), user_id, int(time.time()))

    async def end(self, sid: str) -> None:
        await self._store.write(q.end, digest(sid))

    async def count(self, user_id: int) -> int:
        return await self._store.read(q.count_for_user, user_id)
