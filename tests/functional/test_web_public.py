"""The public pages over HTTP: the operator's texts in their three forms, the notice, name, logo and footer on
every page (following option changes at once), the language switch, headers, static files and unknown pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import open_backend
from tests.functional.conftest import Api, make_config, start_api
from tests.functional.web_client import WebClient, text_of


@pytest.fixture
def web(api: Api) -> WebClient:
    return WebClient(api.client)


async def set_option(api: Api, key: str, value: str) -> None:
    await api.ok("PUT", "/api/option/", json={"key": key, "value": value})


async def test_default_home_page_invites_to_sign_up_and_shows_the_endpoint(api: Api, web: WebClient) -> None:
    page = await web.get("/")
    text = text_of(page)
    assert "One API" in text and "Create an account" in text and "/v1" in text
    host = f"127.0.0.1:{api.client.server.port}"
    assert f"http://{host}/v1" in page
    await set_option(api, "ServerAddress", "https://llm.example.com/")
    assert "https://llm.example.com/v1" in await web.get("/")


@pytest.mark.parametrize(("path", "option"), [("/", "HomePageContent"), ("/about", "About")])
async def test_operator_texts_as_markdown_html_or_a_framed_url(api: Api, web: WebClient, path: str,
                                                               option: str) -> None:
    await set_option(api, option, "# Welcome\n\nPrices **halved** this week.\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    page = await web.get(path)
    assert "<h1>Welcome</h1>" in page and "<strong>halved</strong>" in page and "<table>" in page

    await set_option(api, option, '<div class="promo"><h2>Hello</h2>\n\n    <p>indented HTML stays HTML</p></div>')
    page = await web.get(path)
    assert '<div class="promo"><h2>Hello</h2>' in page and "<pre>" not in page

    await set_option(api, option, "https://status.example.com/page")
    resp = await api.client.get(path)
    page = await resp.text()
    assert '<iframe class="page-frame" src="https://status.example.com/page"' in page
    assert "frame-src https://status.example.com" in resp.headers["Content-Security-Policy"]

    await set_option(api, option, "")
    resp = await api.client.get(path)
    assert "frame-src 'none'" in resp.headers["Content-Security-Policy"] and "<iframe" not in await resp.text()


async def test_name_logo_footer_and_notice_on_every_page_follow_option_changes(api: Api, web: WebClient) -> None:
    await set_option(api, "SystemName", "Acme AI")
    await set_option(api, "Logo", "https://cdn.example.com/logo.png")
    await set_option(api, "Footer", '<a href="https://acme.example/terms">Terms</a> · © Acme')
    await set_option(api, "Notice", "Maintenance on **Sunday**.")
    for path in ("/", "/about", "/login", "/register", "/no-such-page"):
        page = await web.get(path, status=404 if path == "/no-such-page" else 200)
        assert "<title>" in page and "· Acme AI</title>" in page
        assert 'src="https://cdn.example.com/logo.png"' in page
        assert '<a href="https://acme.example/terms">Terms</a> · © Acme' in page
        assert "Maintenance on <strong>Sunday</strong>." in page
        assert "One API</a>" in page  # the attribution line
    await set_option(api, "SystemName", "Beta AI")
    assert "· Beta AI</title>" in await web.get("/")


async def test_the_notice_can_be_dismissed_and_a_new_notice_shows_again(api: Api, web: WebClient) -> None:
    await set_option(api, "Notice", "First notice")
    page = await web.get("/about")
    notice_id = re.search(r'name="notice" value="([0-9a-f]+)"', page)
    assert notice_id and "First notice" in page
    resp = await web.raw_post("/notice/dismiss", {"notice": notice_id.group(1), "next": "/about"}, follow=False)
    assert resp.status == 303 and resp.headers["Location"] == "/about"
    assert "First notice" not in await web.get("/about")
    await set_option(api, "Notice", "Second notice")
    assert "Second notice" in await web.get("/about")


async def test_dismissing_the_notice_needs_the_token_and_a_local_next(api: Api, web: WebClient) -> None:
    await set_option(api, "Notice", "Hello")
    await web.get("/")
    resp = await web.raw_post("/notice/dismiss", {"notice": "abc", "next": "/"}, csrf=False, follow=False)
    assert resp.status == 403
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        resp = await web.raw_post("/notice/dismiss", {"notice": "abc", "next": target}, follow=False)
        assert resp.status == 303 and resp.headers["Location"] == "/", target
    resp = await web.raw_post("/notice/dismiss", {"notice": "<script>", "next": "/"}, follow=False)
    assert resp.status == 303 and "notice_seen" not in resp.cookies


async def test_option_html_with_inline_styles_relaxes_only_style_src(api: Api) -> None:
    resp = await api.client.get("/")
    policy = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self';" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    await set_option(api, "Footer", '<span style="color: red">styled</span>')
    policy = (await api.client.get("/")).headers["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "script-src 'self';" in policy


async def test_pages_carry_security_headers_and_no_inline_script(api: Api) -> None:
    resp = await api.client.get("/login")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert "Accept-Language" in resp.headers["Vary"]
    page = await resp.text()
    assert re.findall(r"<script\b[^>]*>", page) == [re.search(r'<script src="/static/app\.js\?v=\w+" defer>', page)
                                                     .group(0)]  # type: ignore[union-attr]
    assert ' style="' not in page


async def test_language_from_accept_language_then_the_switch(api: Api, web: WebClient) -> None:
    page = await web.get("/", **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh-CN">' in page and "免费注册" in page
    page = await web.get("/", **{"Accept-Language": "fr-FR, en;q=0.5"})
    assert '<html lang="en">' in page
    resp = await api.client.get("/lang/zh?next=/about", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/about"
    assert resp.cookies["lang"].value == "zh" and resp.cookies["lang"]["httponly"]
    assert '<html lang="zh-CN">' in await web.get("/about", **{"Accept-Language": "en"})  # the switch wins
    await api.client.get("/lang/en")
    assert '<html lang="en">' in await web.get("/about", **{"Accept-Language": "zh"})


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example", "/\\evil", "", "x" * 3000])
async def test_language_switch_never_redirects_off_site(api: Api, target: str) -> None:
    resp = await api.client.get("/lang/zh", params={"next": target}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/"


async def test_unknown_language_and_unknown_pages_are_not_found_pages(api: Api, web: WebClient) -> None:
    assert "Not found" in text_of(await web.get("/lang/fr", status=404))
    page = await web.get("/no/such/page", status=404)
    assert "There is no such page" in page
    resp = await api.client.post("/no/such/page")
    assert resp.status == 405 and "text/html" in resp.headers["Content-Type"]
    assert (await api.client.get("/api/nope")).status == 404  # the API keeps its JSON 404
    assert (await (await api.client.get("/api/nope")).json())["error"]["message"] == "Invalid URL (GET /api/nope)"


async def test_static_files_are_versioned_and_cached(api: Api, web: WebClient) -> None:
    page = await web.get("/")
    css = re.search(r'href="(/static/app\.css\?v=\w+)"', page)
    assert css
    resp = await api.client.get(css.group(1))
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/css")
    assert "immutable" in resp.headers["Cache-Control"]
    resp = await api.client.get("/static/app.css")  # unversioned: revalidated
    assert resp.headers["Cache-Control"] == "no-cache"
    assert (await api.client.get("/static/app.js")).headers["Content-Type"].startswith("text/javascript")
    for bad in ("/static/nope.css", "/static/..%2fweb%2frender.py", "/static/%2e%2e/i18n.py"):
        assert (await api.client.get(bad)).status == 404, bad
    resp = await api.client.get("/favicon.ico")
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/svg+xml"


@pytest.fixture
async def slave(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Api]:
    config = make_config(NODE_TYPE="slave", FRONTEND_BASE_URL="https://console.example.com/")
    db = open_backend("sqlite", tmp_path)
    async for a in start_api(db, config, aiohttp_client):
        yield a


async def test_slaves_redirect_pages_permanently_keeping_path_and_query(slave: Api) -> None:
    for path in ("/", "/token?q=ci&page=2", "/register?aff=AbCd", "/static/app.css"):
        resp = await slave.client.get(path, allow_redirects=False)
        assert resp.status == 301, path
        assert resp.headers["Location"] == "https://console.example.com" + path
    resp = await slave.client.post("/login", allow_redirects=False)
    assert resp.status == 301 and resp.headers["Location"] == "https://console.example.com/login"
    assert (await slave.ok("GET", "/api/status"))["system_name"] == "One API"  # the API is still served


async def test_web_pages_are_rate_limited(tmp_path: Path, aiohttp_client: Any) -> None:
    async for api in start_api(open_backend("sqlite", tmp_path), make_config(GLOBAL_WEB_RATE_LIMIT="5"),
                               aiohttp_client):
        for _ in range(5):
            assert (await api.client.get("/about")).status == 200
        assert (await api.client.get("/about")).status == 429
        assert (await api.client.get("/api/status")).status == 200  # /api has its own budget
