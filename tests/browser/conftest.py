"""Browser tests: Playwright for Python driving Debian's Chromium (``/usr/bin/chromium``, or ``ONEAPI_CHROMIUM``).

Playwright's own browser downloads are never used. Chromium runs headless with everything that would reach the
network switched off, in a fresh profile (Playwright gives every launch a new temporary user-data directory).
Without Chromium (or without the playwright package) the tests skip and say why; ``.ci/run`` installs
Chromium when it is missing.

oneapi runs in-process on a loopback port, in a thread with its own event loop, with the relay in front of the
fake OpenAI upstream (tests/fakes/openai_upstream.py); the tests are plain synchronous Playwright code. Pages
are photographed into ``ONEAPI_SCREENSHOTS`` (default ``artifacts/screenshots``, not committed) for people to
look at; ``page_errors`` collects what the browser complained about (script errors, CSP refusals).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env
from tests.functional.server_process import ROOT

CHROMIUM = os.environ.get("ONEAPI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("ONEAPI_SCREENSHOTS") or ROOT / "artifacts" / "screenshots")
T = TypeVar("T")

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]


def _skip_reason() -> str | None:
    if sync_playwright is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return (f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium; .ci/run does) "
                "or point ONEAPI_CHROMIUM at one")
    return None


class LiveServer:
    """oneapi (relay, /api, web) and the fake upstream, served from a thread with its own event loop."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="oneapi-live", daemon=True)
        self.thread.start()
        self.side_pages: dict[str, str] = {}
        self._gen = start_relay_env(sqlite_db(tmp_path), relay_config(GLOBAL_WEB_RATE_LIMIT="0", **env))
        self.env: RelayEnv = self.call(self._start())
        self.url = self.env.base_url
        self.side_url = self.call(self._side_site())

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> RelayEnv:
        env = await self._gen.__anext__()
        _, upstream = await env.fake()
        await env.add_channel(upstream, models="gpt-4o-mini,gpt-4o")
        return env

    async def _side_site(self) -> str:
        """Another origin on the same host: pages the tests need from elsewhere (an attacker's, an embed)."""
        app = web.Application()
        app.router.add_get("/page/{name}", self._side_page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.env.stops.append(runner.cleanup)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def _side_page(self, request: web.Request) -> web.Response:
        body = self.side_pages.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(text=body, content_type="text/html")

    def option(self, key: str, value: str) -> None:
        self.call(self.env.services.options.update(key, value))

    def run(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return self.call(fn())

    def stop(self) -> None:
        try:
            self.call(self._gen.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A Chromium per test. (Playwright's sync API keeps an event loop of its own while it runs, which must not
    outlive the test: pytest-asyncio's tests that follow need the thread's loop free.)"""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def server(tmp_path: Path, browser: Browser) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path)
    yield live
    live.stop()


class Errors(list[str]):
    """What the browser complained about while a test ran."""

    def csp(self) -> list[str]:
        return [e for e in self if "Content Security Policy" in e]


def new_context(browser: Browser, **kw: Any) -> BrowserContext:
    options: dict[str, Any] = {"viewport": {"width": 1280, "height": 860}, "locale": "en-US",
                               "timezone_id": "UTC", **kw}
    return browser.new_context(**options)


def watch(page: Page, errors: Errors) -> Page:
    """Collect script errors, CSP refusals, dialogs, and failed loads of anything but the page itself (refusals
    are pages with a 4xx status on purpose; the console reports those as "Failed to load resource")."""
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document" else None)
    page.on("requestfailed", lambda r: errors.append(f"failed {r.url}: {r.failure}")  # (navigating away aborts)
            if r.resource_type != "document" and "ERR_ABORTED" not in (r.failure or "") else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    return page


@pytest.fixture
def page_errors() -> Errors:
    return Errors()


@pytest.fixture
def page(browser: Browser, page_errors: Errors) -> Iterator[Page]:
    context = new_context(browser)
    page = watch(context.new_page(), page_errors)
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shot(page: Page, name: str, full_page: bool = True) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
