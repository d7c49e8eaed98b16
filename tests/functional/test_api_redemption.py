"""``/api/redemption`` (admins) and redeeming with ``POST /api/user/topup`` (SPEC 2.2, 3)."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from oneapi.store.database import Database
from tests.functional.app_server import AppTestServer
from tests.functional.conftest import Api

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _by_key(db: Database, key: str) -> dict[str, Any] | None:
    t = db.tables.redemption
    rows = list(t.select().where(t.key == key).dicts())
    return rows[0] if rows else None


def _count(db: Database) -> int:
    return int(db.tables.redemption.select().count())


def _topup_logs(db: Database) -> list[dict[str, Any]]:
    t = db.tables.log
    return list(t.select().where(t.type == 1).dicts())


async def _make(api: Api, name: str = "gift", quota: int = 1000, count: int = 1) -> list[dict[str, Any]]:
    keys = await api.ok("POST", "/api/redemption/", json={"name": name, "quota": quota, "count": count})
    assert isinstance(keys, list) and len(keys) == count
    rows = [await api.services.store.read(_by_key, k) for k in keys]
    assert all(r is not None for r in rows)
    return rows  # type: ignore[return-value]


async def _quota(api: Api, token: str) -> int:
    return int((await api.ok("GET", "/api/user/self", token))["quota"])


async def test_create_returns_keys(api: Api) -> None:
    keys = await api.ok("POST", "/api/redemption/", json={"name": "batch", "quota": 500, "count": 100})
    assert len(keys) == 100 and len(set(keys)) == 100
    assert all(HEX32.match(k) for k in keys)
    row = await api.services.store.read(_by_key, keys[0])
    assert row["name"] == "batch" and row["quota"] == 500 and row["status"] == 1 and row["redeemed_time"] == 0
    assert row["user_id"] == 1 and row["created_time"] >= int(time.time()) - 5  # the creating admin
    one = await api.ok("POST", "/api/redemption/", json={"name": "single", "quota": 1})
    assert len(one) == 1 and HEX32.match(one[0])  # count defaults to 1
    assert await api.services.store.read(_count) == 101


BAD_CREATE = [
    ({"name": "n", "quota": 10, "count": 0}, "count"),
    ({"name": "n", "quota": 10, "count": 101}, "count"),
    ({"name": "n", "quota": 10, "count": -1}, "count"),
    ({"name": "n", "quota": 10, "count": "5"}, "count must be an integer"),
    ({"name": "n", "quota": 10, "count": 2.5}, "count must be an integer"),
    ({"name": "n", "quota": 0}, "quota"),
    ({"name": "n", "quota": -100}, "quota"),
    ({"name": "n"}, "quota is required"),
    ({"name": "n", "quota": "100"}, "quota must be an integer"),
    ({"name": "n", "quota": True}, "quota must be an integer"),
    ({"quota": 10}, "name is required"),
    ({"name": "", "quota": 10}, "name is required"),
    ({"name": "   ", "quota": 10}, "name is required"),
    ({"name": "x" * 21, "quota": 10}, "name must be at most 20"),
    ({"name": 7, "quota": 10}, "name must be a string"),
]


async def test_create_bad_input(api: Api) -> None:
    for body, message in BAD_CREATE:
        try:
            await api.fail("POST", "/api/redemption/", json=body, contains=message)
        except AssertionError as exc:
            raise AssertionError(f"POST {body}: {exc}") from None
    assert await api.services.store.read(_count) == 0


async def test_list_search_get(api: Api) -> None:
    made = await _make(api, "alpha", count=11) + await _make(api, "beta", count=1) + await _make(api, "5%off")
    page0 = await api.ok("GET", "/api/redemption/")
    page1 = await api.ok("GET", "/api/redemption/?p=1")
    assert len(page0) == 10 and len(page1) == 3 and await api.ok("GET", "/api/redemption/?p=2") == []
    ids = [r["id"] for r in page0 + page1]
    assert ids == sorted(ids, reverse=True) and set(ids) == {r["id"] for r in made}
    await api.fail("GET", "/api/redemption/?p=-1", contains="p must be")

    assert {r["name"] for r in await api.ok("GET", "/api/redemption/search?keyword=al")} == {"alpha"}
    assert len(await api.ok("GET", "/api/redemption/search?keyword=alpha")) == 11
    assert [r["name"] for r in await api.ok("GET", "/api/redemption/search?keyword=bet")] == ["beta"]
    assert await api.ok("GET", "/api/redemption/search?keyword=lpha") == []
    assert await api.ok("GET", "/api/redemption/search?keyword=%25") == []
    target = made[11]  # "beta"
    by_id = await api.ok("GET", f"/api/redemption/search?keyword={target['id']}")
    assert [r["id"] for r in by_id] == [target["id"]]
    assert [r["name"] for r in await api.ok("GET", "/api/redemption/search?keyword=5%25")] == ["5%off"]

    got = await api.ok("GET", f"/api/redemption/{target['id']}")
    assert got == target
    await api.fail("GET", "/api/redemption/424242", contains="does not exist")
    for bad in ("abc", "0", "-2"):
        await api.fail("GET", f"/api/redemption/{bad}", contains="id must be")


async def test_search_odd_numeric_keywords(api: Api) -> None:
    await _make(api, "gift")
    for keyword in ("99999999999999999999999", "%C2%B2"):
        body = await api.call("GET", f"/api/redemption/search?keyword={keyword}", api.root_token)
        assert body["success"] is True and body["data"] == [], (keyword, body)


async def test_update_name_and_quota(api: Api) -> None:
    (row,) = await _make(api, "old", 100)
    data = await api.ok("PUT", "/api/redemption/", json={"id": row["id"], "name": "new", "quota": 250,
                                                         "status": 2, "key": "f" * 32})
    assert data["name"] == "new" and data["quota"] == 250
    got = await api.ok("GET", f"/api/redemption/{row['id']}")
    # only name and quota change in a full update; the key and status are not editable there
    assert (got["name"], got["quota"], got["status"], got["key"]) == ("new", 250, 1, row["key"])

    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x", "quota": 1}, "id is required"),
        ({"id": True, "name": "x", "quota": 1}, "id must be an integer"),
        ({"id": row["id"], "name": "x" * 192, "quota": 1}, "name must be at most 191"),
        ({"id": row["id"], "name": "x", "quota": 0}, "quota"),
        ({"id": row["id"], "name": "x", "quota": -1}, "quota"),
        ({"id": row["id"], "name": "x", "quota": "9"}, "quota must be an integer"),
        ({"id": row["id"], "name": 5, "quota": 9}, "name must be a string"),
        ({"id": row["id"], "name": "\ud800", "quota": 9}, "lone surrogate"),
    ]
    for body, message in cases:
        await api.fail("PUT", "/api/redemption/", json=body, contains=message)
    await api.fail("PUT", "/api/redemption/", json={"id": 424242, "name": "x", "quota": 1}, contains="does not exist")
    got = await api.ok("GET", f"/api/redemption/{row['id']}")
    assert (got["name"], got["quota"]) == ("new", 250)

    # One API checks the name's length (1 to 20) only when creating: an edit may rename freely, or keep the name
    long_name = "促销活动 · spring sale 2026 for returning customers"
    assert (await api.ok("PUT", "/api/redemption/", json={"id": row["id"], "name": long_name, "quota": 9}))["name"] \
        == long_name
    await api.ok("PUT", "/api/redemption/", json={"id": row["id"], "quota": 7})
    got = await api.ok("GET", f"/api/redemption/{row['id']}")
    assert (got["name"], got["quota"]) == (long_name, 7)


async def test_status_only_disable_and_redeem(api: Api) -> None:
    _, ut = await api.make_user("alice")
    (row,) = await _make(api, "gift", 700)
    await api.ok("PUT", "/api/redemption/?status_only=1", json={"id": row["id"], "status": 2, "name": "ignored"})
    got = await api.ok("GET", f"/api/redemption/{row['id']}")
    assert (got["status"], got["name"]) == (2, "gift")
    before = await _quota(api, ut)
    await api.fail("POST", "/api/user/topup", ut, json={"key": row["key"]}, contains="disabled")
    assert await _quota(api, ut) == before and await api.services.store.read(_topup_logs) == []

    for bad in (3, 0, 9):
        await api.fail("PUT", "/api/redemption/?status_only=1", json={"id": row["id"], "status": bad},
                       contains="status")
    await api.fail("PUT", "/api/redemption/?status_only=1", json={"id": row["id"]}, contains="status is required")

    await api.ok("PUT", "/api/redemption/?status_only=1", json={"id": row["id"], "status": 1})
    assert await api.ok("POST", "/api/user/topup", ut, json={"key": row["key"]}) == 700
    assert await _quota(api, ut) == before + 700
    used = await api.ok("GET", f"/api/redemption/{row['id']}")
    assert used["status"] == 3 and used["redeemed_time"] > 0

    # a used voucher stays used
    await api.fail("PUT", "/api/redemption/?status_only=1", json={"id": row["id"], "status": 1}, contains="used")
    await api.fail("PUT", "/api/redemption/?status_only=1", json={"id": row["id"], "status": 2}, contains="used")
    assert (await api.ok("GET", f"/api/redemption/{row['id']}"))["status"] == 3
    await api.fail("POST", "/api/user/topup", ut, json={"key": row["key"]}, contains="already been used")
    assert await _quota(api, ut) == before + 700


async def test_redeem_bad_keys(api: Api) -> None:
    _, ut = await api.make_user("alice")
    (row,) = await _make(api)
    before = await _quota(api, ut)
    for body, message in (({"key": "0" * 32}, "invalid"), ({"key": "short"}, "invalid"),
                          ({"key": row["key"].upper() + "x"}, "invalid"), ({}, "key is required"),
                          ({"key": 123}, "key must be a string"), ({"key": "-" * 32}, "invalid")):
        await api.fail("POST", "/api/user/topup", ut, json=body, contains=message)
    assert await _quota(api, ut) == before
    assert (await api.services.store.read(_by_key, row["key"]))["status"] == 1
    body = await api.call("POST", "/api/user/topup", token="", json={"key": row["key"]}, expect_status=401)
    assert body["success"] is False
    assert (await api.services.store.read(_by_key, row["key"]))["status"] == 1


async def test_delete(api: Api) -> None:
    a, b = await _make(api, count=2)
    await api.ok("DELETE", f"/api/redemption/{a['id']}")
    await api.fail("GET", f"/api/redemption/{a['id']}", contains="does not exist")
    await api.fail("DELETE", f"/api/redemption/{a['id']}", contains="does not exist")
    await api.fail("DELETE", "/api/redemption/abc", contains="id must be")
    assert [r["id"] for r in await api.ok("GET", "/api/redemption/")] == [b["id"]]
    _, ut = await api.make_user("alice")
    await api.fail("POST", "/api/user/topup", ut, json={"key": a["key"]}, contains="invalid")


async def test_admin_only(api: Api) -> None:
    (row,) = await _make(api, "guarded", 5)
    _, ut = await api.make_user("alice")
    routes = [("GET", "/api/redemption/"), ("GET", "/api/redemption/search?keyword=g"),
              ("GET", f"/api/redemption/{row['id']}"), ("POST", "/api/redemption/"),
              ("PUT", "/api/redemption/"), ("PUT", "/api/redemption/?status_only=1"),
              ("DELETE", f"/api/redemption/{row['id']}")]
    body = {"id": row["id"], "name": "hacked", "quota": 10**9, "count": 5, "status": 2}
    for method, path in routes:
        await api.fail(method, path, ut, json=body, contains="权限不足")
        resp = await api.call(method, path, token="", json=body, expect_status=401)
        assert resp["success"] is False
    assert await api.services.store.read(_count) == 1
    assert await api.services.store.read(_by_key, row["key"]) == row

    _, admin = await api.make_user("admin1", role=10)
    keys = await api.ok("POST", "/api/redemption/", admin, json={"name": "by-admin", "quota": 3, "count": 2})
    assert len(keys) == 2
    assert len(await api.ok("GET", "/api/redemption/", admin)) == 3


async def test_fifty_concurrent_redeems_credit_once(api_any: Api) -> None:
    api = api_any
    users = [await api.make_user(f"u{i}") for i in range(5)]
    (row,) = await _make(api, "race", 12345)
    before = {uid: await _quota(api, tok) for uid, tok in users}

    attempts = [users[i % len(users)][1] for i in range(50)]
    results = await asyncio.gather(*(api.call("POST", "/api/user/topup", tok, json={"key": row["key"]})
                                     for tok in attempts))
    wins = [r for r in results if r["success"]]
    assert len(wins) == 1 and wins[0]["data"] == 12345, results
    losers = [r for r in results if not r["success"]]
    assert len(losers) == 49 and all("already been used" in r["message"] for r in losers), losers

    after = {uid: await _quota(api, tok) for uid, tok in users}
    gained = {uid: after[uid] - before[uid] for uid in after}
    assert sorted(gained.values()) == [0, 0, 0, 0, 12345]
    winner = next(uid for uid, delta in gained.items() if delta)

    used = await api.services.store.read(_by_key, row["key"])
    assert used["status"] == 3 and used["user_id"] == winner and used["redeemed_time"] > 0
    logs = await api.services.store.read(_topup_logs)
    assert len(logs) == 1 and logs[0]["user_id"] == winner and logs[0]["quota"] == 12345
    assert logs[0]["content"].startswith("通过兑换码充值")


async def test_two_nodes_race_for_one_voucher(api_any: Api) -> None:
    """Two servers (two stores, two writer threads) over one database: the database, not a thread, decides."""
    from aiohttp.test_utils import TestClient

    from oneapi.server import make_app
    from oneapi.services import start_services
    from oneapi.store.facade import Store
    from tests.conftest import own_home

    api = api_any
    users = [await api.make_user(f"n{i}") for i in range(2)]
    (row,) = await _make(api, "race2", 777)
    before = sum([await _quota(api, tok) for _, tok in users])
    store2 = Store(api.services.store.db, read_threads=1)
    try:
        with own_home(api.services.config) as node2_config:  # a second server: a data directory of its own
            services2 = await start_services(node2_config, store2)
            try:
                node2_app = make_app(services2, node2_config, secret="s")
                async with TestClient(AppTestServer(node2_app)) as node2:
                    async def on_node2(token: str) -> Any:
                        resp = await node2.post("/api/user/topup", json={"key": row["key"]},
                                                headers={"Authorization": token})
                        return await resp.json()

                    calls = []
                    for i in range(40):
                        token = users[i % 2][1]
                        calls.append(on_node2(token) if i % 4 < 2 else
                                     api.call("POST", "/api/user/topup", token, json={"key": row["key"]},
                                              expect_status=None))
                    results = await asyncio.gather(*calls)
            finally:
                await services2.close()
    finally:
        await store2.close()
    assert sum(1 for r in results if r["success"]) == 1, results
    assert all("already been used" in r["message"] for r in results if not r["success"]), results
    assert len(await api.services.store.read(_topup_logs)) == 1
    assert sum([await _quota(api, tok) for _, tok in users]) == before + 777
