"""``/api/user``: registration, login, self-service and user administration (SPEC 2.1, 2.2, 3)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from oneapi.store.queries import logs as logs_q
from oneapi.store.queries import tokens as tokens_q
from oneapi.store.queries import users as users_q
from oneapi.store.queries.accounting import LogRow
from tests.functional.conftest import Api, csrf_header

PASSWORD = "password123"
TOO_LOW = "权限不足"
WRONG_LOGIN = "用户名或密码错误"
NO_CREDENTIALS = "未登录且未提供 access token"
BAD_TOKEN = "access token 无效"


# -- helpers ----------------------------------------------------------------------------------------


async def db_user(api: Api, user_id: int) -> dict[str, Any]:
    row = await api.services.store.read(users_q.get, user_id)
    assert row is not None
    return row


async def user_id_of(api: Api, username: str) -> int:
    row = await api.services.store.read(users_q.find_by_username, username)
    assert row is not None, username
    return int(row["id"])


async def user_count(api: Api) -> int:
    return await api.services.store.read(users_q.count)


async def logs_of(api: Api, user_id: int, log_type: int = 0) -> list[dict[str, Any]]:
    return await api.services.store.read(logs_q.list_page, logs_q.LogFilter(user_id=user_id, log_type=log_type),
                                         0, 100)


async def tokens_of(api: Api, user_id: int) -> list[dict[str, Any]]:
    return await api.services.store.read(tokens_q.list_page, user_id, 0, 100)


async def set_option(api: Api, key: str, value: str) -> None:
    await api.ok("PUT", "/api/option/", json={"key": key, "value": value})


async def login(api: Api, username: str, password: str = PASSWORD) -> dict[str, Any]:
    """POST /api/user/login without credentials; the client's cookie jar is emptied after."""
    body = await api.call("POST", "/api/user/login", json={"username": username, "password": password})
    api.client.session.cookie_jar.clear()
    return dict(body)


async def register(api: Api, **body: Any) -> dict[str, Any]:
    return dict(await api.call("POST", "/api/user/register", json={"password": PASSWORD, **body}))


async def access_token_for(api: Api, username: str, password: str = PASSWORD) -> str:
    """Log in with the session cookie and fetch a fresh access token (GET /api/user/token)."""
    resp = await api.client.post("/api/user/login", json={"username": username, "password": password})
    assert (await resp.json())["success"] is True
    body = await (await api.client.get("/api/user/token", headers=await csrf_header(api.client))).json()
    api.client.session.cookie_jar.clear()
    assert body["success"] is True, body
    return str(body["data"])


async def seed_users(api: Api, count: int) -> list[int]:
    """Insert users straight into the store (no bcrypt), with distinct quota, used_quota and request_count."""
    ids = []
    for i in range(count):
        user = {"username": f"seed{i:02d}", "password": "x", "display_name": f"Seed {i}", "role": 1, "status": 1,
                "quota": (i * 37) % 11 * 100, "used_quota": (i * 5) % 7, "request_count": (i * 3) % 5,
                "access_token": f"{i:032d}", "aff_code": f"s{i:03d}", "group": "default"}
        ids.append(await api.services.store.write(users_q.insert, user, []))
    return ids


# -- registration -----------------------------------------------------------------------------------


async def test_register_creates_user_with_default_token(api: Api) -> None:
    body = await register(api, username="alice", email="alice@example.com")
    assert body["success"] is True, body
    uid = await user_id_of(api, "alice")
    user = await db_user(api, uid)
    assert user["role"] == 1 and user["status"] == 1 and user["quota"] == 0 and user["group"] == "default"
    # without EmailVerificationEnabled, nothing proved the address: it is not kept (One API's rule), so it can
    # neither log in nor reset a password
    assert user["email"] == "" and user["display_name"] == "alice"
    assert (await login(api, "alice@example.com", PASSWORD))["success"] is False
    assert user["password"] != PASSWORD and user["password"].startswith("$2")  # bcrypt
    assert len(user["access_token"]) == 32 and len(user["aff_code"]) == 4
    [token] = await tokens_of(api, uid)
    assert token["name"] == "default" and token["unlimited_quota"] in (True, 1)
    assert token["remain_quota"] == -1 and token["expired_time"] == -1 and token["status"] == 1
    assert len(token["key"]) == 48
    assert (await login(api, "alice"))["success"] is True
    assert not await logs_of(api, uid)  # no gift configured: no log


async def test_register_ignores_privileged_fields(api: Api) -> None:
    body = await register(api, username="mallory", role=100, quota=10**12, status=1, group="vip",
                          access_token="0" * 32, inviter_id=1)
    assert body["success"] is True
    user = await db_user(api, await user_id_of(api, "mallory"))
    assert user["role"] == 1 and user["quota"] == 0 and user["group"] == "default"
    assert user["access_token"] != "0" * 32 and user["inviter_id"] == 0


@pytest.mark.parametrize(("option", "message"), [
    ("RegisterEnabled", "registration is closed"),
    ("PasswordRegisterEnabled", "password registration is disabled"),
])
async def test_register_toggles_refuse(api: Api, option: str, message: str) -> None:
    await set_option(api, option, "false")
    body = await register(api, username="alice")
    assert body["success"] is False and message in body["message"]
    assert await user_count(api) == 1
    await set_option(api, option, "true")
    assert (await register(api, username="alice"))["success"] is True


REGISTER_BAD_INPUT = [
    ({"username": "abcdefghijklm"}, "username must be at most 12"),
    ({"username": "alice", "password": "short12"}, "password must be 8 to 20"),
    ({"username": "alice", "password": "a" * 21}, "password must be at most 20"),
    ({"username": "alice", "password": "😀" * 19}, "72 bytes"),
    ({"username": "alice", "email": "not-an-email"}, "email must be a valid"),
    ({"username": "alice", "email": "a@b"}, "email must be a valid"),
    ({"username": "alice", "email": "a" * 45 + "@x.com"}, "email must be at most 50"),
    ({}, "username is required"),
    ({"username": ""}, "username is required"),
    ({"username": "   "}, "username is required"),
    ({"username": "alice", "password": None}, "password is required"),
    ({"username": 123}, "username must be a string"),
    ({"username": ["alice"]}, "username must be a string"),
    ({"username": "alice", "password": 12345678}, "password must be a string"),
    ({"username": "alice", "email": []}, "email must be a string"),
    ({"username": "alice", "aff_code": 5}, "aff_code must be a string"),
    ({"username": "al ice"}, "spaces"),
    ({"username": "deleted_x"}, "deleted_"),
]


async def test_register_bad_input(api: Api) -> None:
    for body, message in REGISTER_BAD_INPUT:  # 18 attempts: within the critical limit of 20
        payload = {k: v for k, v in {"password": PASSWORD, **body}.items() if v is not None}
        resp = await api.call("POST", "/api/user/register", json=payload)
        assert resp["success"] is False and message in resp["message"], (body, resp)
    assert await user_count(api) == 1


async def test_register_accepts_limits(api: Api) -> None:
    assert (await register(api, username="a" * 12, password="p" * 20))["success"] is True
    assert (await register(api, username="b", password="p" * 8, email="x@y.io"))["success"] is True
    assert (await register(api, username="c", password="密" * 8))["success"] is True
    assert (await login(api, "c", "密" * 8))["success"] is True


async def test_register_duplicate_username(api: Api) -> None:
    assert (await register(api, username="alice"))["success"] is True
    body = await register(api, username="alice", password="another-pass")
    assert body["success"] is False and "already taken" in body["message"]
    body = await register(api, username="root")
    assert body["success"] is False and "already taken" in body["message"]
    assert await user_count(api) == 2
    assert (await login(api, "alice"))["success"] is True  # the original password still works


async def test_register_gift_for_new_user(api: Api) -> None:
    await set_option(api, "QuotaForNewUser", "1500")
    assert (await register(api, username="alice"))["success"] is True
    uid = await user_id_of(api, "alice")
    assert (await db_user(api, uid))["quota"] == 1500
    [entry] = await logs_of(api, uid)
    assert entry["type"] == 4 and "新用户注册赠送" in entry["content"] and entry["username"] == "alice"
    assert "0.003000" in entry["content"]  # DisplayInCurrencyEnabled: 1500 / 500000 dollars


async def test_register_invite_rewards(api: Api) -> None:
    inviter_id, inviter_token = await api.make_user("inviter")
    code = await api.ok("GET", "/api/user/aff", token=inviter_token)
    await set_option(api, "QuotaForNewUser", "1000")
    await set_option(api, "QuotaForInviter", "300")
    await set_option(api, "QuotaForInvitee", "200")
    await set_option(api, "DisplayInCurrencyEnabled", "false")
    before = (await db_user(api, inviter_id))["quota"]
    assert (await register(api, username="newbie", aff_code=code))["success"] is True
    uid = await user_id_of(api, "newbie")
    newbie = await db_user(api, uid)
    assert newbie["quota"] == 1200 and newbie["inviter_id"] == inviter_id
    assert (await db_user(api, inviter_id))["quota"] == before + 300
    contents = sorted(e["content"] for e in await logs_of(api, uid, log_type=4))
    assert contents == ["使用邀请码赠送 200 点额度", "新用户注册赠送 1000 点额度"]
    [reward] = await logs_of(api, inviter_id, log_type=4)
    assert reward["content"] == "邀请用户赠送 300 点额度"
    assert reward["username"] == "inviter"  # One API fills the username of every log


async def test_register_with_unknown_aff_code_gets_no_invite_reward(api: Api) -> None:
    await set_option(api, "QuotaForInvitee", "200")
    await set_option(api, "QuotaForInviter", "300")
    assert (await register(api, username="newbie", aff_code="zzzz"))["success"] is True
    newbie = await db_user(api, await user_id_of(api, "newbie"))
    assert newbie["quota"] == 0 and newbie["inviter_id"] == 0


async def test_register_with_disabled_inviters_code_gets_no_reward(api: Api) -> None:
    inviter_id, token = await api.make_user("inviter")
    code = await api.ok("GET", "/api/user/aff", token=token)
    await api.ok("POST", "/api/user/manage", json={"username": "inviter", "action": "disable"})
    await set_option(api, "QuotaForInviter", "300")
    assert (await register(api, username="newbie", aff_code=code))["success"] is True
    assert (await db_user(api, inviter_id))["quota"] == 0


# -- login ------------------------------------------------------------------------------------------


async def test_login_by_username_and_by_email(api: Api) -> None:
    uid, _ = await api.make_user("alice")
    await api.ok("PUT", "/api/user/", json={"id": uid, "email": "alice@example.com", "display_name": "Alice"})
    for name in ("alice", "alice@example.com"):
        resp = await api.client.post("/api/user/login", json={"username": name, "password": PASSWORD})
        body = await resp.json()
        assert body["success"] is True, body
        # One API's answer: its whole User struct, only id, names, role and status filled in (nothing secret)
        assert body["data"] == {"id": uid, "username": "alice", "display_name": "Alice", "role": 1, "status": 1,
                                "password": "", "email": "", "github_id": "", "wechat_id": "", "lark_id": "",
                                "oidc_id": "", "verification_code": "", "access_token": "", "quota": 0,
                                "used_quota": 0, "request_count": 0, "group": "", "aff_code": "", "inviter_id": 0}
        assert resp.cookies["session"].value
        api.client.session.cookie_jar.clear()


async def test_login_failures_share_one_message(api: Api) -> None:
    uid, _ = await api.make_user("alice")
    await api.ok("PUT", "/api/user/", json={"id": uid, "email": "alice@example.com"})
    messages = set()
    for name, password in [("alice", "wrong-password"), ("nobody", PASSWORD), ("alice@example.com", "wrong-pass"),
                           ("nobody@example.com", PASSWORD), ("ALICE", PASSWORD)]:
        resp = await api.client.post("/api/user/login", json={"username": name, "password": password})
        body = await resp.json()
        assert resp.status == 200 and body["success"] is False and "session" not in resp.cookies
        messages.add(body["message"])
    assert len(messages) == 1 and WRONG_LOGIN in messages.pop()


async def test_login_disabled_by_option(api: Api) -> None:
    await set_option(api, "PasswordLoginEnabled", "false")
    body = await login(api, "root", "123456")
    assert body["success"] is False and "password login is disabled" in body["message"]
    await set_option(api, "PasswordLoginEnabled", "true")
    assert (await login(api, "root", "123456"))["success"] is True


LOGIN_BAD_INPUT = [
    ({}, "username and password are required"),
    ({"username": "root"}, "username and password are required"),
    ({"password": "123456"}, "username and password are required"),
    ({"username": 1, "password": "123456"}, "username must be a string"),
    ({"username": "root", "password": 123456}, "password must be a string"),
    ({"username": "root", "password": "x" * 129}, "password must be at most"),
    # longer than bcrypt's 72 bytes: refused like any wrong password, not a 500
    ({"username": "root", "password": "x" * 100}, "wrong username or password"),
    ({"username": "root", "password": "密" * 30}, "wrong username or password"),
]


async def test_login_bad_input(api: Api) -> None:
    for body, message in LOGIN_BAD_INPUT:
        resp = await api.call("POST", "/api/user/login", json=body)
        assert resp["success"] is False and message in resp["message"], (body, resp)


# -- self service -----------------------------------------------------------------------------------


async def test_get_self_hides_secrets(api: Api) -> None:
    uid, token = await api.make_user("alice")
    me = await api.ok("GET", "/api/user/self", token=token)
    assert me["id"] == uid and me["username"] == "alice" and me["role"] == 1 and me["status"] == 1
    assert "password" not in me and "access_token" not in me
    assert {"quota", "used_quota", "request_count", "group", "aff_code", "display_name", "email"} <= set(me)
    await api.call("POST", "/api/user/login", json={"username": "alice", "password": PASSWORD})
    by_cookie = await api.call("GET", "/api/user/self")  # the jar's session cookie, no header
    assert by_cookie["data"] == me


async def test_update_self_username_display_name_and_password(api: Api) -> None:
    uid, token = await api.make_user("alice")
    await api.ok("PUT", "/api/user/self", token=token,
                 json={"username": "alicia", "display_name": "Alicia A.", "password": "new-password1"})
    user = await db_user(api, uid)
    assert user["username"] == "alicia" and user["display_name"] == "Alicia A."
    assert (await login(api, "alicia", PASSWORD))["success"] is False  # old password fails
    assert (await login(api, "alice", "new-password1"))["success"] is False  # old username is gone
    assert (await login(api, "alicia", "new-password1"))["success"] is True


async def test_update_self_placeholder_or_no_password_keeps_it(api: Api) -> None:
    uid, token = await api.make_user("alice")
    before = (await db_user(api, uid))["password"]
    await api.ok("PUT", "/api/user/self", token=token, json={"display_name": "A", "password": "$I_LOVE_U"})
    await api.ok("PUT", "/api/user/self", token=token, json={"display_name": "B", "password": ""})
    await api.ok("PUT", "/api/user/self", token=token, json={"display_name": "C"})
    user = await db_user(api, uid)
    assert user["password"] == before and user["display_name"] == "C"
    assert (await login(api, "alice"))["success"] is True


SELF_BAD_INPUT = [
    ({"username": "abcdefghijklm"}, "username must be at most 12"),
    ({"username": ""}, "username is required"),
    ({"username": "deleted_me"}, "deleted_"),
    ({"display_name": "d" * 21}, "display_name must be at most 20"),
    ({"display_name": 5}, "display_name must be a string"),
    ({"password": "short"}, "password must be 8 to 20"),
    ({"password": "p" * 21}, "password must be at most 20"),
    ({"password": 12345678}, "password must be a string"),
    ({"display_name": "New", "password": "short"}, "password must be 8 to 20"),
    ({"display_name": "New", "username": "x" * 13}, "username must be at most 12"),
]


async def test_update_self_bad_input_writes_nothing(api: Api) -> None:
    uid, token = await api.make_user("alice")
    before = await db_user(api, uid)
    for body, message in SELF_BAD_INPUT:
        await api.fail("PUT", "/api/user/self", token=token, json=body, contains=message)
        assert await db_user(api, uid) == before, body


async def test_update_self_ignores_privileged_fields(api: Api) -> None:
    uid, token = await api.make_user("alice")
    await api.ok("PUT", "/api/user/self", token=token,
                 json={"display_name": "A", "role": 100, "quota": 10**12, "status": 1, "group": "vip",
                       "id": 1, "access_token": "f" * 32})
    user = await db_user(api, uid)
    assert user["display_name"] == "A" and user["role"] == 1 and user["quota"] == 0 and user["group"] == "default"
    assert user["access_token"] == token
    root = await db_user(api, 1)
    assert root["display_name"] == "Root User"


async def test_update_self_username_clash(api: Api) -> None:
    uid, token = await api.make_user("alice")
    await api.make_user("bob")
    await api.fail("PUT", "/api/user/self", token=token, json={"username": "bob"}, contains="already taken")
    await api.fail("PUT", "/api/user/self", token=token, json={"username": "root"}, contains="already taken")
    assert (await db_user(api, uid))["username"] == "alice"
    await api.ok("PUT", "/api/user/self", token=token, json={"username": "alice"})  # unchanged is fine


async def test_delete_self(api: Api) -> None:
    uid, token = await api.make_user("alice")
    await api.ok("DELETE", "/api/user/self", token=token)
    user = await db_user(api, uid)
    assert user["status"] == 3 and user["username"].startswith("deleted_")
    assert (await login(api, "alice"))["success"] is False
    await api.fail("GET", "/api/user/self", token=token, contains=BAD_TOKEN)


async def test_delete_self_clears_session(api: Api) -> None:
    await api.make_user("alice")
    await api.client.post("/api/user/login", json={"username": "alice", "password": PASSWORD})
    resp = await api.client.delete("/api/user/self", headers=await csrf_header(api.client))
    assert (await resp.json())["success"] is True
    assert resp.cookies["session"].value == ""
    assert (await api.call("GET", "/api/user/self", expect_status=401))["success"] is False


async def test_root_cannot_delete_itself(api: Api) -> None:
    await api.fail("DELETE", "/api/user/self", contains="root")
    root = await db_user(api, 1)
    assert root["status"] == 1 and root["username"] == "root"


# -- dashboard, access token, aff code ------------------------------------------------------------


async def test_dashboard_groups_own_consume_logs_by_day_and_model(api: Api) -> None:
    uid, token = await api.make_user("alice")
    other, _ = await api.make_user("bob")
    now = int(time.time())

    def row(user_id: int, model: str, at: int, quota: int, prompt: int, completion: int,
            log_type: int = 2) -> dict[str, Any]:
        return {"user_id": user_id, "username": "x", "type": log_type, "created_at": at, "model_name": model,
                "quota": quota, "prompt_tokens": prompt, "completion_tokens": completion, "content": ""}

    for entry in [row(uid, "gpt-4o", now, 100, 10, 5), row(uid, "gpt-4o", now, 200, 20, 6),
                  row(uid, "gpt-3.5-turbo", now, 7, 1, 1), row(uid, "gpt-4o", now - 6 * 86400, 50, 3, 4),
                  row(uid, "gpt-4o", now - 8 * 86400, 999, 9, 9),  # older than 7 days
                  row(uid, "gpt-4o", now, 999, 9, 9, log_type=1),  # not a consume log
                  row(other, "gpt-4o", now, 999, 9, 9)]:  # another user's
        await api.services.store.write(logs_q.insert, LogRow(**entry))

    def day(ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")

    data = await api.ok("GET", "/api/user/dashboard", token=token)
    assert data == [
        {"Day": day(now - 6 * 86400), "ModelName": "gpt-4o", "RequestCount": 1, "Quota": 50, "PromptTokens": 3,
         "CompletionTokens": 4},
        {"Day": day(now), "ModelName": "gpt-3.5-turbo", "RequestCount": 1, "Quota": 7, "PromptTokens": 1,
         "CompletionTokens": 1},
        {"Day": day(now), "ModelName": "gpt-4o", "RequestCount": 2, "Quota": 300, "PromptTokens": 30,
         "CompletionTokens": 11},
    ]
    assert await api.ok("GET", "/api/user/dashboard") == []  # root has no usage


async def test_regenerate_access_token(api: Api) -> None:
    uid, old = await api.make_user("alice")
    new = await api.ok("GET", "/api/user/token", token=old)
    assert isinstance(new, str) and len(new) == 32 and int(new, 16) >= 0 and new != old
    assert (await api.ok("GET", "/api/user/self", token=new))["id"] == uid
    await api.fail("GET", "/api/user/self", token=old, contains=BAD_TOKEN)
    newer = await api.ok("GET", "/api/user/token", token=new)
    assert newer != new
    await api.fail("GET", "/api/user/self", token=new, contains=BAD_TOKEN)
    assert (await api.call("GET", "/api/user/token", expect_status=401))["success"] is False


async def test_aff_code_is_four_chars_stable_and_created_lazily(api: Api) -> None:
    uid, token = await api.make_user("alice")
    code = await api.ok("GET", "/api/user/aff", token=token)
    assert isinstance(code, str) and len(code) == 4
    assert await api.ok("GET", "/api/user/aff", token=token) == code
    await api.services.store.write(users_q.update, uid, {"aff_code": None})  # a row from before invites
    fresh = await api.ok("GET", "/api/user/aff", token=token)
    assert len(fresh) == 4 and await api.ok("GET", "/api/user/aff", token=token) == fresh
    assert (await db_user(api, uid))["aff_code"] == fresh
    root_code = await api.ok("GET", "/api/user/aff")
    assert root_code != fresh


# -- vouchers, available models --------------------------------------------------------------------


async def test_topup_by_voucher(api: Api) -> None:
    uid, token = await api.make_user("alice")
    keys = await api.ok("POST", "/api/redemption/", json={"name": "gift", "quota": 5000, "count": 2})
    assert len(keys) == 2
    assert await api.ok("POST", "/api/user/topup", token=token, json={"key": keys[0]}) == 5000
    assert (await db_user(api, uid))["quota"] == 5000
    [entry] = await logs_of(api, uid)
    assert entry["type"] == 1 and entry["content"].startswith("通过兑换码充值") and entry["quota"] == 5000
    await api.fail("POST", "/api/user/topup", token=token, json={"key": keys[0]}, contains="already been used")
    await api.fail("POST", "/api/user/topup", json={"key": keys[0]}, contains="already been used")
    assert await api.ok("POST", "/api/user/topup", token=token, json={"key": f"  {keys[1]} "}) == 5000
    assert (await db_user(api, uid))["quota"] == 10000


VOUCHER_BAD_INPUT = [
    ({"key": "0" * 32}, "invalid voucher"),
    ({"key": "short"}, "invalid voucher"),
    ({"key": "' OR 1=1 --" + "x" * 21}, "invalid voucher"),
    ({"key": ""}, "key is required"),
    ({}, "key is required"),
    ({"key": 12345}, "key must be a string"),
]


async def test_topup_by_voucher_bad_input(api: Api) -> None:
    uid, token = await api.make_user("alice")
    await api.ok("POST", "/api/redemption/", json={"name": "gift", "quota": 5000, "count": 1})
    for body, message in VOUCHER_BAD_INPUT:
        await api.fail("POST", "/api/user/topup", token=token, json=body, contains=message)
        assert (await api.call("POST", "/api/user/topup", json=body, expect_status=401))["success"] is False
    assert (await db_user(api, uid))["quota"] == 0


async def test_available_models_follow_the_users_group(api: Api) -> None:
    uid, token = await api.make_user("alice")
    assert await api.ok("GET", "/api/user/available_models", token=token) == []
    for body in [{"name": "c1", "key": "sk-a", "models": "gpt-4o,gpt-4o-mini", "group": "default"},
                 {"name": "c2", "key": "sk-b", "models": "claude-3-opus-20240229", "group": "vip"},
                 {"name": "c3", "key": "sk-c", "models": "shared", "group": "default,vip"},
                 {"name": "c4", "key": "sk-d", "models": "hidden-model", "group": "default,vip", "status": 2}]:
        await api.ok("POST", "/api/channel/", json={"type": 1, **body})
    assert await api.ok("GET", "/api/user/available_models", token=token) == ["gpt-4o", "gpt-4o-mini", "shared"]
    await api.ok("PUT", "/api/user/", json={"id": uid, "group": "vip"})
    assert await api.ok("GET", "/api/user/available_models", token=token) == ["claude-3-opus-20240229", "shared"]
    await api.ok("PUT", "/api/user/", json={"id": uid, "group": "nobody"})
    assert await api.ok("GET", "/api/user/available_models", token=token) == []
    body = await api.call("GET", "/api/user/available_models", expect_status=401)
    assert NO_CREDENTIALS in body["message"]


# -- administration: list, search, get -------------------------------------------------------------


async def test_admin_list_paginates_ten_per_page_and_orders(api: Api) -> None:
    await seed_users(api, 11)
    rows = await api.services.store.read(users_q.list_page, 0, 100)
    everyone = {r["id"]: r for r in rows}
    assert len(everyone) == 12

    async def pages(order: str) -> list[dict[str, Any]]:
        suffix = f"&order={order}" if order else ""
        first = await api.ok("GET", f"/api/user/?p=0{suffix}")
        second = await api.ok("GET", f"/api/user/?p=1{suffix}")
        assert len(first) == 10 and len(second) == 2
        assert await api.ok("GET", f"/api/user/?p=2{suffix}") == []
        return [*first, *second]

    default = await pages("")
    assert [u["id"] for u in default] == sorted(everyone, reverse=True)
    assert [u["id"] for u in await api.ok("GET", "/api/user/")] == [u["id"] for u in default[:10]]  # p omitted
    for order in ("quota", "used_quota", "request_count"):
        listed = await pages(order)
        assert [u["id"] for u in listed] == sorted(everyone, key=lambda i: (everyone[i][order], i), reverse=True)
    for user in default:
        assert "password" not in user and "access_token" not in user


async def test_admin_list_hides_deleted_users(api: Api) -> None:
    ids = await seed_users(api, 3)
    await api.ok("DELETE", f"/api/user/{ids[1]}")
    listed = [u["id"] for u in await api.ok("GET", "/api/user/")]
    assert listed == [ids[2], ids[0], 1]


async def test_admin_list_bad_query(api: Api) -> None:
    for query, message in [
        ("order=name", "order must be"), ("order=id;drop", "order must be"), ("order=QUOTA", "order must be"),
        ("p=abc", "p must be an integer"), ("p=-1", "p must be an integer >= 0"),
        ("p=1.5", "p must be an integer"), ("p=99999999", "p must be an integer <="),
    ]:
        await api.fail("GET", f"/api/user/?{query}", contains=message)


async def test_admin_search(api: Api) -> None:
    alice, _ = await api.make_user("alice")
    alicia, _ = await api.make_user("alicia")
    bob, _ = await api.make_user("bob")
    gone, _ = await api.make_user("alison")
    await api.ok("PUT", "/api/user/", json={"id": alice, "email": "wonder@example.com", "display_name": "Wonder"})
    await api.ok("PUT", "/api/user/", json={"id": bob, "display_name": "Alpha"})
    await api.ok("DELETE", f"/api/user/{gone}")

    async def ids(keyword: str) -> list[int]:
        return [u["id"] for u in await api.ok("GET", f"/api/user/search?keyword={keyword}")]

    assert await ids("ali") == [alicia, alice]
    assert await ids("wonder@") == [alice]
    assert await ids("Won") == [alice]
    assert await ids("Alp") == [bob]
    assert await ids(str(bob)) == [bob]
    assert await ids("lice") == []  # prefix, not substring
    assert await ids("%25") == [] and await ids("_") == []  # LIKE wildcards are literal
    assert await ids("nobody") == []
    for user in await api.ok("GET", "/api/user/search?keyword=a"):
        assert "password" not in user and "access_token" not in user
    await api.fail("GET", "/api/user/search?keyword=" + "k" * 65, contains="at most 64")

    async def named(username: str) -> list[int]:  # oneapi's exact lookup (the CLI's), never a prefix or an id
        return [u["id"] for u in await api.ok("GET", f"/api/user/search?username={username}")]

    assert await named("alice") == [alice] and await named("ali") == [] and await named(str(bob)) == []
    assert await named("alison") == []  # deleted
    digits, _ = await api.make_user(str(alice))
    assert await named(str(alice)) == [digits]
    assert "password" not in (await api.ok("GET", "/api/user/search?username=alice"))[0]
    await api.fail("GET", "/api/user/search?username=" + "k" * 65, contains="at most 64")


async def test_admin_get_by_id_and_role_rules(api: Api) -> None:
    common, _ = await api.make_user("alice")
    admin_id, admin = await api.make_user("adm", role=10)
    other_admin, _ = await api.make_user("adm2", role=10)
    got = await api.ok("GET", f"/api/user/{common}")
    assert got["username"] == "alice" and "password" not in got and "access_token" not in got
    assert (await api.ok("GET", "/api/user/1"))["role"] == 100  # root sees root
    assert (await api.ok("GET", f"/api/user/{admin_id}"))["role"] == 10
    assert (await api.ok("GET", f"/api/user/{common}", token=admin))["username"] == "alice"
    for target in (1, other_admin, admin_id):  # root, a peer, itself: equal or higher role
        await api.fail("GET", f"/api/user/{target}", token=admin, contains="无权获取同级或更高等级用户的信息")


async def test_admin_get_and_delete_unknown_or_bad_id(api: Api) -> None:
    for path, message in [
        ("/api/user/9999", "does not exist"), ("/api/user/abc", "id must be an integer"),
        ("/api/user/1.5", "id must be an integer"), ("/api/user/0", "id must be an integer >= 1"),
        ("/api/user/-3", "id must be an integer >= 1"),
        ("/api/user/99999999999999999999", "id must be an integer <="), ("/api/user/%20", "id must be an integer"),
    ]:
        await api.fail("GET", path, contains=message)
        await api.fail("DELETE", path, contains=message)


# -- administration: create, manage -----------------------------------------------------------------


async def test_admin_create_and_role_rules(api: Api) -> None:
    _, admin = await api.make_user("adm", role=10)
    await api.ok("POST", "/api/user/", token=admin, json={"username": "alice", "password": PASSWORD})
    alice = await db_user(api, await user_id_of(api, "alice"))
    assert alice["role"] == 1 and alice["display_name"] == "alice" and alice["status"] == 1
    assert [t["name"] for t in await tokens_of(api, alice["id"])] == ["default"]
    await api.fail("POST", "/api/user/", token=admin, json={"username": "adm3", "password": PASSWORD, "role": 10},
                   contains="无法创建权限大于等于自己的用户")
    await api.ok("POST", "/api/user/", json={"username": "adm3", "password": PASSWORD, "role": 10,
                                             "display_name": "Third"})
    adm3 = await db_user(api, await user_id_of(api, "adm3"))
    assert adm3["role"] == 10 and adm3["display_name"] == "Third"
    await api.fail("POST", "/api/user/", json={"username": "root2", "password": PASSWORD, "role": 100},
                   contains="role must be 1")
    assert (await login(api, "alice"))["success"] is True


CREATE_BAD_INPUT = [
    ({"username": "alice"}, "password is required"),
    ({"password": PASSWORD}, "username is required"),
    ({"username": "abcdefghijklm", "password": PASSWORD}, "username must be at most 12"),
    ({"username": "alice", "password": "short"}, "password must be 8 to 20"),
    ({"username": "alice", "password": PASSWORD, "display_name": "d" * 21}, "display_name must be at most 20"),
    ({"username": "alice", "password": PASSWORD, "role": "1"}, "role must be an integer"),
    ({"username": "alice", "password": PASSWORD, "role": 0}, "role must be 1"),
    ({"username": "alice", "password": PASSWORD, "role": 5}, "role must be 1"),
    ({"username": "root", "password": PASSWORD}, "already taken"),
    ({"username": 7, "password": PASSWORD}, "username must be a string"),
]


async def test_admin_create_bad_input(api: Api) -> None:
    for body, message in CREATE_BAD_INPUT:
        await api.fail("POST", "/api/user/", json=body, contains=message)
    assert await user_count(api) == 1


async def manage(api: Api, username: str, action: str, token: str | None = None) -> Any:
    return await api.ok("POST", "/api/user/manage", token=token, json={"username": username, "action": action})


async def manage_fails(api: Api, username: str, action: str, contains: str, token: str | None = None) -> None:
    await api.fail("POST", "/api/user/manage", token=token, json={"username": username, "action": action},
                   contains=contains)


async def test_manage_by_admin(api: Api) -> None:
    _, admin = await api.make_user("adm", role=10)
    peer_id, _ = await api.make_user("adm2", role=10)
    carol_id, carol = await api.make_user("carol")
    assert await manage(api, "carol", "disable", admin) == {"role": 1, "status": 2}
    await api.fail("GET", "/api/user/self", token=carol, contains="用户已被封禁")
    assert await manage(api, "carol", "enable", admin) == {"role": 1, "status": 1}
    assert (await api.ok("GET", "/api/user/self", token=carol))["id"] == carol_id
    await manage_fails(api, "carol", "promote", "only root can promote", admin)
    for target in ("root", "adm2", "adm"):  # root, a peer, itself
        for action in ("disable", "enable", "delete", "demote", "promote"):
            await manage_fails(api, target, action, "无权更新同权限等级或更高权限等级的用户信息", admin)
    assert (await db_user(api, peer_id))["status"] == 1 and (await db_user(api, 1))["status"] == 1
    assert await manage(api, "carol", "delete", admin) == {"role": 1, "status": 3}
    carol_row = await db_user(api, carol_id)
    assert carol_row["status"] == 3 and carol_row["username"].startswith("deleted_")
    await manage_fails(api, "carol", "enable", "does not exist", admin)


async def test_manage_by_root(api: Api) -> None:
    admin_id, _ = await api.make_user("adm", role=10)
    dave_id, dave = await api.make_user("dave")
    assert await manage(api, "dave", "promote") == {"role": 10, "status": 1}
    assert await api.ok("GET", "/api/user/", token=dave)  # admin rights at once
    await manage_fails(api, "dave", "promote", "already")
    assert await manage(api, "dave", "demote") == {"role": 1, "status": 1}
    await api.fail("GET", "/api/user/", token=dave, contains=TOO_LOW)
    await manage_fails(api, "dave", "demote", "already")
    assert await manage(api, "adm", "disable") == {"role": 10, "status": 2}
    assert await manage(api, "adm", "enable") == {"role": 10, "status": 1}
    for action, message in [("disable", "cannot disable the root"), ("delete", "cannot delete the root"),
                            ("demote", "无法降级超级管理员用户"), ("promote", "already")]:
        await manage_fails(api, "root", action, message)
    root = await db_user(api, 1)
    assert root["role"] == 100 and root["status"] == 1 and root["username"] == "root"
    assert (await db_user(api, admin_id))["role"] == 10 and (await db_user(api, dave_id))["role"] == 1


MANAGE_BAD_INPUT = [
    ({"username": "dave", "action": "explode"}, "action must be"),
    ({"username": "dave", "action": "DISABLE"}, "action must be"),
    ({"username": "dave"}, "action is required"),
    ({"action": "disable"}, "username is required"),
    ({"username": "nobody", "action": "disable"}, "does not exist"),
    ({"username": 3, "action": "disable"}, "username must be a string"),
    ({"username": "dave", "action": ["disable"]}, "action must be a string"),
]


async def test_manage_bad_input(api: Api) -> None:
    dave_id, _ = await api.make_user("dave")
    before = await db_user(api, dave_id)
    for body, message in MANAGE_BAD_INPUT:
        await api.fail("POST", "/api/user/manage", json=body, contains=message)
    assert await db_user(api, dave_id) == before


# -- administration: update, delete ----------------------------------------------------------------


async def test_admin_update_fields_and_quota_log(api: Api) -> None:
    uid, token = await api.make_user("carol")
    await api.ok("PUT", "/api/user/", json={"id": uid, "username": "caroline", "display_name": "Carol C",
                                            "email": "carol@example.com", "group": "vip", "quota": 2_500_000,
                                            "password": "brand-new-pass"})
    user = await db_user(api, uid)
    assert (user["username"], user["display_name"], user["email"], user["group"], user["quota"]) == \
        ("caroline", "Carol C", "carol@example.com", "vip", 2_500_000)
    [entry] = await logs_of(api, uid)
    assert entry["type"] == 3 and entry["username"] == "caroline"
    assert entry["content"] == "管理员将用户额度从 ＄0.000000 额度修改为 ＄5.000000 额度"
    assert (await login(api, "caroline", "brand-new-pass"))["success"] is True
    assert (await login(api, "caroline", PASSWORD))["success"] is False
    await api.ok("PUT", "/api/user/", json={"id": uid, "quota": 2_500_000, "password": "$I_LOVE_U"})
    assert len(await logs_of(api, uid)) == 1  # quota unchanged: no new log
    assert (await login(api, "caroline", "brand-new-pass"))["success"] is True
    await api.ok("PUT", "/api/user/", json={"id": uid, "quota": 0})
    assert (await db_user(api, uid))["quota"] == 0 and len(await logs_of(api, uid, log_type=3)) == 2
    assert (await api.ok("GET", "/api/user/self", token=token))["username"] == "caroline"


UPDATE_BAD_INPUT = [
    ({"quota": -1}, "quota must be an integer >= 0"),
    ({"quota": 1.5}, "quota must be an integer"),
    ({"quota": "100"}, "quota must be an integer"),
    ({"quota": True}, "quota must be an integer"),
    ({"quota": 2**60}, "quota must be an integer <="),
    ({"username": "bob"}, "already taken"),
    ({"username": "root"}, "already taken"),
    ({"username": "x" * 13}, "username must be at most 12"),
    ({"username": ""}, "username is required"),
    ({"display_name": "d" * 21}, "display_name must be at most 20"),
    ({"email": "bad"}, "email must be a valid"),
    ({"group": "a,b"}, "single group"),
    ({"group": "g" * 33}, "group must be at most 32"),
    ({"password": "short"}, "password must be 8 to 20"),
    ({"role": 10}, "role cannot be changed"),
    ({"role": 100}, "role cannot be changed"),
    ({"role": "x"}, "role must be an integer"),
]


async def test_admin_update_bad_input_writes_nothing(api: Api) -> None:
    uid, _ = await api.make_user("carol")
    await api.make_user("bob")
    before = await db_user(api, uid)
    for body, message in UPDATE_BAD_INPUT:
        await api.fail("PUT", "/api/user/", json={"id": uid, "display_name": "Changed", **body}, contains=message)
        assert await db_user(api, uid) == before, body
    assert await logs_of(api, uid) == []


async def test_admin_update_bad_id(api: Api) -> None:
    for body, message in [({}, "id is required"), ({"id": "1"}, "id must be an integer"),
                          ({"id": 0}, "id must be an integer >= 1"), ({"id": 9999}, "does not exist"),
                          ({"id": 1.5}, "id must be an integer")]:
        await api.fail("PUT", "/api/user/", json={**body, "display_name": "X"}, contains=message)
    assert (await db_user(api, 1))["display_name"] == "Root User"


async def test_admin_update_role_rules(api: Api) -> None:
    carol, _ = await api.make_user("carol")
    admin_id, admin = await api.make_user("adm", role=10)
    peer, _ = await api.make_user("adm2", role=10)
    await api.ok("PUT", "/api/user/", token=admin, json={"id": carol, "display_name": "by admin", "role": 1})
    assert (await db_user(api, carol))["display_name"] == "by admin"
    for target in (1, peer, admin_id):
        await api.fail("PUT", "/api/user/", token=admin, json={"id": target, "quota": 1},
                       contains="无权更新同权限等级或更高权限等级的用户信息")
    assert (await db_user(api, 1))["quota"] == 500_000_000_000_000
    await api.ok("PUT", "/api/user/", json={"id": 1, "display_name": "The Root"})  # root may edit itself
    assert (await db_user(api, 1))["display_name"] == "The Root"
    await api.ok("PUT", "/api/user/", json={"id": peer, "display_name": "Peer"})  # and admins


async def test_admin_delete_is_soft(api: Api) -> None:
    carol, token = await api.make_user("carol")
    await api.ok("DELETE", f"/api/user/{carol}")
    row = await db_user(api, carol)
    assert row["status"] == 3 and row["username"].startswith("deleted_") and row["access_token"] is None
    await api.fail("GET", "/api/user/self", token=token, contains=BAD_TOKEN)
    assert (await login(api, "carol"))["success"] is False
    await api.fail("GET", f"/api/user/{carol}", contains="does not exist")
    await api.fail("DELETE", f"/api/user/{carol}", contains="does not exist")
    await api.fail("PUT", "/api/user/", json={"id": carol, "display_name": "x"}, contains="does not exist")
    assert carol not in [u["id"] for u in await api.ok("GET", "/api/user/")]
    await api.ok("POST", "/api/user/", json={"username": "carol", "password": PASSWORD})  # the name is free again
    assert await user_id_of(api, "carol") != carol


async def test_admin_delete_role_rules(api: Api) -> None:
    carol, _ = await api.make_user("carol")
    admin_id, admin = await api.make_user("adm", role=10)
    peer, _ = await api.make_user("adm2", role=10)
    await api.fail("DELETE", "/api/user/1", contains="无权删除同权限等级或更高权限等级的用户")  # not even root
    for target in (1, peer, admin_id):
        await api.fail("DELETE", f"/api/user/{target}", token=admin, contains="无权删除")
    assert all([(await db_user(api, i))["status"] == 1 for i in (1, peer, admin_id)])
    await api.ok("DELETE", f"/api/user/{carol}", token=admin)
    await api.ok("DELETE", f"/api/user/{peer}")  # root deletes admins
    assert (await db_user(api, peer))["status"] == 3


ADMIN_ROUTES = [
    ("GET", "/api/user/", None), ("GET", "/api/user/?p=1&order=quota", None),
    ("GET", "/api/user/search?keyword=r", None),
    ("GET", "/api/user/1", None), ("GET", "/api/user/{me}", None), ("DELETE", "/api/user/1", None),
    ("DELETE", "/api/user/{other}", None),
    ("POST", "/api/user/", {"username": "evil", "password": PASSWORD}),
    ("POST", "/api/user/manage", {"username": "bob", "action": "disable"}),
    ("POST", "/api/user/manage", {"username": "{me}", "action": "promote"}),
    ("PUT", "/api/user/", {"id": "{me}", "quota": 10**12}),
    ("PUT", "/api/user/", {"id": "{other}", "display_name": "pwned"}),
]


async def test_common_user_refused_admin_routes(api: Api) -> None:
    me, token = await api.make_user("alice")
    other, _ = await api.make_user("bob")

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            text = value.replace("{me}", str(me)).replace("{other}", str(other))
            return int(text) if text.isdigit() and value != text else text
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    snapshot = [await db_user(api, i) for i in (1, me, other)]
    count = await user_count(api)
    for method, path, body in ADMIN_ROUTES:
        await api.fail(method, fill(path), token=token, json=fill(body), contains=TOO_LOW)
        resp = await api.call(method, fill(path), json=fill(body), expect_status=401)
        assert NO_CREDENTIALS in resp["message"]
    assert [await db_user(api, i) for i in (1, me, other)] == snapshot and await user_count(api) == count


# -- every backend ---------------------------------------------------------------------------------


async def test_user_crud_on_every_backend(api_any: Api) -> None:
    api = api_any
    assert (await register(api, username="alice"))["success"] is True
    assert (await register(api, username="alice"))["success"] is False
    alice = await user_id_of(api, "alice")
    await api.ok("PUT", "/api/user/", json={"id": alice, "email": "alice@example.com"})  # an address root vouches for
    token = await access_token_for(api, "alice@example.com")
    assert (await api.ok("GET", "/api/user/self", token=token))["username"] == "alice"
    await api.ok("POST", "/api/user/", json={"username": "bob", "password": PASSWORD, "display_name": "Bobby"})
    bob = await user_id_of(api, "bob")
    listed = await api.ok("GET", "/api/user/?p=0&order=quota")
    assert [u["id"] for u in listed] == [1, bob, alice]
    assert [u["id"] for u in await api.ok("GET", "/api/user/search?keyword=Bob")] == [bob]
    assert [u["id"] for u in await api.ok("GET", "/api/user/search?keyword=alice%40")] == [alice]
    for wildcard in ("%25", "_", "%5C", "!"):  # LIKE wildcards and escape characters are literal everywhere
        assert await api.ok("GET", f"/api/user/search?keyword={wildcard}") == []
    assert (await api.ok("GET", f"/api/user/{bob}"))["display_name"] == "Bobby"
    await api.ok("PUT", "/api/user/", json={"id": bob, "quota": 1000, "group": "vip"})
    assert [e["type"] for e in await logs_of(api, bob)] == [3]
    await api.fail("PUT", "/api/user/", json={"id": bob, "username": "alice"}, contains="already taken")
    await api.ok("POST", "/api/topup", json={"user_id": alice, "quota": 700})
    assert (await db_user(api, alice))["quota"] == 700
    assert (await manage(api, "bob", "promote"))["role"] == 10
    assert (await manage(api, "bob", "disable"))["status"] == 2
    assert (await login(api, "bob"))["success"] is False
    assert (await manage(api, "bob", "enable"))["status"] == 1
    assert (await manage(api, "bob", "demote"))["role"] == 1
    await api.ok("PUT", "/api/user/self", token=token, json={"display_name": "Alice A", "password": "new-password"})
    assert (await login(api, "alice", "new-password"))["success"] is True
    await api.ok("DELETE", f"/api/user/{bob}")
    assert (await db_user(api, bob))["status"] == 3
    await api.fail("DELETE", "/api/user/1", contains="无权删除")
    await api.ok("DELETE", "/api/user/self", token=token)
    assert [u["id"] for u in await api.ok("GET", "/api/user/")] == [1]
