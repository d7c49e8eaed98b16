"""A oneapi server on loopback with the login methods' fakes (tests/fakes/login_services.py) around it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import ClientSession

from tests.conftest import open_backend
from tests.fakes.login_services import FakeOAuth, FakeSmtp, FakeTurnstile, FakeWeChat
from tests.functional.conftest import Api, make_config, start_api

LINK = re.compile(r"https?://\S+/user/reset\?\S+")


@dataclass
class LoginEnv:
    api: Api
    smtp: FakeSmtp
    oauth: FakeOAuth
    wechat: FakeWeChat
    turnstile: FakeTurnstile
    stops: list[Any] = field(default_factory=list)

    async def options(self, **values: str) -> None:
        for key, value in values.items():
            await self.api.services.options.update(key, value)

    async def use_smtp(self) -> None:
        await self.options(**self.smtp.options())

    async def session_get(self, path: str, **headers: str) -> dict[str, Any]:
        """A GET from the test client's browser-like session (its cookie jar)."""
        resp = await self.api.client.get(path, headers=headers)
        body: dict[str, Any] = await resp.json()
        body["_status"] = resp.status
        return body


@contextlib.asynccontextmanager
async def login_env(tmp_path: Path, aiohttp_client: Any, smtp_mode: str = "starttls",
                    **env: str) -> AsyncIterator[LoginEnv]:
    smtp = await FakeSmtp(tmp_path, smtp_mode).start()
    oauth = await FakeOAuth().start()
    wechat = await FakeWeChat().start()
    turnstile = await FakeTurnstile().start()
    settings = {**oauth.settings(), **turnstile.settings(), "ONEAPI_SMTP_CA_FILE": str(smtp.ca_file),
                "ONEAPI_OUTBOUND_TIMEOUT": "5", **env}
    try:
        async for api in start_api(open_backend("sqlite", tmp_path), make_config(**settings), aiohttp_client):
            oauth.github_callback = f"http://{api.client.host}:{api.client.port}/oauth/github"
            # links that leave the server (reset e-mails, OAuth callbacks) need the public address
            await api.services.options.update("ServerAddress", f"http://{api.client.host}:{api.client.port}")
            yield LoginEnv(api, smtp, oauth, wechat, turnstile)
    finally:
        for fake in (smtp, oauth, wechat, turnstile):
            await fake.stop()


async def authorize(env: LoginEnv, url: str) -> dict[str, str]:
    """What a person does at the provider: open its authorize page, press Authorize; the code and state it
    sends back (the redirect's query)."""
    async with ClientSession() as browser:
        page = await (await browser.get(url)).text()
        match = re.search(r'href="(/approve\?[^"]+)"', page)
        assert match, page
        resp = await browser.get(env.oauth.url + match.group(1).replace("&amp;", "&"), allow_redirects=False)
        assert resp.status == 302
        query = parse_qs(urlsplit(resp.headers["Location"]).query)
    return {k: v[0] for k, v in query.items()}
