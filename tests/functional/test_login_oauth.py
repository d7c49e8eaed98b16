"""GitHub, Lark and OIDC sign-in, WeChat, and Turnstile through One API's /api routes, against fakes on loopback
that speak each service's protocol (tests/fakes/login_services.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from tests.fakes.login_services import Profile
from tests.functional.conftest import csrf_header
from tests.functional.login_env import LoginEnv, authorize, login_env


async def github_round(env: LoginEnv, **headers: str) -> dict[str, Any]:
    state = (await env.session_get("/api/oauth/state"))["data"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{12}", state)
    back = await authorize(env, f"{env.oauth.url}/login/oauth/authorize?client_id={env.oauth.client_id}"
                                f"&state={state}&scope=user:email")
    assert back["state"] == state
    return await env.session_get(f"/api/oauth/github?code={back['code']}&state={state}", **headers)


async def enable_github(env: LoginEnv) -> None:
    await env.options(GitHubClientId=env.oauth.client_id, GitHubClientSecret=env.oauth.client_secret,
                      GitHubOAuthEnabled="true")


async def test_github_registers_then_logs_in_and_checks_state(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        body = await github_round(env)
        assert body["success"] is False and "not enabled GitHub" in body["message"]
        await enable_github(env)
        await env.options(QuotaForNewUser="1000")

        body = await github_round(env)
        assert body["success"] is True, body
        user = body["data"]
        assert user["username"] == "github_2" and user["display_name"] == "The Octocat" and user["role"] == 1
        assert user["access_token"] == "" and set(user) >= {"github_id", "wechat_id", "quota"}
        me = await env.session_get("/api/user/self")  # the session cookie works
        assert me["data"]["github_id"] == "octocat" and me["data"]["email"] == "octocat@example.com"
        assert me["data"]["quota"] == 1000  # the registration gift, as a password sign-up gets
        assert env.oauth.token_requests[-1]["content_type"] == "application/json"

        env.api.client.session.cookie_jar.clear()
        again = await github_round(env)
        assert again["success"] is True and again["data"]["id"] == user["id"]

        # state: missing, wrong, reused, or from another browser
        for query in ("code=x", "code=x&state=", "code=x&state=nope"):
            refused = await env.session_get(f"/api/oauth/github?{query}")
            assert refused["_status"] == 403 and refused["message"] == "state is empty or not same"
        state = (await env.session_get("/api/oauth/state"))["data"]
        async with ClientSession() as other:  # a state is bound to the browser that asked for it
            resp = await other.get(f"{env.api.client.make_url('/api/oauth/github')}?code=x&state={state}")
            assert resp.status == 403
        assert (await env.session_get(f"/api/oauth/github?code=bad&state={state}"))["message"] != \
            "state is empty or not same"
        reused = await env.session_get(f"/api/oauth/github?code=bad&state={state}")
        assert reused["_status"] == 403  # used once

        state = (await env.session_get("/api/oauth/state"))["data"]
        bad = await env.session_get(f"/api/oauth/github?code=not-a-code&state={state}")
        assert bad["success"] is False and "did not accept the login" in bad["message"]


async def test_github_refusals_bans_closed_registration_and_binding(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await enable_github(env)
        await env.options(RegisterEnabled="false")
        body = await github_round(env)
        assert body["success"] is False and "registration is closed" in body["message"]
        assert len(await env.api.ok("GET", "/api/user/")) == 1  # root only

        # binding: a logged-in user adds GitHub; then that GitHub logs in as them
        uid, _ = await env.api.make_user("erin")
        await env.api.make_user("frank")
        await env.api.client.post("/api/user/login", json={"username": "erin", "password": "password123"})
        body = await github_round(env)
        assert body == {"success": True, "message": "bind", "data": None, "_status": 200}
        env.api.client.session.cookie_jar.clear()
        body = await github_round(env)
        assert body["success"] is True and body["data"]["username"] == "erin"

        # the same GitHub account cannot be bound to another user
        env.api.client.session.cookie_jar.clear()
        await env.api.client.post("/api/user/login", json={"username": "frank", "password": "password123"})
        body = await github_round(env)
        assert body["success"] is False and "already bound" in body["message"]

        # a banned user is refused
        env.api.client.session.cookie_jar.clear()
        await env.api.ok("POST", "/api/user/manage", json={"username": "erin", "action": "disable"})
        body = await github_round(env)
        assert body["success"] is False and "用户已被封禁" in body["message"]
        assert "session=" not in str(env.api.client.session.cookie_jar.filter_cookies(env.api.client.make_url("/")))
        assert uid


async def test_github_unreachable_or_broken(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client, ONEAPI_GITHUB_API_URL="http://127.0.0.1:1") as env:
        await enable_github(env)
        body = await github_round(env)
        assert body["_status"] == 200 and body["success"] is False and "cannot reach GitHub" in body["message"]
    (tmp_path / "2").mkdir()
    async with login_env(tmp_path / "2", aiohttp_client) as env:
        await enable_github(env)
        env.oauth.profile = Profile(login="")
        body = await github_round(env)
        assert body["success"] is False and "names no user" in body["message"]
        assert len(await env.api.ok("GET", "/api/user/")) == 1


async def test_lark_and_oidc_by_discovery(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.options(LarkClientId=env.oauth.client_id, LarkClientSecret=env.oauth.client_secret,
                          ServerAddress=str(env.api.client.make_url("")).rstrip("/"))
        env.oauth.profile = Profile(sub="ou_lark_1", name="飞书用户")
        state = (await env.session_get("/api/oauth/state"))["data"]
        callback = str(env.api.client.make_url("/oauth/lark"))
        back = await authorize(env, f"{env.oauth.url}/open-apis/authen/v1/authorize?client_id="
                                    f"{env.oauth.client_id}&redirect_uri={callback}&state={state}")
        body = await env.session_get(f"/api/oauth/lark?code={back['code']}&state={state}")
        assert body["success"] is True, body
        assert body["data"]["username"] == "lark_2" and body["data"]["display_name"] == "飞书用户"
        # Lark's user_info carries an e-mail address but says nothing of its verification: not kept
        assert (await env.session_get("/api/user/self"))["data"]["email"] == ""

        env.api.client.session.cookie_jar.clear()
        await env.options(OidcClientId="client-123", OidcClientSecret=env.oauth.client_secret,
                          OidcWellKnown=f"{env.oauth.url}/.well-known/openid-configuration")
        body = await env.session_get("/api/oauth/oidc?code=x&state=y")
        assert body["_status"] == 403  # the state is checked first, as One API
        await env.options(OidcEnabled="true")
        env.oauth.profile = Profile(sub="oidc-sub-9", name="Grace", email="grace@example.com",
                                    preferred_username="grace")
        state = (await env.session_get("/api/oauth/state"))["data"]
        back = await authorize(env, f"{env.oauth.url}/oidc/authorize?client_id=client-123&response_type=code"
                                    f"&redirect_uri={env.api.client.make_url('/oauth/oidc')}&state={state}")
        body = await env.session_get(f"/api/oauth/oidc?code={back['code']}&state={state}")
        assert body["success"] is True, body
        assert body["data"]["username"] == "grace"  # the provider's preferred_username, when free and valid
        assert (await env.session_get("/api/user/self"))["data"]["email"] == ""  # no email_verified: not kept
        token_request = env.oauth.token_requests[-1]
        assert token_request["content_type"] == "application/x-www-form-urlencoded"
        assert token_request["grant_type"] == "authorization_code"


async def test_wechat_login_register_and_bind(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        body = await env.session_get("/api/oauth/wechat?code=123456")
        assert body["success"] is False and "not enabled WeChat" in body["message"]
        await env.options(**env.wechat.options(), WeChatAuthEnabled="true")
        env.wechat.codes["123456"] = "wx-openid-1"
        body = await env.session_get("/api/oauth/wechat?code=123456")
        assert body["success"] is True and body["data"]["username"] == "wechat_2", body
        assert body["data"]["display_name"] == "WeChat User"
        assert env.wechat.calls[-1] == {"code": "123456", "auth": "wechat-server-token"}
        again = await env.session_get("/api/oauth/wechat?code=123456")  # the WeChat Server's codes are single use
        assert again["success"] is False and "验证码错误或已过期" in again["message"]
        for query, message in [("", "enter the verification code"), ("code=" + "9" * 70, "enter the verification")]:
            bad = await env.session_get(f"/api/oauth/wechat?{query}")
            assert bad["success"] is False and message in bad["message"], bad

        env.api.client.session.cookie_jar.clear()
        _, token = await env.api.make_user("heidi")
        env.wechat.codes["777777"] = "wx-openid-heidi"
        await env.api.ok("GET", "/api/oauth/wechat/bind?code=777777", token)
        env.wechat.codes["888888"] = "wx-openid-heidi"
        body = await env.session_get("/api/oauth/wechat?code=888888")
        assert body["success"] is True and body["data"]["username"] == "heidi"
        env.wechat.codes["999999"] = "wx-openid-1"
        env.api.client.session.cookie_jar.clear()
        await env.api.fail("GET", "/api/oauth/wechat/bind?code=999999", token, contains="already bound")
        await env.api.client.post("/api/user/login", json={"username": "heidi", "password": "password123"})
        # a browser's cookie bind needs the CSRF token (a forged bind would hand the account over)
        forged = await env.session_get("/api/oauth/wechat/bind?code=1")
        assert forged["_status"] == 403
        assert (await env.session_get("/api/oauth/wechat/bind?code=1", **await csrf_header(env.api.client)))[
            "success"] is False

        await env.options(WeChatServerToken="wrong")
        env.wechat.codes["555555"] = "wx-x"
        body = await env.session_get("/api/oauth/wechat?code=555555")
        assert body["success"] is False and "token 无效" in body["message"]
        await env.options(WeChatServerAddress="http://127.0.0.1:1")
        body = await env.session_get("/api/oauth/wechat?code=555555")
        assert body["success"] is False and "cannot reach WeChat Server" in body["message"]


async def test_turnstile_guards_signup_codes_resets_and_login(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        await env.options(**env.turnstile.options(), TurnstileCheckEnabled="true")
        reg = {"username": "ivan", "password": "password123"}
        for query, message in [("", "Turnstile token 为空"), ("?turnstile=forged", "Turnstile 校验失败")]:
            await env.api.fail("POST", f"/api/user/register{query}", token="", json=reg, contains=message)
            body = await env.session_get(f"/api/verification{query}{'&' if query else '?'}email=i@example.com")
            assert body["success"] is False and message in body["message"]
            body = await env.session_get(f"/api/reset_password{query}")
            assert body["success"] is False and message in body["message"]
            resp = await env.api.client.post(f"/api/user/login{query}", json={"username": "root", "password": "x"})
            assert message in (await resp.json())["message"]
        assert env.smtp.inbox.messages == [] and len(await env.api.ok("GET", "/api/user/")) == 1

        token = env.turnstile.issue()
        assert (await env.session_get(f"/api/verification?email=i@example.com&turnstile={token}"))["success"]
        sent = env.turnstile.verified[-1]
        assert sent == {"secret": "turnstile-secret", "response": token, "remoteip": "127.0.0.1"}
        # a passed check is kept 10 minutes for this browser (One API keeps it in the session): signing up next
        # needs no second check, as One API's sign-up form sends the same, already spent, token
        checks = len(env.turnstile.verified)
        # ... but only for the client address that passed it: the cookie replayed from elsewhere is not a pass
        moved = await env.api.call("POST", f"/api/user/register?turnstile={token}", token="", json=reg,
                                   headers={"X-Forwarded-For": "203.0.113.9"})
        assert moved["success"] is False and "Turnstile 校验失败" in moved["message"]
        await env.api.ok("POST", f"/api/user/register?turnstile={token}", token="", json=reg)
        assert len(env.turnstile.verified) == checks + 1
        env.api.client.session.cookie_jar.clear()
        await env.api.fail("POST", f"/api/user/register?turnstile={token}", token="",
                           json={**reg, "username": "ivan2"}, contains="Turnstile 校验失败")  # spent token


async def test_answers_arriving_in_pieces_are_read_to_the_end(tmp_path: Path, aiohttp_client: Any) -> None:
    """A network (or a proxy) may deliver an answer in several pieces: each is read whole, up to the cap."""
    async with login_env(tmp_path, aiohttp_client) as env:
        for fake in (env.oauth, env.wechat, env.turnstile):
            fake.pieces_apart = 0.3
        await enable_github(env)
        await env.options(**env.wechat.options(), WeChatAuthEnabled="true", **env.turnstile.options(),
                          TurnstileCheckEnabled="true")
        body = await env.api.call("POST", f"/api/user/login?turnstile={env.turnstile.issue()}", token="",
                                  json={"username": "root", "password": "123456"})
        assert body["success"] is True, body
        assert len(env.turnstile.verified) == 1
        env.api.client.session.cookie_jar.clear()
        env.wechat.codes["123456"] = "wx-in-pieces"
        body = await env.session_get("/api/oauth/wechat?code=123456")
        assert body["success"] is True and body["data"]["username"] == "wechat_2", body
        env.api.client.session.cookie_jar.clear()
        body = await github_round(env)  # the token and the profile, each in two pieces
        assert body["success"] is True and body["data"]["username"] == "github_3", body
        env.api.client.session.cookie_jar.clear()
        # past the cap (1 MiB, sent without a length), the answer is refused, not cut and misread
        env.wechat.pieces_apart, env.wechat.padding = 0.0, 2 << 20
        env.wechat.codes["654321"] = "wx-huge"
        body = await env.session_get("/api/oauth/wechat?code=654321")
        assert body["success"] is False and "WeChat Server gave an answer oneapi cannot read" in body["message"]


async def test_an_oidc_address_is_kept_only_when_verified(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.options(OidcClientId=env.oauth.client_id, OidcClientSecret=env.oauth.client_secret,
                          OidcWellKnown=f"{env.oauth.url}/.well-known/openid-configuration", OidcEnabled="true")

        async def sign_in(profile: Profile) -> dict[str, Any]:
            env.api.client.session.cookie_jar.clear()
            env.oauth.profile = profile
            state = (await env.session_get("/api/oauth/state"))["data"]
            back = await authorize(env, f"{env.oauth.url}/oidc/authorize?client_id=client-123&response_type=code"
                                        f"&redirect_uri={env.api.client.make_url('/oauth/oidc')}&state={state}")
            body = await env.session_get(f"/api/oauth/oidc?code={back['code']}&state={state}")
            assert body["success"] is True, body
            return dict((await env.session_get("/api/user/self"))["data"])

        for n, claim in enumerate([False, "false", None]):
            me = await sign_in(Profile(sub=f"unverified-{n}", email="boss@example.com", email_verified=claim))
            assert me["email"] == "", claim
        for n, claim in enumerate([True, "true"]):
            me = await sign_in(Profile(sub=f"verified-{n}", email=f"v{n}@example.com", email_verified=claim))
            assert me["email"] == f"v{n}@example.com", claim
