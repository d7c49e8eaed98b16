"""In Chromium: XSS probes in every field a user controls stay inert text; a page of another origin cannot make
a logged-in browser change anything (no CSRF token); one user cannot reach another's data through the pages;
the pages raise no Content-Security-Policy complaint, and the policy stops script in the operator's HTML."""

from __future__ import annotations

import time

import openai
import pytest
from playwright.sync_api import Browser, Page, expect

from oneapi.store.queries import tokens as tokens_q
from tests.browser.conftest import Errors, LiveServer, new_context, shot, watch

pytestmark = pytest.mark.slow

PASSWORD = "password123"
PROBE = '<img src=x onerror="window.__xss=1;alert(1)">'


def log_in(page: Page, server: LiveServer, username: str, password: str = PASSWORD) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Username or e-mail").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.url + "/dashboard")


def make_user(server: LiveServer, username: str) -> int:
    server.call(server.env.services.accounts.register({"username": username, "password": PASSWORD}))
    rows = server.call(server.env.services.accounts.search(username))
    return int(next(r["id"] for r in rows if r["username"] == username))


def assert_inert(page: Page, errors: Errors) -> None:
    assert page.evaluate("window.__xss") is None
    assert not [e for e in errors if e.startswith("dialog")], errors


def test_xss_probes_in_every_user_field_stay_text(server: LiveServer, page: Page, page_errors: Errors) -> None:
    # username (12 characters at most), e-mail, display name (20), token name (30), models, search, filters, voucher
    page.goto(server.url + "/register")
    page.get_by_label("Username").fill("<b>u</b>")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_label("Invitation code").fill('"><svg onload=alert(1)>')
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("Your account is ready")
    log_in(page, server, "<b>u</b>")
    expect(page.locator(".who")).to_have_text("<b>u</b>")

    page.goto(server.url + "/setting")
    page.get_by_label("Display name").fill("<svg/onload=alert()>")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".who")).to_have_text("<svg/onload=alert()>")

    page.goto(server.url + "/token/new")
    page.get_by_label("Name").fill(PROBE[:30])
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("cell", name=PROBE[:30], exact=True)).to_be_visible()
    page.goto(server.url + "/token?q=" + "%3Cscript%3Ewindow.__xss%3D1%3C%2Fscript%3E")
    expect(page.get_by_label("Search tokens by name")).to_have_value("<script>window.__xss=1</script>")

    token = server.call(server.env.services.store.read(tokens_q.search, 2, "<img", 10))[0]
    key = token["key"]
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-" + key, max_retries=0)
    server.call(server.env.services.accounts.topup({"id": 1, "role": 100}, {"user_id": 2, "quota": 1_000_000}))
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROBE}])
    deadline = time.monotonic() + 10
    page.goto(server.url + "/log?model=" + "%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    expect(page.get_by_label("Model")).to_have_value('"><img src=x onerror=alert(1)>')
    while True:
        page.goto(server.url + "/log")
        if page.locator("details.logrow").filter(has_text="gpt-4o-mini").count() or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    expect(page.locator("details.logrow").filter(has_text=PROBE[:30])).to_have_count(1)

    page.goto(server.url + "/topup")
    page.get_by_label("Voucher code").fill(PROBE)
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_label("Voucher code")).to_have_value(PROBE)
    for path in ("/dashboard", "/token", "/log", "/setting"):
        page.goto(server.url + path)
        assert_inert(page, page_errors)
    assert page.locator("img[onerror], svg[onload], b:text('u')").count() == 0
    shot(page, "20-xss-settings")
    assert_inert(page, page_errors)
    assert page_errors.csp() == [] and page_errors == [], page_errors


def test_csp_stops_script_in_the_operators_html(server: LiveServer, page: Page, page_errors: Errors) -> None:
    server.option("Notice", "Hello <script>window.__xss = 1</script><b>there</b>")
    server.option("HomePageContent", '<h1>Shop</h1><img src="x" onerror="window.__xss=2">')
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Shop")).to_be_visible()
    expect(page.locator(".notice b")).to_have_text("there")
    assert page.evaluate("window.__xss") is None
    assert page_errors.csp(), "the browser should report the blocked script"


def test_another_origin_cannot_change_anything(server: LiveServer, page: Page, page_errors: Errors) -> None:
    make_user(server, "alice")
    log_in(page, server, "alice")
    # Another port on the same host: a different origin but the same site, so even the SameSite=Lax cookie
    # is sent with its POSTs. Only the CSRF token stands in the way.
    server.side_pages["forms"] = f"""<!doctype html><html><body>
<form id="token" method="post" action="{server.url}/token/new">
  <input name="name" value="pwned"><input name="unlimited" value="on"><input name="never" value="on">
</form>
<form id="delete" method="post" action="{server.url}/setting/delete">
  <input name="confirm" value="alice"><input name="current" value="{PASSWORD}">
</form>
<script>
  fetch("{server.url}/api/user/self", {{method: "PUT", credentials: "include", mode: "no-cors",
        headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{display_name: "pwned"}})}});
  fetch("{server.url}/api/user/topup", {{method: "POST", credentials: "include", mode: "no-cors",
        headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{key: "x"}})}});
</script></body></html>"""
    page.goto(server.side_url + "/page/forms")
    page.wait_for_timeout(500)
    page.evaluate("document.getElementById('token').submit()")
    expect(page.get_by_role("heading", name="This form has expired")).to_be_visible()
    shot(page, "21-csrf-refused")
    page.goto(server.side_url + "/page/forms")
    page.evaluate("document.getElementById('delete').submit()")
    expect(page.get_by_role("heading", name="This form has expired")).to_be_visible()

    page.goto(server.url + "/token")
    expect(page.get_by_role("cell", name="pwned")).to_have_count(0)
    expect(page.locator(".who")).to_have_text("alice")  # display name unchanged, account still there
    user = server.call(server.env.services.accounts.search("alice"))[0]
    assert user["status"] == 1 and user["display_name"] == "alice"


def test_one_user_cannot_reach_anothers_data(server: LiveServer, browser: Browser, page: Page) -> None:
    alice, bob = make_user(server, "alice"), make_user(server, "bob")
    bob_token = server.call(server.env.services.tokens.create(bob, {"name": "bob-secret", "unlimited_quota": True}))
    server.call(server.env.services.logs.record(bob, 1, "bob's top-up", "bob", 100))
    log_in(page, server, "alice")
    for path in (f"/token/{bob_token['id']}/edit", f"/token/{bob_token['id']}/delete"):
        page.goto(server.url + path)
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    # forms aimed at bob's token, sent from alice's own page with her valid token
    page.goto(server.url + "/token")
    for action in ("status", "delete", "edit"):
        target = f"{server.url}/token/{bob_token['id']}/{action}"
        page.evaluate("""([url]) => { const f = document.querySelector('tbody form.inline-form');
                                      f.action = url; f.submit(); }""", [target])
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        page.goto(server.url + "/token")
    expect(page.get_by_text("bob-secret")).to_have_count(0)
    page.goto(server.url + "/log?token=bob-secret")
    expect(page.locator("details.logrow")).to_have_count(0)
    page.goto(server.url + "/log")
    expect(page.get_by_text("bob's top-up")).to_have_count(0)
    after = server.call(server.env.services.tokens.get(bob, bob_token["id"]))
    assert after["status"] == 1 and after["name"] == "bob-secret"
    assert alice != bob

    other = new_context(browser)
    errors = Errors()
    bob_page = watch(other.new_page(), errors)
    log_in(bob_page, server, "bob")
    expect(bob_page.get_by_text("bob-secret")).to_have_count(0)  # dashboard
    bob_page.goto(server.url + "/token")
    expect(bob_page.get_by_role("cell", name="bob-secret", exact=True)).to_be_visible()
    other.close()
