"""Users: lookups, listing, creation with the default token, and atomic quota moves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import peewee as pw

from oneapi.errors import ConflictError
from oneapi.store.database import Database
from oneapi.store.queries import sessions
from oneapi.store.queries.accounting import LogRow, log_in_transaction
from oneapi.store.queries.common import as_id, dicts, either, exact, first, prefix_match

STATUS_ENABLED, STATUS_DISABLED, STATUS_DELETED = 1, 2, 3

UserOrder = Literal["id", "quota", "used_quota", "request_count"]


def count(db: Database) -> int:
    return int(db.tables.user.select().count())


def get(db: Database, user_id: int) -> dict[str, Any] | None:
    t = db.tables.user
    return first(t.select().where(t.id == user_id))


def find_by_username(db: Database, username: str) -> dict[str, Any] | None:
    t = db.tables.user
    return first(t.select().where(t.username == username))


def find_for_login(db: Database, name: str) -> dict[str, Any] | None:
    """The live user whose username, or else e-mail, is ``name`` (One API lets either log in)."""
    t = db.tables.user
    live = t.status != STATUS_DELETED
    return first(t.select().where(live, t.username == name)) or (
        first(t.select().where(live, t.email == name, t.email != "")) if "@" in name else None)


def find_by_access_token(db: Database, token: str) -> dict[str, Any] | None:
    """The user whose access token is exactly ``token``."""
    t = db.tables.user
    return first(t.select().where(exact(db, t.access_token, token)))


def find_by_aff_code(db: Database, code: str) -> dict[str, Any] | None:
    t = db.tables.user
    return first(t.select().where(t.aff_code == code, t.status == STATUS_ENABLED))


def list_page(db: Database, offset: int, limit: int, order: UserOrder = "id") -> list[dict[str, Any]]:
    t = db.tables.user
    sort = {"id": t.id.desc(), "quota": t.quota.desc(), "used_quota": t.used_quota.desc(),
            "request_count": t.request_count.desc()}[order]
    query = t.select().where(t.status != STATUS_DELETED).order_by(sort, t.id.desc())
    return dicts(query.offset(offset).limit(limit))


def search(db: Database, keyword: str, limit: int) -> list[dict[str, Any]]:
    t = db.tables.user
    conds = [prefix_match(t.username, keyword), prefix_match(t.email, keyword), prefix_match(t.display_name, keyword)]
    if (ident := as_id(keyword)) is not None:
        conds.append(t.id == ident)
    cond = either(*conds)
    return dicts(t.select().where(t.status != STATUS_DELETED, cond).order_by(t.id.desc()).limit(limit))


def username_taken(db: Database, username: str, except_id: int = 0) -> bool:
    t = db.tables.user
    return t.select().where(t.username == username, t.id != except_id).exists()


def insert(db: Database, user: dict[str, Any], tokens: list[dict[str, Any]],
           inviter: tuple[int, int] | None = None) -> int:
    """Create a user and its tokens in one transaction; credit ``inviter`` = (user id, quota) if given.

    Raises ConflictError when the username (or a generated unique value) is already taken.
    """
    return register(db, user, tokens, inviter)[0]


def register(db: Database, user: dict[str, Any], tokens: list[dict[str, Any]],
             inviter: tuple[int, int] | None = None,
             gift_logs: Callable[[int], list[LogRow]] | None = None) -> tuple[int, list[LogRow]]:
    """:func:`insert`, with the log rows of the new user's gifts (``gift_logs(new user id)``) in the same
    transaction. Returns the user id and the log rows left for the ledger (see ``log_in_transaction``)."""
    t = db.tables
    try:
        with db.main.atomic():
            if t.user.select().where(t.user.username == user["username"]).exists():
                raise ConflictError(f"username {user['username']!r} is already taken")
            user_id = int(t.user.insert(**user).execute())
            for token in tokens:
                t.token.insert(user_id=user_id, **token).execute()
            if inviter and inviter[1]:
                t.user.update(quota=t.user.quota + inviter[1]).where(t.user.id == inviter[0]).execute()
            leftover = log_in_transaction(db, gift_logs(user_id)) if gift_logs else []
    except pw.IntegrityError:
        raise ConflictError(f"username {user['username']!r} is already taken") from None
    return user_id, leftover


def update(db: Database, user_id: int, fields: dict[str, Any], keep_session: str = "") -> int:
    """Set plain fields (never quota deltas: use add_quota). Returns rows changed.

    A new password or a status other than enabled ends the user's web sessions in the same transaction (all but
    ``keep_session``, the digest of the browser that changed its own password)."""
    if not fields:
        return 0
    t = db.tables.user
    try:
        with db.main.atomic():
            changed = int(t.update(**fields).where(t.id == user_id).execute())
            if changed and ("password" in fields or fields.get("status", STATUS_ENABLED) != STATUS_ENABLED):
                sessions.end_for_user(db, user_id, keep_session)
            return changed
    except pw.IntegrityError:
        raise ConflictError("that username is already taken") from None


def add_quota(db: Database, user_id: int, delta: int) -> int:
    """Atomically add ``delta`` (may be negative) to the user's quota. Returns rows changed."""
    t = db.tables.user
    return int(t.update(quota=t.quota + delta).where(t.id == user_id).execute())


def credit(db: Database, user_id: int, delta: int, log: LogRow) -> list[LogRow] | None:
    """Add ``delta`` to the user's quota and write its log row, in one transaction. None: no such user;
    else the log rows left for the ledger (see ``log_in_transaction``)."""
    with db.main.atomic():
        if not add_quota(db, user_id, delta):
            return None
        return log_in_transaction(db, [log])


def set_quota(db: Database, user_id: int, quota: int,
              describe: Callable[[int, int], LogRow] | None = None) -> tuple[int, int, list[LogRow]] | None:
    """Set an absolute quota (admin edit) with the log row ``describe(old, new)`` in the same transaction;
    returns (old, new, log rows left for the ledger) or None if no such user."""
    t = db.tables.user
    with db.main.atomic():
        row = first(t.select(t.quota).where(t.id == user_id).for_update()
                    if db.kind != "sqlite" else t.select(t.quota).where(t.id == user_id))
        if row is None:
            return None
        old = int(row["quota"])
        t.update(quota=quota).where(t.id == user_id).execute()
        leftover = log_in_transaction(db, [describe(old, quota)]) if describe and old != quota else []
    return old, quota, leftover


def soft_delete(db: Database, user_id: int, new_username: str) -> int:
    """One API's delete: status 3 and the username freed by renaming. Rows stay (logs refer to them); the
    user's tokens stop working because the relay checks the owner's status, and the access token is cleared."""
    t = db.tables.user
    with db.main.atomic():
        sessions.end_for_user(db, user_id)
        return int(t.update(status=STATUS_DELETED, username=new_username, access_token=None)
                   .where(t.id == user_id).execute())


def set_unique(db: Database, user_id: int, field: Literal["access_token", "aff_code"], value: str) -> bool:
    """Set a unique column; False if another user has that value already."""
    t = db.tables.user
    try:
        return bool(t.update({getattr(t, field): value}).where(t.id == user_id).execute())
    except pw.IntegrityError:
        return False


def find_root(db: Database) -> dict[str, Any] | None:
    """The first enabled root user: the identity the local admin socket acts as."""
    t = db.tables.user
    return first(t.select().where(t.role == 100, t.status == STATUS_ENABLED).order_by(t.id))


Identity = Literal["github_id", "wechat_id", "lark_id", "oidc_id"]


def find_by_identity(db: Database, column: Identity, value: str) -> dict[str, Any] | None:
    """The user (whatever its status, as One API) bound to this outside account: a GitHub login, a WeChat id,
    a Lark open_id or an OIDC subject, compared exactly (OIDC subjects and open_ids are case-sensitive)."""
    t = db.tables.user
    field = getattr(t, column)
    return first(t.select().where(exact(db, field, value), field != "").order_by(t.id))


def max_id(db: Database) -> int:
    """The highest user id (One API names outside accounts' users ``github_<max id + 1>``)."""
    t = db.tables.user
    row = first(t.select(pw.fn.MAX(t.id).alias("m")))
    return int(row["m"] or 0) if row else 0


def email_taken(db: Database, email: str, except_id: int = 0) -> bool:
    """Whether a live user other than ``except_id`` has this address (compared without case)."""
    t = db.tables.user
    return t.select().where(pw.fn.LOWER(t.email) == email.lower(), t.status != STATUS_DELETED,
                            t.id != except_id).exists()


def set_password_by_email(db: Database, email: str, hashed: str) -> int:
    """Set the password of the live users with this address (One API resets them all). Returns rows changed."""
    t = db.tables.user
    holders = (pw.fn.LOWER(t.email) == email.lower()) & (t.status != STATUS_DELETED)
    with db.main.atomic():
        for user_id in [row["id"] for row in dicts(t.select(t.id).where(holders))]:
            sessions.end_for_user(db, user_id)  # whoever knew the old password is logged out
        return int(t.update(password=hashed).where(holders).execute())


def bind_identity(db: Database, user_id: int, column: Identity | Literal["email"], value: str) -> bool:
    """Set an outside account (or the e-mail address) of a user, unless another user holds it already:
    checked and written in one transaction. False when taken."""
    t = db.tables.user
    field = getattr(t, column)
    with db.main.atomic():
        taken = exact(db, field, value) if column != "email" else pw.fn.LOWER(field) == value.lower()
        others = t.select().where(taken, t.id != user_id)
        if column == "email":
            others = others.where(t.status != STATUS_DELETED)
        if others.exists():
            return False
        t.update({field: value}).where(t.id == user_id).execute()
    return True


def ids_with_email(db: Database, email: str) -> list[int]:
    t = db.tables.user
    return [int(r["id"]) for r in dicts(t.select(t.id).where(pw.fn.LOWER(t.email) == email.lower(),
                                                             t.status != STATUS_DELETED))]
