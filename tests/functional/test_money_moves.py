"""Every admin money move is one transaction: the balance and its log row, or nothing (issue: money that cannot
leak, part 5), on every backend.

Measured before the fix: a top-up whose remark held a lone surrogate answered 500 after crediting the quota,
with no log row. A log table that refuses the row (here: renamed away, the bluntest refusal) stands for every
reason a log insert can fail.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from oneapi.store.database import Database
from oneapi.store.queries import logs as log_q
from oneapi.store.queries import users as user_q
from tests.functional.conftest import Api


def _rename(db: Database, old: str, new: str) -> None:
    database = db.logs if old.startswith("logs") else db.main
    database.execute_sql(f"ALTER TABLE {old.join(database.quote)} RENAME TO {new.join(database.quote)}")


@contextlib.asynccontextmanager
async def logs_refused(api: Api) -> AsyncIterator[None]:
    await api.services.store.write(_rename, "logs", "logs_away")
    try:
        yield
    finally:
        await api.services.store.write(_rename, "logs_away", "logs")


async def quota_of(api: Api, user_id: int) -> int:
    row = await api.services.store.read(user_q.get, user_id)
    assert row is not None
    return int(row["quota"])


async def logs_of(api: Api, user_id: int) -> list[dict[str, Any]]:
    return await api.services.store.read(log_q.list_page, log_q.LogFilter(user_id=user_id), 0, 100)


async def test_a_top_up_with_a_lone_surrogate_is_refused_before_anything_moves(api_any: Api) -> None:
    uid, _ = await api_any.make_user("bob")
    before = await quota_of(api_any, uid)
    body = f'{{"user_id": {uid}, "quota": 5000, "remark": "gift \\ud800"}}'
    message = await api_any.fail("POST", "/api/topup", data=body, contains="surrogate")
    assert "\\ud800" in message
    assert await quota_of(api_any, uid) == before and await logs_of(api_any, uid) == []


async def test_a_top_up_whose_log_cannot_be_written_credits_nothing(api_any: Api) -> None:
    uid, _ = await api_any.make_user("bob")
    before = await quota_of(api_any, uid)
    async with logs_refused(api_any):
        body = await api_any.call("POST", "/api/topup", api_any.root_token,
                                  json={"user_id": uid, "quota": 5000, "remark": "gift"}, expect_status=None)
        assert body["success"] is False
    assert await quota_of(api_any, uid) == before and await logs_of(api_any, uid) == []
    await api_any.ok("POST", "/api/topup", json={"user_id": uid, "quota": 5000, "remark": "gift"})
    assert await quota_of(api_any, uid) == before + 5000
    assert [(log["quota"], log["content"]) for log in await logs_of(api_any, uid)] == [(5000, "gift")]


async def test_a_voucher_whose_log_cannot_be_written_stays_unused(api_any: Api) -> None:
    (code,) = await api_any.ok("POST", "/api/redemption/", json={"name": "v", "quota": 700, "count": 1})
    uid, token = await api_any.make_user("bob")
    before = await quota_of(api_any, uid)
    async with logs_refused(api_any):
        body = await api_any.call("POST", "/api/user/topup", token, json={"key": code}, expect_status=None)
        assert body["success"] is False
    assert await quota_of(api_any, uid) == before
    body = await api_any.call("POST", "/api/user/topup", token, json={"key": code})
    assert body["success"] is True and await quota_of(api_any, uid) == before + 700
    assert len(await logs_of(api_any, uid)) == 1


async def test_an_admin_quota_edit_whose_log_cannot_be_written_changes_nothing(api_any: Api) -> None:
    uid, _ = await api_any.make_user("bob")
    async with logs_refused(api_any):
        body = await api_any.call("PUT", "/api/user/", api_any.root_token, json={"id": uid, "quota": 123_456},
                                  expect_status=None)
        assert body["success"] is False
    assert await quota_of(api_any, uid) == 0 and await logs_of(api_any, uid) == []
    await api_any.ok("PUT", "/api/user/", json={"id": uid, "quota": 123_456})
    assert await quota_of(api_any, uid) == 123_456 and len(await logs_of(api_any, uid)) == 1


async def test_a_registration_gift_whose_log_cannot_be_written_creates_no_user(api_any: Api) -> None:
    await api_any.ok("PUT", "/api/option/", json={"key": "QuotaForNewUser", "value": "1000"})
    async with logs_refused(api_any):
        body = await api_any.call("POST", "/api/user/register", None,
                                  json={"username": "newbie", "password": "password123"}, expect_status=None)
        assert body["success"] is False
    assert await api_any.services.store.read(user_q.find_by_username, "newbie") is None
    await api_any.ok("POST", "/api/user/register", json={"username": "newbie", "password": "password123"})
    user = await api_any.services.store.read(user_q.find_by_username, "newbie")
    assert user is not None and user["quota"] == 1000
    assert [log["quota"] for log in await logs_of(api_any, user["id"])] == [0]  # the gift's system log


async def test_voucher_redemptions_still_credit_once_under_concurrency(api_any: Api) -> None:
    import asyncio

    (code,) = await api_any.ok("POST", "/api/redemption/", json={"name": "v", "quota": 900, "count": 1})
    uid, token = await api_any.make_user("bob")
    results = await asyncio.gather(*(api_any.call("POST", "/api/user/topup", token, json={"key": code})
                                     for _ in range(50)))
    assert sum(1 for r in results if r["success"]) == 1
    assert await quota_of(api_any, uid) == 900
    assert [log["quota"] for log in await logs_of(api_any, uid)] == [900]
