"""``/api/log``: every log with One API's filters for admins, one's own logs for users (SPEC 2.2, 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oneapi.store.database import Database
from oneapi.store.queries import logs as logs_q
from oneapi.store.queries.accounting import LogRow
from tests.functional.conftest import Api

BASE = 1_700_000_000
TOPUP, CONSUME, MANAGE, SYSTEM, TEST = 1, 2, 3, 4, 5


@dataclass
class World:
    alice: int
    alice_token: str
    bob: int
    bob_token: str


async def _insert(api: Api, user_id: int, username: str, log_type: int, at: int, *, token: str = "",
                  model: str = "", channel: int = 0, quota: int = 0, content: str = "") -> int:
    row = {"user_id": user_id, "username": username, "type": log_type, "created_at": at, "token_name": token,
           "model_name": model, "channel_id": channel, "quota": quota, "content": content,
           "prompt_tokens": quota // 2, "completion_tokens": quota // 3, "request_id": f"req-{at}"}
    return int(await api.services.store.write(logs_q.insert, LogRow(**row)))


def _all_logs(db: Database) -> list[dict[str, Any]]:
    return list(db.tables.log.select().dicts())


async def _world(api: Api) -> World:
    alice, at = await api.make_user("alice")
    bob, bt = await api.make_user("bob")
    await api.services.store.write(logs_q.delete_before, BASE * 10)  # start from no logs at all
    await _insert(api, alice, "alice", CONSUME, BASE + 0, token="ta", model="gpt-4o", channel=1, quota=100,
                  content="模型倍率 1")
    await _insert(api, alice, "alice", CONSUME, BASE + 10, token="tb", model="gpt-4o-mini", channel=2, quota=50)
    await _insert(api, alice, "alice", TOPUP, BASE + 20, quota=1000, content="通过兑换码充值 1000 点额度")
    await _insert(api, alice, "alice", MANAGE, BASE + 30, content="管理员将用户额度从 0 点额度修改为 5 点额度")
    await _insert(api, bob, "bob", CONSUME, BASE + 40, token="ta", model="gpt-4o", channel=2, quota=7)
    await _insert(api, bob, "bob", SYSTEM, BASE + 50, content="新用户注册赠送 10 点额度")
    await _insert(api, bob, "bob", CONSUME, BASE + 60, token="tc", model="claude-3-haiku", channel=3, quota=3)
    await _insert(api, 1, "root", TEST, BASE + 70, model="gpt-4o", channel=3, content="2 test ok")
    return World(alice, at, bob, bt)


def _times(rows: list[dict[str, Any]]) -> list[int]:
    return [r["created_at"] - BASE for r in rows]


async def test_admin_list_and_every_filter(api_any: Api) -> None:
    api = api_any
    await _world(api)

    async def times(query: str) -> list[int]:
        return _times(await api.ok("GET", f"/api/log/{query}"))

    rows = await api.ok("GET", "/api/log/")
    assert _times(rows) == [70, 60, 50, 40, 30, 20, 10, 0]  # newest first
    first = rows[-1]
    assert first["channel"] == 1 and "channel_id" not in first and isinstance(first["id"], int)
    assert (first["username"], first["token_name"], first["model_name"], first["quota"]) == \
        ("alice", "ta", "gpt-4o", 100)
    assert first["prompt_tokens"] == 50 and first["request_id"] == f"req-{BASE}"

    assert await times("?type=2") == [60, 40, 10, 0]
    assert await times("?type=1") == [20]
    assert await times("?type=0") == [70, 60, 50, 40, 30, 20, 10, 0]  # 0 = any type
    assert await times(f"?start_timestamp={BASE + 20}") == [70, 60, 50, 40, 30, 20]
    assert await times(f"?end_timestamp={BASE + 20}") == [20, 10, 0]
    assert await times(f"?start_timestamp={BASE + 10}&end_timestamp={BASE + 40}") == [40, 30, 20, 10]
    assert await times("?username=alice") == [30, 20, 10, 0]
    assert await times("?username=ali") == []  # exact match
    assert await times("?token_name=ta") == [40, 0]
    assert await times("?model_name=gpt-4o") == [70, 40, 0]  # exact: gpt-4o-mini is another model
    assert await times("?channel=2") == [40, 10]
    assert await times("?channel=3&type=2") == [60]
    assert await times(f"?type=2&username=bob&model_name=gpt-4o&token_name=ta&channel=2"
                       f"&start_timestamp={BASE + 40}&end_timestamp={BASE + 40}") == [40]
    assert await times("?username=nobody") == []


async def test_admin_pagination(api: Api) -> None:
    w = await _world(api)
    for i in range(15):
        await _insert(api, w.alice, "alice", CONSUME, BASE + 100 + i, model="m", quota=1)
    page0 = await api.ok("GET", "/api/log/?p=0")
    page1 = await api.ok("GET", "/api/log/?p=1")
    page2 = await api.ok("GET", "/api/log/?p=2")
    assert len(page0) == 10 and len(page1) == 10 and len(page2) == 3
    assert await api.ok("GET", "/api/log/?p=3") == []
    ids = [r["id"] for r in page0 + page1 + page2]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 23
    filtered = await api.ok("GET", "/api/log/?model_name=m&p=1")
    assert len(filtered) == 5 and all(r["model_name"] == "m" for r in filtered)


async def test_admin_stat_sums_consume_logs_only(api_any: Api) -> None:
    api = api_any
    await _world(api)

    async def quota(query: str = "") -> int:
        data = await api.ok("GET", f"/api/log/stat{query}")
        assert set(data) == {"quota"}
        return int(data["quota"])

    assert await quota() == 160  # the 1000 top-up is not consumption
    assert await quota("?username=alice") == 150
    assert await quota("?username=bob") == 10
    assert await quota("?model_name=gpt-4o") == 107
    assert await quota("?token_name=ta") == 107
    assert await quota("?channel=2") == 57
    assert await quota(f"?start_timestamp={BASE + 10}&end_timestamp={BASE + 40}") == 57
    assert await quota("?type=1") == 0  # other types never count
    assert await quota("?username=nobody") == 0
    await api.fail("GET", "/api/log/stat?type=abc", contains="type must be an integer")


async def test_admin_search(api_any: Api) -> None:
    api = api_any
    await _world(api)
    found = await api.ok("GET", "/api/log/search?keyword=通过")
    assert _times(found) == [20] and found[0]["channel"] == 0 and "channel_id" not in found[0]
    assert _times(await api.ok("GET", "/api/log/search?keyword=管理员")) == [30]
    assert await api.ok("GET", "/api/log/search?keyword=兑换") == []  # a content prefix, not a substring
    assert _times(await api.ok("GET", "/api/log/search?keyword=2")) == [70, 60, 40, 10, 0]  # type 2 or "2…"
    assert _times(await api.ok("GET", "/api/log/search?keyword=4")) == [50]
    assert await api.ok("GET", "/api/log/search?keyword=%25") == []
    await api.fail("GET", "/api/log/search?keyword=" + "x" * 192, contains="keyword")


async def test_admin_search_odd_numeric_keywords(api: Api) -> None:
    await _world(api)
    for keyword in ("99999999999999999999999", "%C2%B2"):
        body = await api.call("GET", f"/api/log/search?keyword={keyword}", api.root_token)
        assert body["success"] is True and body["data"] == [], (keyword, body)


async def test_admin_delete_older_than(api: Api) -> None:
    await _world(api)
    for query, message in (("", "target_timestamp is required"), ("?target_timestamp=", "required"),
                           ("?target_timestamp=abc", "must be an integer"), ("?target_timestamp=0", "target_timestamp"),
                           ("?target_timestamp=-5", "target_timestamp"), ("?target_timestamp=1.5", "integer")):
        await api.fail("DELETE", f"/api/log/{query}", contains=message)
    assert len(await api.services.store.read(_all_logs)) == 8

    assert await api.ok("DELETE", f"/api/log/?target_timestamp={BASE + 30}") == 3  # strictly older
    assert _times(await api.ok("GET", "/api/log/")) == [70, 60, 50, 40, 30]
    assert await api.ok("DELETE", f"/api/log/?target_timestamp={BASE + 30}") == 0
    assert await api.ok("DELETE", f"/api/log?target_timestamp={BASE + 1000}") == 5
    assert await api.services.store.read(_all_logs) == []


async def test_self_logs_only_own(api: Api) -> None:
    w = await _world(api)

    async def times(query: str = "", token: str = w.alice_token) -> list[int]:
        rows = await api.ok("GET", f"/api/log/self{query}", token)
        assert all("id" not in r and "channel_id" not in r and "channel" in r for r in rows), rows
        return _times(rows)

    rows = await api.ok("GET", "/api/log/self", w.alice_token)
    assert all(r["user_id"] == w.alice and r["username"] == "alice" for r in rows)
    assert await times() == [30, 20, 10, 0]
    assert await times(token=w.bob_token) == [60, 50, 40]
    # username and channel filters are admin-only: users cannot use them to reach others' logs
    assert await times("?username=bob") == [30, 20, 10, 0]
    assert await times("?username=nobody") == [30, 20, 10, 0]
    assert await times("?channel=3") == [30, 20, 10, 0]
    assert await times("?channel=not-a-number") == [30, 20, 10, 0]
    assert await times("?type=2") == [10, 0]
    assert await times("?model_name=gpt-4o") == [0]
    assert await times("?token_name=tb") == [10]
    assert await times(f"?start_timestamp={BASE + 10}&end_timestamp={BASE + 20}") == [20, 10]
    assert await times("?model_name=claude-3-haiku") == []  # bob's model
    # root sees only its own test log here, not everyone's
    assert _times(await api.ok("GET", "/api/log/self")) == [70]


async def test_self_pagination(api: Api) -> None:
    w = await _world(api)
    for i in range(12):
        await _insert(api, w.bob, "bob", CONSUME, BASE + 100 + i, quota=1)
    page0 = await api.ok("GET", "/api/log/self?p=0", w.bob_token)
    page1 = await api.ok("GET", "/api/log/self?p=1", w.bob_token)
    assert len(page0) == 10 and len(page1) == 5 and await api.ok("GET", "/api/log/self?p=2", w.bob_token) == []
    assert all(r["user_id"] == w.bob for r in page0 + page1)


async def test_self_stat(api: Api) -> None:
    w = await _world(api)

    async def quota(token: str, query: str = "") -> int:
        return int((await api.ok("GET", f"/api/log/self/stat{query}", token))["quota"])

    assert await quota(w.alice_token) == 150
    assert await quota(w.bob_token) == 10
    assert await quota(w.alice_token, "?model_name=gpt-4o") == 100
    assert await quota(w.alice_token, "?username=bob") == 150  # ignored for users
    assert await quota(w.alice_token, "?channel=2") == 150  # ignored for users
    assert await quota(w.bob_token, f"?start_timestamp={BASE + 50}") == 3
    assert await quota(api.root_token) == 0


async def test_self_search_by_type(api: Api) -> None:
    w = await _world(api)
    rows = await api.ok("GET", "/api/log/self/search?keyword=2", w.alice_token)
    assert _times(rows) == [10, 0] and all("id" not in r for r in rows)
    assert _times(await api.ok("GET", "/api/log/self/search?keyword=1", w.alice_token)) == [20]
    assert _times(await api.ok("GET", "/api/log/self/search?keyword=4", w.bob_token)) == [50]
    assert await api.ok("GET", "/api/log/self/search?keyword=4", w.alice_token) == []
    assert await api.ok("GET", "/api/log/self/search?keyword=9", w.alice_token) == []
    for bad in ("abc", "", "通过", "-1", "1.5", "%C2%B2", "99999999999999999999999"):
        await api.fail("GET", f"/api/log/self/search?keyword={bad}", w.alice_token, contains="log type")


ADMIN_ROUTES = [("GET", "/api/log/"), ("GET", "/api/log/stat"), ("GET", "/api/log/search?keyword=2"),
                ("DELETE", f"/api/log/?target_timestamp={BASE * 2}")]
SELF_ROUTES = [("GET", "/api/log/self"), ("GET", "/api/log/self/stat"), ("GET", "/api/log/self/search?keyword=2")]


async def test_authorization(api: Api) -> None:
    w = await _world(api)
    for method, path in ADMIN_ROUTES:
        await api.fail(method, path, w.alice_token, contains="权限不足")
        body = await api.call(method, path, token="", expect_status=401)
        assert body["success"] is False
    for _, path in SELF_ROUTES:
        body = await api.call("GET", path, token="", expect_status=401)
        assert body["success"] is False
        body = await api.call("GET", path, token="0" * 32)
        assert body["success"] is False and "无效" in body["message"]
    assert len(await api.services.store.read(_all_logs)) == 8  # the refused DELETE deleted nothing

    _, admin = await api.make_user("admin1", role=10)
    assert len(await api.ok("GET", "/api/log/", admin)) == 8
    assert (await api.ok("GET", "/api/log/stat", admin))["quota"] == 160


BAD_QUERIES = [
    ("type=abc", "type must be an integer"),
    ("type=9", "type"),
    ("type=-1", "type"),
    ("p=-1", "p must be"),
    ("p=abc", "p must be an integer"),
    ("start_timestamp=yesterday", "start_timestamp must be an integer"),
    ("end_timestamp=1.5", "end_timestamp must be an integer"),
    ("start_timestamp=99999999999999999999", "start_timestamp"),
    ("model_name=" + "m" * 192, "model_name"),
]


async def test_bad_query_values(api: Api) -> None:
    _, ut = await api.make_user("alice")
    for query, message in BAD_QUERIES:
        paged = query.startswith("p=")  # the stat routes take no page
        for path, token in ((("/api/log/", api.root_token), ("/api/log/self", ut)) if paged else
                            (("/api/log/", api.root_token), ("/api/log/stat", api.root_token),
                             ("/api/log/self", ut), ("/api/log/self/stat", ut))):
            try:
                await api.fail("GET", f"{path}?{query}", token, contains=message)
            except AssertionError as exc:
                raise AssertionError(f"GET {path}?{query}: {exc}") from None


async def test_bad_admin_only_query_values(api: Api) -> None:
    for query, message in (("channel=abc", "channel must be an integer"), ("channel=-2", "channel"),
                           ("username=" + "u" * 192, "username")):
        await api.fail("GET", f"/api/log/?{query}", contains=message)
        await api.fail("GET", f"/api/log/stat?{query}", contains=message)
