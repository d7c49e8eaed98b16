"""Every way in, in Chromium, against fakes that speak the real protocols on loopback: e-mail codes and the reset
link read from a real SMTP server's mailbox, GitHub's OAuth web flow and binding, OIDC by discovery, WeChat's code,
and the Turnstile widget (a stub of Cloudflare's script) on the login, sign-up and reset forms."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Errors, LiveServer, shot
from tests.fakes.login_services import FakeOAuth, FakeSmtp, FakeTurnstile, FakeWeChat, Profile, text_body
from tests.functional.relay_env import relay_config, sqlite_db, start_relay_env

pytestmark = pytest.mark.slow

PASSWORD = "s3cret-pass"


class LoginServer(LiveServer):
    """The live server, with the fakes started first (their addresses are settings)."""

    def __init__(self, tmp_path: Path) -> None:  # (LiveServer.__init__ starts the server at once)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="oneapi-live", daemon=True)
        self.thread.start()
        self.side_pages: dict[str, str] = {}
        self.smtp = self.call(FakeSmtp(tmp_path).start())
        self.oauth: FakeOAuth = self.call(self._started(FakeOAuth()))
        self.wechat: FakeWeChat = self.call(self._started(FakeWeChat()))
        self.turnstile: FakeTurnstile = self.call(self._started(FakeTurnstile()))
        settings = {**self.oauth.settings(), **self.turnstile.settings(), "ONEAPI_SMTP_CA_FILE": str(self.smtp.ca_file)}
        self._gen = start_relay_env(sqlite_db(tmp_path), relay_config(GLOBAL_WEB_RATE_LIMIT="0", **settings))
        self.env = self.call(self._start())
        self.url = self.env.base_url
        self.side_url = self.call(self._side_site())
        self.oauth.github_callback = self.url + "/oauth/github"
        self.option("ServerAddress", self.url)  # where reset links and OAuth callbacks lead

    @staticmethod
    async def _started(fake: Any) -> Any:
        return await fake.start()

    def options(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self.option(key, value)

    def message(self, count: int, timeout: float = 10) -> EmailMessage:
        """The ``count``-th message the SMTP server received (waiting for it)."""
        deadline = time.monotonic() + timeout
        while len(self.smtp.inbox.messages) < count:
            assert time.monotonic() < deadline, "no e-mail arrived"
            time.sleep(0.1)
        return self.smtp.inbox.messages[count - 1]

    def stop(self) -> None:
        for fake in (self.smtp, self.oauth, self.wechat, self.turnstile):
            self.call(fake.stop())
        super().stop()


@pytest.fixture
def login_server(tmp_path: Path, browser: Browser) -> Iterator[LoginServer]:
    live = LoginServer(tmp_path)
    yield live
    live.stop()


def log_in(page: Page, server: LoginServer, username: str, password: str) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Username or e-mail").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url(server.url + "/dashboard")


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")


def test_sign_up_with_an_emailed_code_and_reset_the_password_by_link(
        login_server: LoginServer, page: Page, page_errors: Errors) -> None:
    server = login_server
    server.options({**server.smtp.options(), "EmailVerificationEnabled": "true", **server.turnstile.options(),
                    "TurnstileCheckEnabled": "true"})

    page.goto(server.url + "/register")
    expect(page.locator(".cf-turnstile[data-state=solved]")).to_have_count(1)  # the widget ran (stub script)
    page.get_by_label("Username").fill("mia")
    page.get_by_label("E-mail").fill("mia@example.com")
    page.get_by_role("button", name="Send code").click()
    expect(page.get_by_role("status")).to_have_text("A code is on its way to mia@example.com. It is valid for "
                                                    "10 minutes.")
    expect(page.get_by_label("Username")).to_have_value("mia")  # the form comes back filled
    message = server.message(1)
    assert message["To"] == "mia@example.com" and server.smtp.logins == ["mailer@example.com"]
    code = re.search(r"^([0-9a-f]{6})$", text_body(message), re.M)
    assert code, text_body(message)
    shot(page, "login-01-register-code-sent")

    page.get_by_label("Verification code").fill("zzzzzz")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_have_text("the verification code is wrong or has expired")
    page.get_by_label("Verification code").fill(code.group(1))
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_have_text("Your account is ready. Log in to continue.")
    log_in(page, server, "mia@example.com", PASSWORD)
    verified = server.turnstile.verified
    assert verified and all(v["secret"] == "turnstile-secret" and v["remoteip"] == "127.0.0.1" for v in verified)
    log_out(page)

    # -- forgot the password: the link in the e-mail, followed in the browser
    page.goto(server.url + "/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.locator(".cf-turnstile[data-state=solved]")).to_have_count(1)
    page.get_by_label("E-mail").fill("mia@example.com")
    page.get_by_role("button", name="E-mail me a reset link").click()
    expect(page.get_by_role("status")).to_contain_text("a reset link is on its way")
    shot(page, "login-02-reset-sent")
    link = re.search(r"https?://\S+/user/reset\?\S+", text_body(server.message(2)))
    assert link and link.group(0).startswith(server.url), text_body(server.message(2))
    page.goto(link.group(0))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill("n3w-pass-word")
    page.get_by_label("Repeat the password").fill("n3w-pass-word")
    shot(page, "login-03-reset-choose")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_role("status")).to_have_text("Your new password is set. Log in with it.")
    page.go_back()  # the link is used up
    page.reload()
    page.get_by_label("New password").fill("an0ther-pass")
    page.get_by_label("Repeat the password").fill("an0ther-pass")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_role("alert")).to_have_text("the reset link is invalid or has expired")
    log_in(page, server, "mia", "n3w-pass-word")
    assert page_errors == [], page_errors


def test_github_sign_in_sign_up_and_binding(login_server: LoginServer, page: Page, page_errors: Errors) -> None:
    server = login_server
    server.options({"GitHubClientId": server.oauth.client_id, "GitHubClientSecret": server.oauth.client_secret,
                    "GitHubOAuthEnabled": "true", "QuotaForNewUser": "500000"})
    page.goto(server.url + "/login")
    shot(page, "login-04-login-with-github")
    page.get_by_role("link", name="Continue with GitHub").click()
    expect(page.get_by_role("heading", name="Authorize github test app")).to_be_visible()  # GitHub's page
    page.get_by_role("link", name="Authorize").click()
    expect(page).to_have_url(server.url + "/dashboard")
    expect(page.locator(".who")).to_have_text("The Octocat")
    expect(page.get_by_test_id("balance")).to_have_text("$1.00")
    log_out(page)

    # a password user links another GitHub account in the settings, then signs in with it
    server.call(server.env.services.accounts.register({"username": "zoe", "password": PASSWORD}))
    log_in(page, server, "zoe", PASSWORD)
    page.goto(server.url + "/setting")
    methods = page.get_by_role("region", name="Ways to log in")
    methods.get_by_label("Current password").fill("not-my-password")
    methods.get_by_role("button", name="Link GitHub").click()
    expect(page.get_by_role("alert")).to_have_text("The current password is wrong.")
    methods.get_by_label("Current password").fill(PASSWORD)  # (a linked account logs in: the password first)
    methods.get_by_role("button", name="Link GitHub").click()
    page.get_by_role("link", name="Continue to GitHub").click()
    page.get_by_role("link", name="Authorize").click()  # octocat's, already bound to github_2
    expect(page.get_by_role("alert")).to_have_text("this GitHub account is already bound to another user")
    server.oauth.profile = Profile(login="zoe-gh", name="Zoe")
    methods.get_by_label("Current password").fill(PASSWORD)
    methods.get_by_role("button", name="Link GitHub").click()
    expect(page.get_by_role("link", name="Continue to GitHub")).to_be_focused()
    shot(page, "login-05-settings-github-continue")
    page.get_by_role("link", name="Continue to GitHub").click()
    page.get_by_role("link", name="Authorize").click()
    expect(page.get_by_role("status")).to_have_text("Your GitHub account is now linked: you can log in with it.")
    expect(page.get_by_test_id("bound-github")).to_have_text("zoe-gh")
    shot(page, "login-05b-settings-github-linked")
    log_out(page)
    page.goto(server.url + "/login")
    page.get_by_role("link", name="Continue with GitHub").click()
    page.get_by_role("link", name="Authorize").click()
    expect(page.locator(".who")).to_have_text("zoe")

    # a state from another browser (or replayed) is refused
    log_out(page)
    page.goto(server.url + "/oauth/github?code=abc&state=forged")
    expect(page.get_by_role("status")).to_have_text("That sign-in link has expired or came from another browser. "
                                                    "Start again.")
    assert page_errors == [], page_errors


def test_oidc_by_discovery_and_lark(login_server: LoginServer, page: Page, page_errors: Errors) -> None:
    server = login_server
    server.options({"OidcClientId": server.oauth.client_id, "OidcClientSecret": server.oauth.client_secret,
                    "OidcWellKnown": server.oauth.url + "/.well-known/openid-configuration", "OidcEnabled": "true",
                    "LarkClientId": server.oauth.client_id, "LarkClientSecret": server.oauth.client_secret})
    server.oauth.profile = Profile(sub="employee-42", name="Olivia", email="olivia@corp.test",
                                   preferred_username="olivia")
    page.goto(server.url + "/login")
    page.get_by_role("link", name="Continue with OIDC").click()
    page.get_by_role("link", name="Authorize").click()
    expect(page).to_have_url(server.url + "/dashboard")
    expect(page.locator(".who")).to_have_text("Olivia")
    log_out(page)
    server.oauth.profile = Profile(sub="ou_7d8a6e6df7621556ce0d21922b676706", name="飞书用户")
    page.goto(server.url + "/login")
    page.get_by_role("link", name="Continue with Lark").click()
    expect(page.get_by_role("heading", name="Authorize lark test app")).to_be_visible()
    page.get_by_role("link", name="Authorize").click()
    expect(page).to_have_url(server.url + "/dashboard")
    expect(page.locator(".who")).to_have_text("飞书用户")
    assert page_errors == [], page_errors


def test_wechat_login_and_binding(login_server: LoginServer, page: Page, page_errors: Errors) -> None:
    server = login_server
    server.options({**server.wechat.options(), "WeChatAuthEnabled": "true"})
    server.wechat.codes.update({"246810": "wx-user-1", "135790": "wx-user-2"})
    page.goto(server.url + "/login")
    page.get_by_text("Continue with WeChat").click()
    qr = page.get_by_role("img", name="QR code of the WeChat official account")
    expect(qr).to_be_visible()
    assert page.evaluate("document.querySelector('img.qrcode').naturalWidth") == 2  # the official account's image
    page.get_by_label("Code from WeChat").fill("000000")
    page.get_by_role("button", name="Log in").last.click()
    expect(page.get_by_role("alert")).to_have_text("验证码错误或已过期")  # the WeChat Server's own words
    page.get_by_label("Code from WeChat").fill("246810")  # the code form is still open
    shot(page, "login-06-wechat")
    page.get_by_role("button", name="Log in").last.click()
    expect(page).to_have_url(server.url + "/dashboard")
    expect(page.locator(".who")).to_have_text("WeChat User")
    log_out(page)

    server.call(server.env.services.accounts.register({"username": "wei", "password": PASSWORD}))
    log_in(page, server, "wei", PASSWORD)
    page.goto(server.url + "/setting")
    page.get_by_label("Code from WeChat").fill("135790")
    page.get_by_role("region", name="Ways to log in").get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Link WeChat").click()
    expect(page.get_by_role("status")).to_have_text("Your WeChat account is now linked: you can log in with it.")
    expect(page.get_by_test_id("bound-wechat")).to_have_text("Linked")
    assert server.wechat.calls[-1]["auth"] == "wechat-server-token"
    assert page_errors == [], page_errors


def test_turnstile_refuses_a_form_without_its_check(login_server: LoginServer, page: Page,
                                                    page_errors: Errors) -> None:
    server = login_server
    server.options({**server.turnstile.options(), "TurnstileCheckEnabled": "true"})
    # the widget script is blocked: the form goes without a token, and the server refuses it
    page.route(re.compile(r".*/turnstile/v0/api\.js.*"), lambda route: route.abort())
    page.goto(server.url + "/login")
    page.get_by_label("Username or e-mail").fill("root")
    page.get_by_label("Password").fill("123456")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("complete the Turnstile check first")
    shot(page, "login-07-turnstile-refused")
    page.unroute(re.compile(r".*/turnstile/v0/api\.js.*"))
    log_in(page, server, "root", "123456")
    assert server.turnstile.verified[-1]["response"].startswith("ts-")
    assert [e for e in page_errors if "api.js" not in e] == [], page_errors
