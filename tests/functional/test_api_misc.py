"""Public status and content pages, the model catalogue, groups, the admin top-up and the web page (SPEC 2.2)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from oneapi import __version__
from oneapi.store.queries import logs as logs_q
from oneapi.store.queries import users as users_q
from tests.functional.conftest import Api

TOO_LOW = "权限不足"
NO_CREDENTIALS = "未登录且未提供 access token"
ROOT_QUOTA = 500_000_000_000_000
STATUS_FIELDS = {
    "version", "start_time", "email_verification", "github_oauth", "github_client_id", "lark_client_id",
    "system_name", "logo", "footer_html", "wechat_qrcode", "wechat_login", "server_address", "turnstile_check",
    "turnstile_site_key", "top_up_link", "chat_link", "quota_per_unit", "display_in_currency", "oidc",
    "oidc_client_id", "oidc_well_known", "oidc_authorization_endpoint", "oidc_token_endpoint",
    "oidc_userinfo_endpoint",
}


async def set_option(api: Api, key: str, value: str) -> None:
    await api.ok("PUT", "/api/option/", json={"key": key, "value": value})


async def public(api: Api, path: str) -> Any:
    """GET without any credentials; require success and return data."""
    body = await api.call("GET", path)
    assert body["success"] is True, body
    return body["data"]


async def quota_of(api: Api, user_id: int) -> int:
    row = await api.services.store.read(users_q.get, user_id)
    assert row is not None
    return int(row["quota"])


async def logs_of(api: Api, user_id: int) -> list[dict[str, Any]]:
    return await api.services.store.read(logs_q.list_page, logs_q.LogFilter(user_id=user_id), 0, 100)


# -- status and content ---------------------------------------------------------------------------


async def test_status_has_every_field_with_defaults(api: Api) -> None:
    before = int(time.time())
    status = await public(api, "/api/status")
    assert set(status) == STATUS_FIELDS
    assert status["version"] == __version__
    assert isinstance(status["start_time"], int) and before - 60 <= status["start_time"] <= before + 1
    assert status["system_name"] == "One API" and status["quota_per_unit"] == 500000
    assert status["display_in_currency"] is True
    for flag in ("email_verification", "github_oauth", "wechat_login", "turnstile_check", "oidc"):
        assert status[flag] is False, flag
    for text in ("github_client_id", "lark_client_id", "logo", "footer_html", "wechat_qrcode", "server_address",
                 "turnstile_site_key", "top_up_link", "chat_link", "oidc_client_id", "oidc_well_known"):
        assert status[text] == "", text


async def test_status_start_time_is_stable(api: Api) -> None:
    first = (await public(api, "/api/status"))["start_time"]
    assert (await public(api, "/api/status"))["start_time"] == first


async def test_status_reflects_options(api: Api) -> None:
    values = {"SystemName": "My Gateway", "Logo": "https://x.test/logo.png", "Footer": "<b>f</b>",
              "ServerAddress": "https://gw.test", "TopUpLink": "https://shop.test", "ChatLink": "https://chat.test",
              "GitHubClientId": "gh-id", "TurnstileSiteKey": "ts-key", "WeChatServerAddress": "https://wx.test",
              "WeChatAccountQRCodeImageURL": "https://wx.test/qr.png", "LarkClientId": "lark",
              "OidcClientId": "oidc-id", "OidcWellKnown": "https://idp.test/.well-known",
              "OidcAuthorizationEndpoint": "https://idp.test/auth", "OidcTokenEndpoint": "https://idp.test/token",
              "OidcUserinfoEndpoint": "https://idp.test/me", "QuotaPerUnit": "1000"}
    for key, value in values.items():
        await set_option(api, key, value)
    for key in ("GitHubOAuthEnabled", "TurnstileCheckEnabled", "WeChatAuthEnabled", "OidcEnabled",
                "EmailVerificationEnabled"):
        await set_option(api, key, "true")
    await set_option(api, "DisplayInCurrencyEnabled", "false")
    status = await public(api, "/api/status")
    assert (status["system_name"], status["logo"], status["footer_html"], status["server_address"]) == \
        ("My Gateway", "https://x.test/logo.png", "<b>f</b>", "https://gw.test")
    assert (status["top_up_link"], status["chat_link"], status["github_client_id"]) == \
        ("https://shop.test", "https://chat.test", "gh-id")
    assert (status["turnstile_site_key"], status["wechat_qrcode"], status["lark_client_id"]) == \
        ("ts-key", "https://wx.test/qr.png", "lark")
    assert (status["oidc_client_id"], status["oidc_well_known"], status["oidc_authorization_endpoint"],
            status["oidc_token_endpoint"], status["oidc_userinfo_endpoint"]) == \
        ("oidc-id", "https://idp.test/.well-known", "https://idp.test/auth", "https://idp.test/token",
         "https://idp.test/me")
    assert status["quota_per_unit"] == 1000 and status["display_in_currency"] is False
    assert all(status[k] is True for k in ("github_oauth", "turnstile_check", "wechat_login", "oidc",
                                           "email_verification"))


async def test_status_never_leaks_secrets(api: Api) -> None:
    for key in ("GitHubClientSecret", "TurnstileSecretKey", "WeChatServerToken", "SMTPToken", "OidcClientSecret"):
        await set_option(api, key, f"s3cret-{key}")
    text = await (await api.client.get("/api/status")).text()
    assert "s3cret" not in text


@pytest.mark.parametrize(("path", "key"), [
    ("/api/notice", "Notice"), ("/api/about", "About"), ("/api/home_page_content", "HomePageContent"),
])
async def test_content_pages_reflect_options(api: Api, path: str, key: str) -> None:
    assert await public(api, path) == ""
    content = f"# {key}\n\n公告 **markdown** <script>x</script>"
    await set_option(api, key, content)
    assert await public(api, path) == content
    assert await public(api, path.rstrip("/") + "/") == content  # trailing slash variant
    await set_option(api, key, "")
    assert await public(api, path) == ""


async def test_content_pages_are_public_but_bad_tokens_do_not_matter(api: Api) -> None:
    await set_option(api, "Notice", "hello")
    body = await api.call("GET", "/api/notice", token="bad-token")
    assert body["success"] is True and body["data"] == "hello"


# -- models and groups ------------------------------------------------------------------------------


async def test_models_by_channel_type(api: Api) -> None:
    _, token = await api.make_user("alice")
    data = await api.ok("GET", "/api/models", token=token)
    assert isinstance(data, dict) and data
    assert all(k.isdigit() and int(k) > 0 for k in data), sorted(data)
    assert "0" not in data
    assert "gpt-4o" in data["1"] and "gpt-3.5-turbo" in data["1"]
    assert any(m.startswith("claude-") for m in data["14"])  # Anthropic
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in data.values())
    assert await api.ok("GET", "/api/models") == data  # root too


async def test_models_requires_login(api: Api) -> None:
    body = await api.call("GET", "/api/models", expect_status=401)
    assert NO_CREDENTIALS in body["message"]
    await api.fail("GET", "/api/models", token="bad-token", contains="access token 无效")


async def test_groups_lists_group_ratio_keys(api: Api) -> None:
    _, admin = await api.make_user("adm", role=10)
    assert await api.ok("GET", "/api/group/", token=admin) == ["default", "svip", "vip"]
    assert await api.ok("GET", "/api/group") == ["default", "svip", "vip"]
    await set_option(api, "GroupRatio", '{"default": 1, "pro": 2.5, "free": 0}')
    assert await api.ok("GET", "/api/group/", token=admin) == ["default", "free", "pro"]


async def test_groups_refuses_common_users(api: Api) -> None:
    _, token = await api.make_user("alice")
    await api.fail("GET", "/api/group/", token=token, contains=TOO_LOW)
    assert NO_CREDENTIALS in (await api.call("GET", "/api/group/", expect_status=401))["message"]


# -- admin top-up -----------------------------------------------------------------------------------


async def test_admin_topup_credits_quota_and_logs(api: Api) -> None:
    uid, _ = await api.make_user("alice")
    _, admin = await api.make_user("adm", role=10)
    await api.ok("POST", "/api/topup", token=admin, json={"user_id": uid, "quota": 1000})
    assert await quota_of(api, uid) == 1000
    await api.ok("POST", "/api/topup", json={"user_id": uid, "quota": 250, "remark": "invoice 42"})
    assert await quota_of(api, uid) == 1250
    entries = sorted(await logs_of(api, uid), key=lambda e: e["id"])
    assert [(e["type"], e["quota"], e["username"]) for e in entries] == [(1, 1000, "alice"), (1, 250, "alice")]
    assert "管理员充值" in entries[0]["content"] and entries[1]["content"] == "invoice 42"


TOPUP_BAD_INPUT = [
    ({"quota": -5}, "quota must be an integer >= 1"),
    ({"quota": 0}, "quota must be an integer >= 1"),
    ({}, "quota is required"),
    ({"quota": "100"}, "quota must be an integer"),
    ({"quota": 1.5}, "quota must be an integer"),
    ({"quota": 2**60}, "quota must be an integer <="),
    ({"quota": 10, "user_id": None}, "user_id is required"),
    ({"quota": 10, "user_id": "2"}, "user_id must be an integer"),
    ({"quota": 10, "user_id": 0}, "user_id must be an integer >= 1"),
    ({"quota": 10, "user_id": 9999}, "does not exist"),
    ({"quota": 10, "remark": "r" * 256}, "remark must be at most 255"),
]


async def test_admin_topup_bad_input(api: Api) -> None:
    uid, _ = await api.make_user("alice")
    for body, message in TOPUP_BAD_INPUT:
        payload = {k: v for k, v in {"user_id": uid, **body}.items() if v is not None}
        await api.fail("POST", "/api/topup", json=payload, contains=message)
    assert await quota_of(api, uid) == 0 and await logs_of(api, uid) == []


async def test_admin_topup_authorization(api: Api) -> None:
    uid, common = await api.make_user("alice")
    admin_id, admin = await api.make_user("adm", role=10)
    peer, _ = await api.make_user("adm2", role=10)
    await api.fail("POST", "/api/topup", token=common, json={"user_id": uid, "quota": 10}, contains=TOO_LOW)
    await api.fail("POST", "/api/topup", token=common, json={"user_id": 1, "quota": 10}, contains=TOO_LOW)
    body = await api.call("POST", "/api/topup", json={"user_id": uid, "quota": 10}, expect_status=401)
    assert NO_CREDENTIALS in body["message"]
    for target in (1, peer, admin_id):  # root, a peer, itself
        await api.fail("POST", "/api/topup", token=admin, json={"user_id": target, "quota": 10},
                       contains="cannot top up")
    assert await quota_of(api, 1) == ROOT_QUOTA
    assert await quota_of(api, uid) == 0 and await quota_of(api, peer) == 0 and await quota_of(api, admin_id) == 0


async def test_admin_topup_of_deleted_user_is_refused(api: Api) -> None:
    uid, _ = await api.make_user("alice")
    await api.ok("DELETE", f"/api/user/{uid}")
    await api.fail("POST", "/api/topup", json={"user_id": uid, "quota": 10}, contains="does not exist")
    assert await quota_of(api, uid) == 0


# -- web page ---------------------------------------------------------------------------------------


async def test_web_page_is_html(api: Api) -> None:
    resp = await api.client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert text.lstrip().lower().startswith("<!doctype html>") and "/login" in text
    assert "X-Oneapi-Request-Id" in resp.headers
