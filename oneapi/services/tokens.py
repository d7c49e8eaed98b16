"""Relay tokens: a user's API keys with their quota cap, expiry, model list, subnet limits and rate limits.

Every operation is scoped to the calling user: a token id that belongs to someone else is "not found".
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from oneapi.errors import ConflictError, InvalidInputError, NotFoundError
from oneapi.services import keys
from oneapi.services.inputs import MAX_SAFE_INT, Fields
from oneapi.services.ledger import Ledger
from oneapi.services.token_limits import LIMIT_MAX
from oneapi.store.facade import Store
from oneapi.store.queries import tokens as q
from oneapi.store.queries.channels import split_list
from oneapi.store.queries.common import PAGE_SIZE

NAME_MAX = 30
MODELS_MAX = 65_535
SUBNET_MAX = 1024
RATE_LIMITS = ("rpm_limit", "tpm_limit")  # requests and tokens per minute, 0 = no limit (services.token_limits)


def check_subnets(text: str) -> str:
    """A comma list of CIDRs (or single addresses), normalised; raises InvalidInputError on a bad one."""
    parts = split_list(text)
    out = []
    for part in parts:
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise InvalidInputError(f"subnet {part!r} is not a valid CIDR such as 10.0.0.0/8 or 192.168.1.7") from None
    return ",".join(out)


def _fields(f: Fields, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The editable fields of a token, checked. ``current``: the token being updated, whose rate limits stay
    as they are when the body leaves them out (One API's web UI does not know them)."""
    expired_time = f.int("expired_time", default=-1)
    if expired_time != -1 and expired_time <= 0:
        raise InvalidInputError("expired_time must be -1 (never) or a Unix timestamp in seconds")
    models = f.str("models", max_len=MODELS_MAX)
    unlimited = f.bool("unlimited_quota")
    return {
        "name": f.str("name", max_len=NAME_MAX),
        "expired_time": expired_time,
        # -1 is what an unlimited token holds (every user's "default" token), and the web UI sends it back
        # when that token is edited; a limited token needs a real amount.
        "remain_quota": f.int("remain_quota", low=-1 if unlimited else 0, high=MAX_SAFE_INT),
        "unlimited_quota": unlimited,
        "models": ",".join(split_list(models)),
        "subnet": check_subnets(f.str("subnet", max_len=SUBNET_MAX)),
        **{name: f.int(name, default=int((current or {}).get(name) or 0), low=0, high=LIMIT_MAX)
           for name in RATE_LIMITS},
    }


def _usable_status(token: dict[str, Any], now: int) -> str | None:
    """Why a token cannot be enabled, or None."""
    if token["expired_time"] != -1 and token["expired_time"] <= now:
        return "令牌已过期，无法启用，请先修改令牌过期时间，或者设置为永不过期 (the token has expired: " \
               "change its expiry first)"
    if not token["unlimited_quota"] and token["remain_quota"] <= 0:
        return "令牌可用额度已用尽，无法启用，请先修改令牌剩余额度，或者设置为无限额度 (the token has no quota left: " \
               "raise its quota first)"
    return None


class Tokens:
    def __init__(self, store: Store, ledger: Ledger) -> None:
        self._store = store
        self._ledger = ledger  # told about every change, so the relay's cached view of a token follows

    async def list_page(self, user_id: int, page: int, order: str) -> list[dict[str, Any]]:
        if order not in ("", "remain_quota", "used_quota"):
            raise InvalidInputError("order must be remain_quota or used_quota")
        return await self._store.read(q.list_page, user_id, page * PAGE_SIZE, PAGE_SIZE,
                                      order or "id")  # type: ignore[arg-type]

    async def search(self, user_id: int, keyword: str) -> list[dict[str, Any]]:
        if len(keyword) > NAME_MAX:
            raise InvalidInputError(f"keyword must be at most {NAME_MAX} characters")
        return await self._store.read(q.search, user_id, keyword, 100)

    async def get(self, user_id: int, token_id: int) -> dict[str, Any]:
        token = await self._store.read(q.get, token_id, user_id)
        if token is None:
            raise NotFoundError(f"token {token_id} does not exist")
        return token

    async def create(self, user_id: int, body: Any) -> dict[str, Any]:
        fields = _fields(Fields(body))
        now = int(time.time())
        row = {**fields, "user_id": user_id, "status": q.STATUS_ENABLED, "created_time": now,
               "accessed_time": now, "used_quota": 0}
        for _ in range(3):  # a collision of 48 random characters is practically impossible; stay correct anyway
            row["key"] = keys.token_key()
            try:
                row["id"] = await self._store.write(q.insert, row)
                self._ledger.token_created(row["key"])
                return row
            except ConflictError:
                continue
        raise ConflictError("could not generate a unique key; try again")

    async def update(self, user_id: int, body: Any, status_only: bool) -> dict[str, Any]:
        f = Fields(body)
        token_id = f.int("id", required=True, low=1)
        token = await self.get(user_id, token_id)
        now = int(time.time())
        if status_only:
            status = f.int("status", required=True)
            if status not in (q.STATUS_ENABLED, q.STATUS_DISABLED):
                raise InvalidInputError("status must be 1 (enabled) or 2 (disabled)")
            if status == q.STATUS_ENABLED and (problem := _usable_status(token, now)):
                raise ConflictError(problem)
            changes: dict[str, Any] = {"status": status}
        else:
            changes = _fields(f, token)
            updated = {**token, **changes}
            status = f.int("status", default=token["status"])
            if status not in (1, 2, 3, 4):
                raise InvalidInputError("status must be 1, 2, 3 or 4")
            problem = _usable_status(updated, now)
            if status == q.STATUS_ENABLED and problem and token["status"] != q.STATUS_ENABLED:
                raise ConflictError(problem)
            # A token that was expired or exhausted becomes usable again once its limits are raised.
            if status in (q.STATUS_EXPIRED, q.STATUS_EXHAUSTED) and problem is None:
                status = q.STATUS_ENABLED
            changes["status"] = status
        await self._store.write(q.update, token_id, user_id, changes)
        await self._ledger.token_changed(token_id)
        return {**token, **changes}

    async def delete(self, user_id: int, token_id: int) -> None:
        await self.get(user_id, token_id)
        if not await self._store.write(q.delete, token_id, user_id):
            raise NotFoundError(f"token {token_id} does not exist")
        await self._ledger.token_changed(token_id)
