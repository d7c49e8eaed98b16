"""THEME naming a built One API front end: its files, the SPA fallback, what is never served, and the CSRF rule of
that mode (the browser's same-origin word instead of the token)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from oneapi.config import ConfigError, load
from tests.conftest import open_backend
from tests.functional.conftest import Api, make_config, start_api

FIXTURE = Path(__file__).parent.parent / "browser" / "oneapi_theme"


@pytest.fixture
async def theme_api(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Api]:
    build = tmp_path / "build"
    shutil.copytree(FIXTURE, build)
    (build / ".env").write_text("SECRET=1")
    (tmp_path / "outside.txt").write_text("not part of the build")
    (build / "static" / "link.txt").symlink_to(tmp_path / "outside.txt")
    async for api in start_api(open_backend("sqlite", tmp_path), make_config(THEME=str(build)), aiohttp_client):
        yield api


async def test_files_and_the_spa_fallback(theme_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    client = theme_api.client
    index = (FIXTURE / "index.html").read_text()
    for path in ("/", "/login", "/token/edit/5", "/user/reset?email=a&token=b", "/oauth/github?code=x&state=y",
                 "/dashboard", "/static/missing.js", "/.env", "/static/link.txt", "/static/../../outside.txt",
                 "/%2e%2e/outside.txt", "/index.html", "/" + "a" * 5000, "/static/" + "b/" * 3000):
        resp = await client.get(path)
        assert resp.status == 200 and await resp.text() == index, path
        assert resp.headers["Cache-Control"] == "no-cache" and resp.content_type == "text/html", path
    for path in ("/%00", "/a%00", "/static/%00x.js", "/static/js/main.js%00"):  # no file is named so: bad input
        resp = await client.get(path)
        assert resp.status == 400 and "NUL" in await resp.text(), path
    resp = await client.get("/static/js/main.js")
    assert resp.status == 200 and resp.content_type in ("text/javascript", "application/javascript")
    assert "console-check" in await resp.text() and resp.headers["Cache-Control"] == "max-age=604800"
    # the API and the relay's paths keep their own answers (this app has no relay: "Invalid URL")
    for path in ("/api/nope", "/v1/models", "/dashboard/billing/usage"):
        resp = await client.get(path)
        assert resp.status == 404 and resp.content_type == "application/json", path
    assert (await client.get("/api/status")).status == 200
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith(("oneapi", "aiohttp"))]
    assert not errors, caplog.text  # no traceback either


async def test_cookie_calls_need_the_browsers_same_origin_word(theme_api: Api) -> None:
    client = theme_api.client
    resp = await client.post("/api/user/login", json={"username": "root", "password": "123456"})
    assert (await resp.json())["success"] is True
    body = {"name": "t", "remain_quota": 1, "expired_time": -1}
    own = f"http://{client.host}:{client.port}"
    for headers, status in [({}, 403), ({"Origin": "http://evil.example"}, 403),
                            ({"Sec-Fetch-Site": "cross-site"}, 403), ({"Sec-Fetch-Site": "same-site"}, 403),
                            ({"Sec-Fetch-Site": "none"}, 403), ({"Origin": own}, 200),
                            ({"Sec-Fetch-Site": "same-origin"}, 200)]:
        resp = await client.post("/api/token/", json=body, headers=headers)
        assert resp.status == status, (headers, await resp.text())
        if status == 200:
            assert (await resp.json())["success"] is True
    resp = await client.get("/api/user/token", headers={"Sec-Fetch-Site": "same-origin"})
    assert (await resp.json())["success"] is True
    assert (await client.get("/api/user/token")).status == 403  # a GET that changes state: the same rule


async def test_own_pages_keep_requiring_the_token(api: Api) -> None:
    resp = await api.client.post("/api/user/login", json={"username": "root", "password": "123456"})
    assert (await resp.json())["success"] is True
    resp = await api.client.post("/api/token/", json={"name": "t", "remain_quota": 1},
                                 headers={"Sec-Fetch-Site": "same-origin"})
    assert resp.status == 403 and "CSRF" in (await resp.json())["message"]


def test_theme_setting_is_checked(tmp_path: Path) -> None:
    assert load(None, {"THEME": "berry"}).theme_dir is None
    assert load(None, {"THEME": str(FIXTURE)}).theme_dir == FIXTURE.resolve()
    for bad in (str(tmp_path), str(tmp_path / "missing"), "purple"):
        with pytest.raises(ConfigError, match="built One API front end"):
            load(None, {"THEME": bad})
