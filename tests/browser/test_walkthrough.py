"""A new visitor, in Chromium, from the home page to a working key and back: register, log in, create a limited
token, call /v1 with it through the openai SDK, see the call in usage and on the dashboard, redeem a voucher,
change the password, log in again. Screenshots of every page on the way."""

from __future__ import annotations

import re
import time

import openai
import pytest
from playwright.sync_api import Page, expect

from oneapi.store.queries import tokens as tokens_q
from tests.browser.conftest import Errors, LiveServer, shot

pytestmark = pytest.mark.slow

PASSWORD = "s3cret-pass"
NEW_PASSWORD = "n3w-s3cret-pass"


def reload_until(page: Page, selector: str, text: str, timeout: float = 10.0) -> None:
    """Usage is written a moment after the call (write-behind): reload until ``selector`` holds ``text``."""
    deadline = time.monotonic() + timeout
    while page.locator(selector).filter(has_text=text).count() == 0:
        assert time.monotonic() < deadline, f"{text!r} never appeared in {selector} on {page.url}"
        time.sleep(0.3)
        page.reload()


def test_a_new_visitor_signs_up_gets_a_key_uses_it_tops_up_and_watches_spend(
        server: LiveServer, page: Page, page_errors: Errors) -> None:
    server.option("QuotaForNewUser", "500000")  # a $1 welcome gift, so the first call can be paid
    server.option("Notice", "Welcome! **Prices** are per 1K tokens.")

    # -- home → sign up
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="One API", level=1)).to_be_visible()
    expect(page.get_by_text("Welcome! Prices are per 1K tokens.")).to_be_visible()
    shot(page, "01-home")
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(server.url + "/register")
    page.get_by_label("Username").fill("alice")
    expect(page.get_by_label("E-mail")).to_have_count(0)  # (asked, with its code, only under e-mail verification)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD + "x")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_have_text("The two passwords are not the same.")
    shot(page, "02-register-refused")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    # -- log in
    expect(page.get_by_role("status")).to_have_text("Your account is ready. Log in to continue.")
    expect(page.get_by_label("Username or e-mail")).to_have_value("alice")
    shot(page, "03-login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.url + "/dashboard")
    expect(page.get_by_test_id("balance")).to_have_text("$1.00")
    shot(page, "04-dashboard-new")

    # -- a limited token, with an expiry
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Tokens").click()
    expect(page.get_by_role("cell", name="default", exact=True)).to_be_visible()
    page.get_by_role("link", name="+ New token").first.click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Unlimited quota").uncheck()
    page.get_by_label("Quota in dollars").fill("0.50")
    page.get_by_label("Never expires").uncheck()
    page.get_by_label("Expires at").fill("2035-06-30T12:00")
    page.get_by_label("gpt-4o-mini").check()
    shot(page, "05-token-form")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("status")).to_have_text("Token “laptop” created.")
    row = page.get_by_role("row").filter(has_text="laptop")
    expect(row).to_contain_text("$0.50")
    expect(row).to_contain_text("2035-06-30 12:00")
    masked = row.locator("summary code").inner_text()
    assert re.fullmatch(r"sk-\w{4}•{8}\w{4}", masked)
    expect(row.locator(".key-full")).to_be_hidden()
    row.get_by_text("Show").click()  # revealed on click
    key = row.locator(".key-full").inner_text()
    assert key.startswith("sk-") and len(key) == 51 and key[3:7] == masked[3:7]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    row.get_by_role("button", name="Copy the key of laptop").click()
    expect(row.get_by_role("button", name="Copy the key of laptop")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key
    shot(page, "06-tokens")

    # -- use it through the official SDK
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}])
    assert reply.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError):  # the token's model list holds
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hello"}])

    # -- see it in usage, with its detail
    page.get_by_role("link", name="Usage").click()
    reload_until(page, "details.logrow", "gpt-4o-mini")
    entry = page.locator("details.logrow").filter(has_text="gpt-4o-mini")
    expect(entry).to_contain_text("laptop")
    entry.locator("summary").click()
    expect(entry.locator("dl")).to_contain_text(f"{reply.usage.prompt_tokens}")  # type: ignore[union-attr]
    expect(page.get_by_test_id("usage-spend")).not_to_have_text("$0.00")
    page.get_by_label("Model").fill("gpt-4o-mini")
    page.get_by_label("Token", exact=True).fill("laptop")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("details.logrow")).to_have_count(1)
    shot(page, "07-usage")

    # -- and on the dashboard
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator(".stat").filter(has_text="Requests").first).to_contain_text("1")
    expect(page.locator("svg.chart rect").first).to_be_visible()
    expect(page.get_by_role("cell", name="gpt-4o-mini")).to_be_visible()
    used = page.locator(".stat").filter(has_text="Used").locator(".stat-value").inner_text()
    assert re.fullmatch(r"\$0\.0000\d+", used), used  # a few quota units, shown to two significant digits
    shot(page, "08-dashboard-after-call")

    # -- top up with a voucher
    keys = server.call(server.env.services.vouchers.create(1, {"name": "promo", "quota": 5_000_000, "count": 1}))
    page.get_by_role("link", name="Top up").first.click()
    page.get_by_label("Voucher code").fill("not-a-code")
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_role("alert")).to_have_text("invalid voucher code")
    page.get_by_label("Voucher code").fill(keys[0])
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_role("status")).to_have_text("Voucher redeemed: $10.00 added to your balance.")
    expect(page.get_by_test_id("balance")).to_have_text("$11.00")  # $1 gift - a few millionths + $10
    shot(page, "09-topup")

    # -- change the password, log out, log in again
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Current password").first.fill(PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("Repeat the password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_have_text("Password changed.")
    shot(page, "10-settings")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    page.goto(server.url + "/login")
    page.get_by_label("Username or e-mail").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong username or password")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.url + "/dashboard")
    expect(page.get_by_test_id("balance")).to_have_text("$11.00")

    # the token the browser created is what the relay charged
    token = server.call(server.env.services.store.read(tokens_q.search, 2, "laptop", 10))[0]
    assert token["remain_quota"] < 250_000 and token["used_quota"] > 0
    assert page_errors == [], page_errors
