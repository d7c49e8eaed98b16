"""``/api/token``: a user's own relay tokens (SPEC 1.2, 2.2), over a real server.

Every route is checked for its happy path, bad input and authorization; a second user must never see or
touch the first user's tokens.
"""

from __future__ import annotations

import re
import time
from typing import Any

from oneapi.store.database import Database
from oneapi.store.queries import tokens as tokens_q
from tests.functional.conftest import Api

KEY_RE = re.compile(r"^[0-9A-Za-z]{16}[0-9a-fA-F]{32}$")


def assert_token_key(key: str) -> None:
    """SPEC 1.2: 16 alphanumerics + the 32 hex chars of a UUIDv4 with even-position letters upper-cased."""
    assert len(key) == 48 and "-" not in key and KEY_RE.match(key), key
    tail = key[16:]
    for i, c in enumerate(tail):
        if c.isalpha():
            assert c.isupper() if i % 2 == 0 else c.islower(), (key, i, c)
    assert tail[12] == "4" and tail[16] in "89AB", key  # UUIDv4 version and variant nibbles


async def _create(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "t", "remain_quota": 1000, "expired_time": -1, **fields}
    data = await api.ok("POST", "/api/token/", token, json=body)
    assert isinstance(data, dict)
    return data


def _raw(db: Database, token_id: int) -> dict[str, Any] | None:
    t = db.tables.token
    rows = list(t.select().where(t.id == token_id).dicts())
    return rows[0] if rows else None


async def _force(api: Api, token: dict[str, Any], **fields: Any) -> None:
    """Change a token behind the API's back (the relay marks tokens expired/exhausted this way)."""
    assert await api.services.store.write(tokens_q.update, token["id"], token["user_id"], fields) == 1


async def test_crud_round_trip_on_every_backend(api_any: Api) -> None:
    api = api_any
    uid, ut = await api.make_user("alice")
    created = await _create(api, ut, name="my key", remain_quota=5000, unlimited_quota=False,
                            models="gpt-4o, gpt-4o-mini,gpt-4o", subnet="10.0.0.0/8, 192.168.1.7")
    assert_token_key(created["key"])
    assert created["id"] > 0 and created["user_id"] == uid and created["status"] == 1
    assert created["name"] == "my key" and created["remain_quota"] == 5000 and created["expired_time"] == -1
    assert created["models"] == "gpt-4o,gpt-4o-mini"  # trimmed, duplicates dropped
    assert created["subnet"] == "10.0.0.0/8,192.168.1.7/32"

    got = await api.ok("GET", f"/api/token/{created['id']}", ut)
    assert got["key"] == created["key"] and got["name"] == "my key" and got["remain_quota"] == 5000
    assert got["models"] == "gpt-4o,gpt-4o-mini" and got["unlimited_quota"] is False

    listed = await api.ok("GET", "/api/token/", ut)
    assert {t["name"] for t in listed} == {"default", "my key"}  # every new user gets a "default" token

    expires = int(time.time()) + 3600
    updated = await api.ok("PUT", "/api/token/", ut, json={
        "id": created["id"], "name": "renamed", "remain_quota": 7, "expired_time": expires,
        "unlimited_quota": True, "models": "", "subnet": ""})
    assert updated["name"] == "renamed" and updated["remain_quota"] == 7
    got = await api.ok("GET", f"/api/token/{created['id']}", ut)
    assert (got["name"], got["remain_quota"], got["expired_time"], got["unlimited_quota"]) == \
        ("renamed", 7, expires, True)
    assert got["models"] == "" and got["subnet"] == "" and got["key"] == created["key"]

    assert await api.ok("GET", "/api/token/search?keyword=ren", ut) == [got]

    await api.ok("PUT", "/api/token/?status_only=1", ut, json={"id": created["id"], "status": 2})
    assert (await api.ok("GET", f"/api/token/{created['id']}", ut))["status"] == 2

    await api.ok("DELETE", f"/api/token/{created['id']}", ut)
    await api.fail("GET", f"/api/token/{created['id']}", ut, contains="does not exist")
    await api.fail("DELETE", f"/api/token/{created['id']}", ut, contains="does not exist")
    assert await api.services.store.read(_raw, created["id"]) is None


async def test_keys_are_unique_and_stored_without_prefix(api: Api) -> None:
    _, ut = await api.make_user("alice")
    made = [await _create(api, ut, name=f"k{i}") for i in range(5)]
    keys = {t["key"] for t in made}
    assert len(keys) == 5
    for t in made:
        assert_token_key(t["key"])
        assert (await api.services.store.read(_raw, t["id"]))["key"] == t["key"]  # no "sk-"


async def test_create_defaults(api: Api) -> None:
    _, ut = await api.make_user("alice")
    data = await api.ok("POST", "/api/token/", ut, json={"name": "bare"})
    assert data["expired_time"] == -1 and data["remain_quota"] == 0 and data["unlimited_quota"] is False
    assert data["models"] == "" and data["subnet"] == "" and data["used_quota"] == 0
    assert data["created_time"] >= int(time.time()) - 5


async def test_list_pagination_and_order(api: Api) -> None:
    _, ut = await api.make_user("alice")
    made = []
    for i in range(12):
        made.append(await _create(api, ut, name=f"tok{i:02d}", remain_quota=(i * 7) % 12))
    await _force(api, made[3], used_quota=500)
    await _force(api, made[8], used_quota=900)

    page0 = await api.ok("GET", "/api/token/?p=0", ut)
    page1 = await api.ok("GET", "/api/token/?p=1", ut)
    page2 = await api.ok("GET", "/api/token/?p=2", ut)
    assert len(page0) == 10 and len(page1) == 3 and page2 == []  # 12 + the "default" token
    ids = [t["id"] for t in page0 + page1]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 13  # newest first, no overlap
    assert await api.ok("GET", "/api/token/", ut) == page0  # no p = page 0

    by_remain = await api.ok("GET", "/api/token/?order=remain_quota", ut)
    # One API: unlimited tokens first (here the "default" one), then by remaining quota
    assert by_remain[0]["unlimited_quota"] is True and by_remain[0]["name"] == "default"
    remains = [t["remain_quota"] for t in by_remain[1:]]
    assert remains == sorted(remains, reverse=True) and remains[0] == 11
    by_used = await api.ok("GET", "/api/token/?order=used_quota", ut)
    assert [t["id"] for t in by_used[:2]] == [made[8]["id"], made[3]["id"]]

    await api.fail("GET", "/api/token/?order=name", ut, contains="order")
    await api.fail("GET", "/api/token/?p=-1", ut, contains="p must be")
    await api.fail("GET", "/api/token/?p=abc", ut, contains="p must be an integer")


async def test_search_by_name_prefix(api_any: Api) -> None:
    api = api_any
    _, ut = await api.make_user("alice")
    await _create(api, ut, name="prod-a")
    await _create(api, ut, name="prod-b")
    await _create(api, ut, name="staging")
    await _create(api, ut, name="50%_off")
    names = {t["name"] for t in await api.ok("GET", "/api/token/search?keyword=prod", ut)}
    assert names == {"prod-a", "prod-b"}
    assert {t["name"] for t in await api.ok("GET", "/api/token/search?keyword=stag", ut)} == {"staging"}
    assert await api.ok("GET", "/api/token/search?keyword=taging", ut) == []  # prefix, not substring
    # LIKE wildcards in the keyword are literal characters
    assert await api.ok("GET", "/api/token/search?keyword=%25", ut) == []
    assert await api.ok("GET", "/api/token/search?keyword=_", ut) == []
    assert {t["name"] for t in await api.ok("GET", "/api/token/search?keyword=50%25_", ut)} == {"50%_off"}
    await api.fail("GET", "/api/token/search?keyword=" + "x" * 31, ut, contains="keyword")


async def test_status_only_update(api: Api) -> None:
    _, ut = await api.make_user("alice")
    tok = await _create(api, ut, name="keep me", remain_quota=42)
    await api.ok("PUT", "/api/token/?status_only=1", ut, json={"id": tok["id"], "status": 2, "name": "ignored",
                                                               "remain_quota": 1})
    got = await api.ok("GET", f"/api/token/{tok['id']}", ut)
    assert (got["status"], got["name"], got["remain_quota"]) == (2, "keep me", 42)  # only the status changed
    await api.ok("PUT", "/api/token/?status_only=true", ut, json={"id": tok["id"], "status": 1})
    assert (await api.ok("GET", f"/api/token/{tok['id']}", ut))["status"] == 1

    for bad in (3, 4, 7, 0):
        await api.fail("PUT", "/api/token/?status_only=1", ut, json={"id": tok["id"], "status": bad},
                       contains="status")
    await api.fail("PUT", "/api/token/?status_only=1", ut, json={"id": tok["id"]}, contains="status is required")
    await api.fail("PUT", "/api/token/?status_only=1", ut, json={"id": tok["id"], "status": "2"},
                   contains="status must be an integer")
    assert (await api.ok("GET", f"/api/token/{tok['id']}", ut))["status"] == 1


async def test_enabling_expired_or_exhausted_token_refused(api: Api) -> None:
    _, ut = await api.make_user("alice")
    now = int(time.time())
    expired = await _create(api, ut, name="old", expired_time=now - 60, remain_quota=100)
    await _force(api, expired, status=3)
    msg = await api.fail("PUT", "/api/token/?status_only=1", ut, json={"id": expired["id"], "status": 1})
    assert "过期" in msg and "expired" in msg
    # also when it was only disabled by hand, the past expiry blocks re-enabling
    await _force(api, expired, status=2)
    await api.fail("PUT", "/api/token/?status_only=1", ut, json={"id": expired["id"], "status": 1},
                   contains="expired")
    assert (await api.ok("GET", f"/api/token/{expired['id']}", ut))["status"] == 2

    exhausted = await _create(api, ut, name="empty", remain_quota=0, unlimited_quota=False)
    await _force(api, exhausted, status=4)
    msg = await api.fail("PUT", "/api/token/?status_only=1", ut, json={"id": exhausted["id"], "status": 1})
    assert "额度" in msg and "quota" in msg
    assert (await api.ok("GET", f"/api/token/{exhausted['id']}", ut))["status"] == 4

    # a full update that asks for status 1 without fixing the limit is refused too, and changes nothing
    await api.fail("PUT", "/api/token/", ut, json={"id": exhausted["id"], "name": "renamed", "status": 1,
                                                   "remain_quota": 0}, contains="quota")
    got = await api.ok("GET", f"/api/token/{exhausted['id']}", ut)
    assert (got["status"], got["name"]) == (4, "empty")

    # unlimited tokens with no remaining quota are fine
    unlimited = await _create(api, ut, name="unl", remain_quota=0, unlimited_quota=True)
    await _force(api, unlimited, status=2)
    await api.ok("PUT", "/api/token/?status_only=1", ut, json={"id": unlimited["id"], "status": 1})
    assert (await api.ok("GET", f"/api/token/{unlimited['id']}", ut))["status"] == 1


async def test_full_update_raising_limits_reenables(api: Api) -> None:
    _, ut = await api.make_user("alice")
    now = int(time.time())
    expired = await _create(api, ut, name="old", expired_time=now - 60, remain_quota=100)
    await _force(api, expired, status=3)
    # the web UI sends the whole token back, status included
    await api.ok("PUT", "/api/token/", ut, json={"id": expired["id"], "name": "old", "status": 3,
                                                 "expired_time": now + 3600, "remain_quota": 100})
    got = await api.ok("GET", f"/api/token/{expired['id']}", ut)
    assert got["status"] == 1 and got["expired_time"] == now + 3600

    exhausted = await _create(api, ut, name="empty", remain_quota=0)
    await _force(api, exhausted, status=4)
    await api.ok("PUT", "/api/token/", ut, json={"id": exhausted["id"], "name": "empty", "remain_quota": 500})
    got = await api.ok("GET", f"/api/token/{exhausted['id']}", ut)
    assert got["status"] == 1 and got["remain_quota"] == 500

    # switching to unlimited also counts as raising the limit
    exhausted2 = await _create(api, ut, name="empty2", remain_quota=0)
    await _force(api, exhausted2, status=4)
    await api.ok("PUT", "/api/token/", ut, json={"id": exhausted2["id"], "name": "empty2", "status": 4,
                                                 "remain_quota": 0, "unlimited_quota": True})
    assert (await api.ok("GET", f"/api/token/{exhausted2['id']}", ut))["status"] == 1

    # a full update that does not fix the limit leaves it exhausted
    exhausted3 = await _create(api, ut, name="empty3", remain_quota=0)
    await _force(api, exhausted3, status=4)
    await api.ok("PUT", "/api/token/", ut, json={"id": exhausted3["id"], "name": "still", "status": 4,
                                                 "remain_quota": 0})
    got = await api.ok("GET", f"/api/token/{exhausted3['id']}", ut)
    assert (got["status"], got["name"]) == (4, "still")


BAD_CREATE = [
    ({"name": "x" * 31}, "name must be at most 30"),
    ({"name": "n", "remain_quota": -1}, "remain_quota"),
    ({"name": "n", "remain_quota": -5}, "remain_quota"),
    ({"name": "n", "expired_time": 0}, "expired_time"),
    ({"name": "n", "expired_time": -5}, "expired_time"),
    ({"name": "n", "subnet": "10.0.0.300/8"}, "subnet"),
    ({"name": "n", "subnet": "10.0.0.0/8,nonsense"}, "nonsense"),
    ({"name": "n", "remain_quota": "100"}, "remain_quota must be an integer"),
    ({"name": "n", "remain_quota": 1.5}, "remain_quota must be an integer"),
    ({"name": "n", "remain_quota": True}, "remain_quota must be an integer"),
    ({"name": "n", "remain_quota": 2**60}, "remain_quota"),
    ({"name": "n", "expired_time": "tomorrow"}, "expired_time must be an integer"),
    ({"name": 5}, "name must be a string"),
    ({"name": "n", "unlimited_quota": "yes"}, "unlimited_quota must be true or false"),
    ({"name": "n", "models": ["gpt-4o"]}, "models must be a string"),
]


async def test_create_bad_input(api: Api) -> None:
    for body, message in BAD_CREATE:
        try:
            await api.fail("POST", "/api/token/", json=body, contains=message)
        except AssertionError as exc:
            raise AssertionError(f"POST {body}: {exc}") from None
    assert {t["name"] for t in await api.ok("GET", "/api/token/")} == {"default"}  # nothing written


async def test_create_bad_body(api: Api) -> None:
    await api.fail("POST", "/api/token/", data="not json", contains="not valid JSON")
    await api.fail("POST", "/api/token/", data="", contains="empty")
    await api.fail("POST", "/api/token/", json=[1, 2], contains="JSON object")
    assert len(await api.ok("GET", "/api/token/")) == 1


async def test_default_token_can_be_edited_as_the_web_ui_sends_it(api: Api) -> None:
    """Every user's "default" token is unlimited with remain_quota -1; the UI PUTs the token back as loaded."""
    _, ut = await api.make_user("alice")
    (default,) = await api.ok("GET", "/api/token/", ut)
    assert (default["remain_quota"], default["unlimited_quota"]) == (-1, True)
    updated = await api.ok("PUT", "/api/token/", ut, json={**default, "name": "renamed"})
    assert (updated["name"], updated["remain_quota"], updated["status"]) == ("renamed", -1, 1)
    assert (await api.ok("GET", f"/api/token/{default['id']}", ut))["name"] == "renamed"
    # -1 is only accepted together with unlimited_quota; -2 never
    await api.fail("PUT", "/api/token/", ut, json={**default, "unlimited_quota": False}, contains="remain_quota")
    await api.fail("PUT", "/api/token/", ut, json={**default, "remain_quota": -2}, contains="remain_quota")
    created = await api.ok("POST", "/api/token/", ut, json={"name": "u", "remain_quota": -1, "unlimited_quota": True})
    assert created["remain_quota"] == -1


async def test_update_bad_input(api: Api) -> None:
    _, ut = await api.make_user("alice")
    tok = await _create(api, ut, name="orig", remain_quota=10)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x"}, "id is required"),
        ({"id": True, "name": "x"}, "id must be an integer"),
        ({"id": "1", "name": "x"}, "id must be an integer"),
        ({"id": 0, "name": "x"}, "id must be"),
        ({"id": tok["id"], "name": "x" * 31}, "name must be at most 30"),
        ({"id": tok["id"], "name": "x", "remain_quota": -5}, "remain_quota"),
        ({"id": tok["id"], "name": "x", "remain_quota": "5"}, "remain_quota must be an integer"),
        ({"id": tok["id"], "name": "x", "expired_time": 0}, "expired_time"),
        ({"id": tok["id"], "name": "x", "expired_time": -5}, "expired_time"),
        ({"id": tok["id"], "name": "x", "subnet": "10.0.0.300/8"}, "subnet"),
        ({"id": tok["id"], "name": "x", "status": 7}, "status"),
        ({"id": tok["id"], "name": "x", "status": True}, "status must be an integer"),
    ]
    for body, message in cases:
        await api.fail("PUT", "/api/token/", ut, json=body, contains=message)
    got = await api.ok("GET", f"/api/token/{tok['id']}", ut)
    assert (got["name"], got["remain_quota"], got["status"], got["subnet"]) == ("orig", 10, 1, "")
    await api.fail("PUT", "/api/token/", ut, json={"id": 999999, "name": "x"}, contains="does not exist")


async def test_path_ids(api: Api) -> None:
    for path in ("/api/token/abc", "/api/token/1.5", "/api/token/-1", "/api/token/0",
                 "/api/token/99999999999999999999"):
        await api.fail("GET", path, contains="id must be")
        await api.fail("DELETE", path, contains="id must be")
    await api.fail("GET", "/api/token/424242", contains="does not exist")
    await api.fail("DELETE", "/api/token/424242", contains="does not exist")


async def test_requires_login(api: Api) -> None:
    for method, path in (("GET", "/api/token/"), ("GET", "/api/token/search?keyword=a"), ("GET", "/api/token/1"),
                         ("POST", "/api/token/"), ("PUT", "/api/token/"), ("DELETE", "/api/token/1")):
        body = await api.call(method, path, token="", json={"name": "x"}, expect_status=401)
        assert body["success"] is False and "access token" in body["message"]
        body = await api.call(method, path, token="not-a-real-access-token", json={"name": "x"})
        assert body["success"] is False and "无效" in body["message"]
    assert len(await api.ok("GET", "/api/token/")) == 1  # nothing was created


async def test_disabled_user_refused(api: Api) -> None:
    _, ut = await api.make_user("alice")
    await api.ok("POST", "/api/user/manage", json={"username": "alice", "action": "disable"})
    await api.fail("GET", "/api/token/", ut, contains="封禁")
    await api.fail("POST", "/api/token/", ut, json={"name": "x"}, contains="封禁")


async def test_isolation_between_users(api: Api) -> None:
    a_id, at = await api.make_user("alice")
    _, bt = await api.make_user("bob")
    tok = await _create(api, at, name="secret-a", remain_quota=77)
    before = await api.services.store.read(_raw, tok["id"])

    await api.fail("GET", f"/api/token/{tok['id']}", bt, contains="does not exist")
    await api.fail("PUT", "/api/token/", bt, json={"id": tok["id"], "name": "hacked", "remain_quota": 1,
                                                   "unlimited_quota": True}, contains="does not exist")
    await api.fail("PUT", "/api/token/?status_only=1", bt, json={"id": tok["id"], "status": 2},
                   contains="does not exist")
    await api.fail("DELETE", f"/api/token/{tok['id']}", bt, contains="does not exist")
    assert await api.ok("GET", "/api/token/search?keyword=secret", bt) == []
    assert await api.ok("GET", "/api/token/search?keyword=", bt) != []  # only bob's own default token
    for t in await api.ok("GET", "/api/token/search?keyword=", bt) + await api.ok("GET", "/api/token/", bt):
        assert t["user_id"] != a_id and t["key"] != tok["key"]
    for order in ("", "remain_quota", "used_quota"):
        assert all(t["id"] != tok["id"] for t in await api.ok("GET", f"/api/token/?order={order}", bt))

    assert await api.services.store.read(_raw, tok["id"]) == before  # untouched
    # root is scoped to its own tokens too: the token API is never cross-user
    await api.fail("GET", f"/api/token/{tok['id']}", contains="does not exist")
    await api.fail("DELETE", f"/api/token/{tok['id']}", contains="does not exist")
    assert (await api.ok("GET", f"/api/token/{tok['id']}", at))["name"] == "secret-a"



async def test_unicode_digit_path_id_is_bad_input(api: Api) -> None:
    await api.fail("GET", "/api/token/%C2%B2", contains="id must be an integer")


async def test_rate_limits_round_trip_and_survive_updates_that_leave_them_out(api_any: Api) -> None:
    api = api_any
    _, ut = await api.make_user("alice")
    tok = await _create(api, ut, rpm_limit=60, tpm_limit=10**9)
    assert (tok["rpm_limit"], tok["tpm_limit"]) == (60, 10**9)
    got = await api.ok("GET", f"/api/token/{tok['id']}", ut)
    assert (got["rpm_limit"], got["tpm_limit"]) == (60, 10**9)
    # One API's web UI sends the token back without fields it does not know: the limits stay
    body = {k: v for k, v in got.items() if k not in ("rpm_limit", "tpm_limit")}
    updated = await api.ok("PUT", "/api/token/", ut, json={**body, "name": "renamed"})
    assert (updated["name"], updated["rpm_limit"], updated["tpm_limit"]) == ("renamed", 60, 10**9)
    updated = await api.ok("PUT", "/api/token/", ut, json={**got, "rpm_limit": 0})
    assert (updated["rpm_limit"], updated["tpm_limit"]) == (0, 10**9)
    assert (await _create(api, ut))["rpm_limit"] == 0  # 0 (no limit) by default
    listed = {t["id"]: t for t in await api.ok("GET", "/api/token/", ut)}
    assert listed[tok["id"]]["tpm_limit"] == 10**9 and listed[tok["id"]]["rpm_limit"] == 0


BAD_LIMITS: list[tuple[Any, str]] = [
    (-1, "must be an integer >= 0"),
    (10**9 + 1, "must be an integer <= 1000000000"),
    (2**63, "must be an integer <= 1000000000"),
    (1.5, "must be an integer"),
    ("60", "must be an integer"),
    (True, "must be an integer"),
    ([60], "must be an integer"),
    ({"per": "minute"}, "must be an integer"),
]


async def test_rate_limits_bad_input(api: Api) -> None:
    _, ut = await api.make_user("alice")
    tok = await _create(api, ut, name="orig", rpm_limit=5)
    for field in ("rpm_limit", "tpm_limit"):
        for value, message in BAD_LIMITS:
            await api.fail("POST", "/api/token/", ut, json={"name": "n", "remain_quota": 1, field: value},
                           contains=f"{field} {message}")
            await api.fail("PUT", "/api/token/", ut, json={**tok, field: value}, contains=f"{field} {message}")
    assert len(await api.ok("GET", "/api/token/", ut)) == 2  # the default token and orig: nothing created
    got = await api.ok("GET", f"/api/token/{tok['id']}", ut)
    assert (got["rpm_limit"], got["tpm_limit"]) == (5, 0)  # nothing changed
