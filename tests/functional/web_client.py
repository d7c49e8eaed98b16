"""Driving the web pages over HTTP as a browser without JavaScript would: a cookie jar, forms with their CSRF
token, redirects followed. (The real browser tests are in tests/browser/.)"""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')


class WebClient:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token = ""

    async def get(self, path: str, status: int = 200, **headers: str) -> str:
        resp = await self.client.get(path, headers=headers)
        text = await resp.text()
        assert resp.status == status, (path, resp.status, text[:2000])
        match = META.search(text)
        if match:
            self.token = match.group(1)
        return text

    async def raw_post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool | str = True,
                       follow: bool = True, headers: dict[str, str] | None = None) -> ClientResponse:
        body: list[tuple[str, str]] = []
        for key, value in (data or {}).items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                body.append((key, str(item)))
        if csrf is True:
            if not self.token:
                await self.get("/")
            body.append(("csrf_token", self.token))
        elif isinstance(csrf, str):
            body.append(("csrf_token", csrf))
        return await self.client.post(path, data=body, allow_redirects=follow, headers=headers or {})

    async def post(self, path: str, data: dict[str, Any] | None = None, status: int = 200, **kw: Any) -> str:
        """Post the form; follow the redirect; return the page the browser ends on."""
        resp = await self.raw_post(path, data, **kw)
        text = await resp.text()
        assert resp.status == status, (path, resp.status, text[:2000])
        match = META.search(text)
        if match:
            self.token = match.group(1)
        return text

    async def login(self, username: str, password: str) -> str:
        await self.get("/login")
        page = await self.post("/login", {"username": username, "password": password})
        assert "/logout" in page, page[:2000]
        return page

    def forget(self) -> None:
        self.client.session.cookie_jar.clear()
        self.token = ""


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags dropped, entities decoded, spaces collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", html.unescape(body)).strip()


def alert(page: str) -> str:
    """The text of the page's error alert ('' when there is none)."""
    match = re.search(r'<div class="alert alert-error" role="alert">(.*?)</div>', page, re.S)
    return html.unescape(match.group(1)).strip() if match else ""


def flash(page: str) -> str:
    match = re.search(r'<div class="flash-inner">(.*?)</div>', page, re.S)
    return html.unescape(match.group(1)).strip() if match else ""
