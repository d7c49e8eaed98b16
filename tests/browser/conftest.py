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

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.functional.live_server import LiveServer
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
