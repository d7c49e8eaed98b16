"""In Chromium: the operator's pages as set (Markdown home, framed about page, notice closed without leaving the
page, logo and footer), Chinese from the browser's language and the switch, the one-column phone layout, and
driving the forms by keyboard alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Errors, LiveServer, new_context, shot, watch

pytestmark = pytest.mark.slow

PASSWORD = "password123"


def test_operator_pages_as_set(server: LiveServer, page: Page, page_errors: Errors) -> None:
    server.side_pages["status"] = "<!doctype html><title>status</title><h1>All systems normal</h1>"
    server.option("SystemName", "Acme AI")
    server.option("Logo", server.url + "/static/icon.svg")
    server.option("Footer", '<a href="https://acme.example/terms">Terms of service</a> · © 2030 Acme')
    server.option("Notice", "Maintenance on **Sunday 02:00**.")
    server.option("HomePageContent", "# Acme AI\n\nAll models, one key.\n\n| Model | Price |\n|---|---|\n"
                                     "| gpt-4o-mini | $0.15 / 1M |")
    server.option("About", server.side_url + "/page/status")

    page.goto(server.url + "/")
    expect(page).to_have_title("Home · Acme AI")
    expect(page.get_by_role("heading", name="Acme AI", level=1)).to_be_visible()
    expect(page.get_by_role("cell", name="gpt-4o-mini")).to_be_visible()
    expect(page.get_by_role("link", name="Terms of service")).to_be_visible()
    expect(page.locator(".brand img")).to_have_attribute("src", server.url + "/static/icon.svg")
    expect(page.get_by_text("Powered by oneapi")).to_be_visible()
    shot(page, "30-home-operator")

    page.get_by_role("link", name="About").click()
    frame = page.frame_locator("iframe.page-frame")
    expect(frame.get_by_role("heading", name="All systems normal")).to_be_visible()
    box = page.locator("iframe.page-frame").bounding_box()
    assert box and box["width"] >= 1200 and box["height"] >= 600  # fills the window under the bar
    shot(page, "31-about-framed", full_page=False)

    page.get_by_role("button", name="Dismiss announcement").click()
    expect(page.get_by_text("Maintenance on")).to_have_count(0)
    expect(page).to_have_url(server.url + "/about")  # closed in place (the script posts the form)
    page.wait_for_timeout(300)
    page.goto(server.url + "/")
    expect(page.get_by_text("Maintenance on")).to_have_count(0)
    server.option("Notice", "New prices from Monday.")
    page.reload()
    expect(page.get_by_text("New prices from Monday.")).to_be_visible()
    assert page_errors == [], page_errors


def test_chinese_from_the_browser_and_the_switch(server: LiveServer, browser: Browser) -> None:
    context = new_context(browser, locale="zh-CN")
    errors = Errors()
    page = watch(context.new_page(), errors)
    page.goto(server.url + "/")
    expect(page.get_by_role("link", name="免费注册")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    shot(page, "40-home-zh")
    page.get_by_role("link", name="注册", exact=True).click()
    page.get_by_label("用户名").fill("小明")
    page.get_by_label("密码", exact=True).fill("short")
    page.get_by_label("确认密码").fill("short")
    page.evaluate("document.querySelectorAll('input').forEach(i => i.removeAttribute('minlength'))")
    page.get_by_role("button", name="注册").last.click()
    expect(page.get_by_role("alert")).to_have_text("密码长度必须为 8 到 20 个字符")
    shot(page, "41-register-zh-refused")
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_label("确认密码").fill(PASSWORD)
    page.get_by_role("button", name="注册").last.click()
    expect(page.get_by_role("status")).to_have_text("注册成功，请登录。")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").last.click()
    expect(page.get_by_role("heading", name="仪表盘")).to_be_visible()
    shot(page, "42-dashboard-zh")
    page.get_by_role("link", name="令牌").click()
    expect(page.get_by_role("heading", name="令牌")).to_be_visible()
    shot(page, "43-tokens-zh")
    page.get_by_role("link", name="EN").click()
    expect(page.get_by_role("heading", name="Tokens")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Tokens")).to_be_visible()  # the choice is remembered
    assert errors == [], errors
    context.close()


def test_one_column_on_a_phone(server: LiveServer, browser: Browser) -> None:
    server.option("Notice", "Maintenance on Sunday.")
    server.call(server.env.services.accounts.register({"username": "alice", "password": PASSWORD}))
    context = new_context(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    errors = Errors()
    page = watch(context.new_page(), errors)
    page.goto(server.url + "/")
    shot(page, "50-phone-home")
    page.goto(server.url + "/login")
    page.get_by_label("Username or e-mail").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").last.click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    stats = page.locator(".stat")
    boxes = [stats.nth(i).bounding_box() for i in range(stats.count())]
    assert all(b and abs(b["x"] - boxes[0]["x"]) < 1 for b in boxes)  # stacked: one column
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out sideways
    shot(page, "51-phone-dashboard")
    page.goto(server.url + "/token")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "52-phone-tokens")
    page.goto(server.url + "/log")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "53-phone-usage")
    assert errors == [], errors
    context.close()


def test_keyboard_only(server: LiveServer, page: Page, page_errors: Errors) -> None:
    page.goto(server.url + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.goto(server.url + "/login")
    expect(page.get_by_label("Username or e-mail")).to_be_focused()  # the form takes the focus
    page.keyboard.type("root")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type("123456")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("You are an administrator.")).to_be_visible()
    shot(page, "60-admin-dashboard")
    page.goto(server.url + "/token")
    show = page.locator("details.key summary").first
    show.focus()
    page.keyboard.press("Enter")  # the key is revealed from the keyboard too
    expect(page.locator(".key-full").first).to_be_visible()
    assert page_errors == [], page_errors
