"""The login methods' pages over HTTP, as a browser without JavaScript: bad input gets a page saying what is wrong
(never a 500, never a half-made account), every form needs its CSRF token, the pages' CSP admits the Turnstile
widget only when it is on, and the Chinese pages speak Chinese."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse

from tests.fakes.login_services import FakeSmtp, text_body
from tests.functional.login_env import LoginEnv, authorize, login_env
from tests.functional.web_client import WebClient, alert, flash, text_of

PASSWORD = "password123"


async def browser(env: LoginEnv, aiohttp_client: Any) -> WebClient:
    return WebClient(await aiohttp_client(env.api.client.server))


async def test_forms_refuse_bad_input_clearly(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        web = await browser(env, aiohttp_client)
        await web.get("/register")
        for path in ("/register/code", "/reset", "/user/reset", "/login/wechat"):
            page = await web.post(path, {"email": "a@example.com"}, csrf=False, status=403)
            assert "This form has expired" in page, path

        page = await web.post("/register/code", {"username": "x", "email": "a@example.com"}, status=403)
        assert "has not set up e-mail" in alert(page)
        page = await web.post("/reset", {"email": "a@example.com"}, status=403)
        assert "has not set up e-mail" in alert(page)
        await env.use_smtp()
        await env.options(EmailVerificationEnabled="true")
        for email, message in [("", "e-mail is required"), ("nope", "valid address"), ("a@b", "valid address")]:
            page = await web.post("/register/code", {"username": "x", "email": email}, status=400)
            assert message in alert(page).lower(), (email, alert(page))
            page = await web.post("/reset", {"email": email}, status=400)
            assert message in alert(page).lower(), (email, alert(page))
        page = await web.post("/reset", {"email": "ghost@example.com"})  # the page does not tell who is here
        assert "If ghost@example.com belongs to an account, a reset link is on its way" in page
        page = await web.post("/register", {"username": "zed", "email": "z@example.com", "verification_code": "1",
                                            "password": PASSWORD, "password2": PASSWORD}, status=400)
        assert "wrong or has expired" in alert(page)

        page = await web.get("/user/reset", status=400)
        assert "incomplete" in alert(page)
        form = {"email": "a@example.com", "token": "0" * 32}
        page = await web.post("/user/reset", {**form, "password": "abcdefgh1", "password2": "abcdefgh2"}, status=400)
        assert "not the same" in alert(page)
        page = await web.post("/user/reset", {**form, "password": "short", "password2": "short"}, status=400)
        assert "8 to 20" in alert(page)
        page = await web.post("/user/reset", {**form, "password": "abcdefgh1", "password2": "abcdefgh1"}, status=400)
        assert "invalid or has expired" in alert(page)
        rows = await env.api.ok("GET", "/api/user/")
        assert [r["username"] for r in rows] == ["root"]
        assert env.smtp.inbox.messages == []


async def test_wechat_and_oauth_forms_refuse_bad_input_clearly(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:  # (a test of its own: each counts toward 20 per IP)
        web = await browser(env, aiohttp_client)
        await web.get("/login")
        page = await web.post("/login/wechat", {"code": "1"}, status=403)
        assert "not enabled WeChat" in alert(page)
        await env.options(**env.wechat.options(), WeChatAuthEnabled="true")
        page = await web.post("/login/wechat", {"code": ""}, status=400)
        assert "enter the verification code" in alert(page)

        assert "no such page" in await web.get("/oauth/nope", status=404)
        page = await web.get("/oauth/github/start", status=403)
        assert "not enabled GitHub" in alert(page)
        resp = await web.client.get("/oauth/github?code=x&state=forged", allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/login"
        rows = await env.api.ok("GET", "/api/user/")
        assert [r["username"] for r in rows] == ["root"]
        assert env.smtp.inbox.messages == []


async def test_settings_bind_email_and_wechat(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        await env.options(**env.wechat.options(), WeChatAuthEnabled="true")
        web = await browser(env, aiohttp_client)
        resp = await web.raw_post("/setting/email", {"email": "x@example.com", "code": "1"}, follow=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login")
        await env.api.make_user("kim")
        await web.login("kim", PASSWORD)
        page = await web.post("/setting/email/code", {"email": "kim@example.com"})
        assert "A code is on its way to kim@example.com" in page
        code = re.search(r"^([0-9a-f]{6})$", text_body(await env.smtp.next_message()), re.M)
        assert code
        page = await web.post("/setting/email", {"email": "kim@example.com", "code": "zzzzzz", "current": PASSWORD},
                              status=400)
        assert "wrong or has expired" in alert(page) and 'value="kim@example.com"' in page
        # the right code is not enough: the mailbox could then reset the password, so the password is asked
        for current in ("", "wrong-password"):
            page = await web.post("/setting/email", {"email": "kim@example.com", "code": code.group(1),
                                                     "current": current}, status=400)
            assert alert(page) == "The current password is wrong." and 'value="kim@example.com"' in page
        page = await web.post("/setting/email", {"email": "kim@example.com", "code": code.group(1),
                                                 "current": PASSWORD})
        assert flash(page) == "E-mail address saved." and "kim@example.com" in page

        env.wechat.codes["123123"] = "wx-kim"
        page = await web.post("/setting/wechat", {"code": "123123"}, status=400)
        assert alert(page) == "The current password is wrong."
        assert env.wechat.calls == []  # refused before the WeChat Server is asked (the code stays good)
        page = await web.post("/setting/wechat", {"code": "404404", "current": PASSWORD}, status=400)
        assert "验证码错误或已过期" in alert(page)
        page = await web.post("/setting/wechat", {"code": "123123", "current": PASSWORD})
        assert flash(page) == "Your WeChat account is now linked: you can log in with it."
        me = await env.api.ok("GET", "/api/user/search?keyword=kim")
        assert me[0]["wechat_id"] == "wx-kim" and me[0]["email"] == "kim@example.com"


async def test_turnstile_widget_and_its_csp(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        web = await browser(env, aiohttp_client)
        resp = await web.client.get("/login")
        assert "cf-turnstile" not in await resp.text()
        assert env.turnstile.url not in resp.headers["Content-Security-Policy"]
        await env.options(**env.turnstile.options(), TurnstileCheckEnabled="true")
        await env.use_smtp()  # (the reset form shows only when e-mail is set up)
        for path in ("/login", "/register", "/reset"):
            resp = await web.client.get(path)
            page = await resp.text()
            assert 'class="cf-turnstile field" data-sitekey="turnstile-site-key"' in page, path
            assert f'<script src="{env.turnstile.url}/turnstile/v0/api.js" async defer>' in page
            policy = resp.headers["Content-Security-Policy"]
            assert f"script-src 'self' {env.turnstile.url}" in policy and f"frame-src {env.turnstile.url}" in policy
        resp = await web.client.get("/about")
        assert env.turnstile.url not in resp.headers["Content-Security-Policy"]  # only pages with the widget
        await web.get("/login")
        page = await web.post("/login", {"username": "root", "password": "123456",
                                         "cf-turnstile-response": "forged"}, status=403)
        assert "the Turnstile check failed" in alert(page)
        page = await web.post("/login", {"username": "root", "password": "123456",
                                         "cf-turnstile-response": env.turnstile.issue()})
        assert "/logout" in page
        # the settings' e-mail code asks for the check too (as /api/verification); the pass above is remembered
        page = await web.get("/setting")
        assert 'class="cf-turnstile field"' in page
        web.client.session.cookie_jar.clear(lambda cookie: cookie.key == "turnstile")  # the pass expired
        page = await web.post("/setting/email/code", {"email": "root@example.com"}, status=403)
        assert "complete the Turnstile check first" in alert(page)
        page = await web.post("/setting/email/code", {"email": "root@example.com",
                                                      "cf-turnstile-response": env.turnstile.issue()})
        assert "A code is on its way" in page


async def test_chinese_pages(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        await env.options(GitHubClientId="x", GitHubOAuthEnabled="true", **env.wechat.options(),
                          WeChatAuthEnabled="true")
        web = await browser(env, aiohttp_client)
        page = await web.get("/login", **{"Accept-Language": "zh-CN"})
        for text in ("忘记密码？", "使用 GitHub 登录", "使用 微信 登录", "微信公众号二维码"):
            assert text in page, text
        zh = {"Accept-Language": "zh-CN"}
        page = await web.post("/register/code", {"email": "new@example.com"}, headers=zh)
        assert "验证码已发送至 new@example.com，10 分钟内有效。" in page
        page = await web.post("/register/code", {"email": "new@example.com"}, status=403, headers=zh)
        assert re.fullmatch(r"发送邮件过于频繁，请 \d+ 秒后再试", alert(page)), alert(page)
        await env.options(PasswordRegisterEnabled="false")
        page = await web.get("/register", **{"Accept-Language": "zh-CN"})
        assert "管理员关闭了密码注册，请在登录页使用其他方式注册。" in page


async def test_outside_failures_are_502_pages_never_500(tmp_path: Path, aiohttp_client: Any,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        await env.options(**env.wechat.options(), WeChatAuthEnabled="true")
        web = await browser(env, aiohttp_client)
        await web.get("/register")
        await env.options(SMTPPort="1")  # nothing listens there
        page = await web.post("/register/code", {"email": "a@example.com"}, status=502)
        assert "could not be sent" in alert(page)
        await env.options(SMTPPort=str(env.smtp.port), WeChatServerAddress="http://127.0.0.1:1")
        page = await web.post("/login/wechat", {"code": "123456"}, status=502)
        assert "cannot reach WeChat Server" in alert(page)

        # the CA file, checked when the server started, went away or went bad: still a clear failure, logged
        with caplog.at_level(logging.ERROR, logger="oneapi.mail"):
            env.smtp.ca_file.unlink()
            body = await env.session_get("/api/verification?email=b@example.com")
            assert body["_status"] == 200 and body["success"] is False and "could not be sent" in body["message"]
            page = await web.post("/register/code", {"email": "c@example.com"}, status=502)
            assert "could not be sent" in alert(page)
            env.smtp.ca_file.write_text("not a certificate\n")
            page = await web.post("/register/code", {"email": "d@example.com"}, status=502)
            assert "could not be sent" in alert(page)
        assert sum("sending e-mail to" in r.getMessage() for r in caplog.records) == 4, caplog.text
        assert not [r for r in caplog.records if r.exc_info], caplog.text  # no traceback
        assert env.smtp.inbox.messages == []


async def test_pages_build_no_outgoing_link_from_the_host_header(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        await env.api.make_user("vic")
        uid = (await env.api.ok("GET", "/api/user/search?keyword=vic"))[0]["id"]
        await env.api.ok("PUT", "/api/user/", json={"id": uid, "email": "vic@example.com"})
        await env.options(ServerAddress="", LarkClientId=env.oauth.client_id,
                          LarkClientSecret=env.oauth.client_secret)
        web = await browser(env, aiohttp_client)
        await web.get("/reset")
        forged = {"Host": "evil.example"}
        page = await web.post("/reset", {"email": "vic@example.com"}, status=403, headers=forged)
        assert "has not set ServerAddress" in alert(page)
        page = await web.get("/oauth/lark/start", status=403, **forged)
        assert "has not set ServerAddress" in alert(page)
        assert env.smtp.inbox.messages == []
        await env.options(ServerAddress="https://gateway.example.com/")
        resp = await web.client.get("/oauth/lark/start", allow_redirects=False, headers=forged)
        assert resp.status == 303
        assert "redirect_uri=https%3A%2F%2Fgateway.example.com%2Foauth%2Flark" in resp.headers["Location"]


async def test_the_reset_page_answers_every_address_alike(tmp_path: Path, aiohttp_client: Any,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Known or not, an address gets the same answer, as fast, under the same send limits, whatever the mail
    server does: the page does not tell who has an account (One API's /api/reset_password does)."""
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        for name in ("kim", "lee", "mo"):
            uid, _ = await env.api.make_user(name)
            await env.api.ok("PUT", "/api/user/", json={"id": uid, "email": f"{name}@example.com"})
        web = await browser(env, aiohttp_client)
        await web.get("/reset")

        async def ask(email: str, status: int = 200) -> tuple[str, float]:
            started = time.monotonic()
            page = await web.post("/reset", {"email": email}, status=status)
            answer = text_of(page).replace(email, "EMAIL")
            return answer, time.monotonic() - started

        # a mail server that takes the connection and never answers: nobody waits for it
        held: list[asyncio.StreamWriter] = []

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)

        silent = await asyncio.start_server(hold, "127.0.0.1", 0)
        await env.options(SMTPPort=str(silent.sockets[0].getsockname()[1]))
        (known, known_took), (unknown, unknown_took) = await ask("kim@example.com"), await ask("ghost@example.com")
        assert known == unknown and "If EMAIL belongs to an account, a reset link is on its way" in known
        assert known_took < 1 and unknown_took < 1, (known_took, unknown_took)
        # a second ask within the minute is refused alike
        refusals = {re.sub(r"\d+ seconds", "N seconds", (await ask(email, 403))[0])
                    for email in ("kim@example.com", "ghost@example.com")}
        assert len(refusals) == 1 and "try again in N seconds" in refusals.pop()
        for writer in held:
            writer.close()
        silent.close()

        # a mail server that refuses: the same answer again; the operator's log says what failed
        (tmp_path / "refuser").mkdir()
        refuser = await FakeSmtp(tmp_path / "refuser", fail=True).start()  # (its own CA dir: the first stays good)
        try:
            with caplog.at_level(logging.ERROR, logger="oneapi.mail"):
                await env.options(**refuser.options())
                assert (await ask("lee@example.com"))[0] == (await ask("nobody@example.com"))[0] == known
                for _ in range(50):
                    if any("sending e-mail to lee@example.com" in r.getMessage() for r in caplog.records):
                        break
                    await asyncio.sleep(0.1)
            assert any("sending e-mail to lee@example.com" in r.getMessage() for r in caplog.records), caplog.text
            assert not any("nobody@example.com" in r.getMessage() for r in caplog.records)
        finally:
            await refuser.stop()

        # and with a working one, the link arrives after the answer
        await env.use_smtp()
        assert (await ask("mo@example.com"))[0] == known
        message = await env.smtp.next_message()
        assert message["To"] == "mo@example.com" and "/user/reset?" in text_body(message)


async def test_linking_an_outside_account_asks_the_password(tmp_path: Path, aiohttp_client: Any) -> None:
    """A linked GitHub (Lark, OIDC) account logs in: linking it from an unattended browser would hand the account
    over, so the settings form asks the password, and only the state it issues may bind."""
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.options(GitHubClientId=env.oauth.client_id, GitHubClientSecret=env.oauth.client_secret,
                          GitHubOAuthEnabled="true")
        await env.api.make_user("kim")
        web = await browser(env, aiohttp_client)
        await web.login("kim", PASSWORD)
        page = await web.get("/setting")
        assert 'formaction="/setting/oauth/github"' in page and 'id="link-current"' in page
        assert "/oauth/github/start" not in page

        async def github_id() -> str:
            return str((await env.api.ok("GET", "/api/user/search?keyword=kim"))[0]["github_id"])

        async def back_from_github(resp: ClientResponse) -> ClientResponse:
            assert resp.status == 303, await resp.text()
            back = await authorize(env, resp.headers["Location"])
            return await web.client.get(f"/oauth/github?code={back['code']}&state={back['state']}",
                                        allow_redirects=False)

        for current in ("", "wrong-password"):
            page = await web.post("/setting/oauth/github", {"current": current}, status=400)
            assert alert(page) == "The current password is wrong."
        # the sign-in link, followed while logged in (no password asked): nothing is bound
        resp = await back_from_github(await web.client.get("/oauth/github/start", allow_redirects=False))
        assert resp.status == 303 and resp.headers["Location"] == "/setting"
        assert flash(await web.get("/setting")).startswith("To link an account to yours, use its button in Settings")
        assert await github_id() == ""

        page = await web.post("/setting/oauth/github", {"current": PASSWORD})  # a link on (CSP: form-action 'self')
        assert "Password confirmed. Now choose the GitHub account to link" in page
        link = re.search(r'<a class="btn btn-primary" href="([^"]+)" autofocus>Continue to GitHub</a>', page)
        assert link, page
        back = await authorize(env, html.unescape(link.group(1)))
        resp = await web.client.get(f"/oauth/github?code={back['code']}&state={back['state']}", allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/setting"
        assert flash(await web.get("/setting")) == "Your GitHub account is now linked: you can log in with it."
        assert await github_id() == "octocat"
