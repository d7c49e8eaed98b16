"""One API's own front end served as THEME: a small build (tests/browser/oneapi_theme) whose script makes the calls
One API's React console makes, the way it makes them (JSON, the session cookie, no CSRF token)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Errors, LiveServer, shot

pytestmark = pytest.mark.slow

THEME = Path(__file__).parent / "oneapi_theme"


@pytest.fixture
def theme_server(tmp_path: Path, browser: Browser) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path, THEME=str(THEME))
    yield live
    live.stop()


def test_one_api_console_works_against_oneapi(theme_server: LiveServer, page: Page, page_errors: Errors) -> None:
    server = theme_server
    for path in ("/", "/token", "/channel/edit/3", "/user/reset?email=a@b.c&token=x", "/oauth/github?code=1"):
        page.goto(server.url + path)  # every page path is the app's index.html; the app routes it itself
        expect(page.get_by_role("heading", name="One API console (test build)")).to_be_visible()
        expect(page.locator("#route")).to_have_text(path.split("?")[0])
    page.goto(server.url + "/console-check")
    expect(page.locator("body[data-done=true]")).to_have_count(1, timeout=20_000)
    steps = page.locator("#steps li")
    failed = [steps.nth(i).inner_text() for i in range(steps.count())
              if steps.nth(i).get_attribute("data-ok") != "true"]
    assert failed == [] and steps.count() == 13, failed
    shot(page, "theme-01-console-check")
    assert page_errors == [f"401 {server.url}/api/user/self"], page_errors  # the check after logging out
    # oneapi's own pages are not served in this mode
    page.goto(server.url + "/static/app.css")
    expect(page.get_by_role("heading", name="One API console (test build)")).to_be_visible()


def test_other_sites_still_cannot_call_the_api(theme_server: LiveServer, page: Page) -> None:
    server = theme_server
    page.goto(server.url + "/console-check")  # logs in as root (and out again at the end): log in once more
    expect(page.locator("body[data-done=true]")).to_have_count(1, timeout=20_000)
    page.evaluate("""fetch('/api/user/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                               body: JSON.stringify({username: 'root', password: '123456'})})""")
    server.side_pages["forge"] = (
        f'<form id="f" method="post" action="{server.url}/api/token/" enctype="text/plain">'
        '<input name=\'{"name": "forged", "x": "\' value=\'"}\'></form><script>f.submit()</script>')
    with page.expect_response(lambda r: r.url.startswith(server.url + "/api/token")) as caught:
        page.goto(server.side_url + "/page/forge")
    assert caught.value.status == 403
    tokens = server.call(server.env.services.tokens.list_page(1, 0, ""))
    assert "forged" not in [t["name"] for t in tokens] and "limited" in [t["name"] for t in tokens]
