"""Snapshots of the TUI screens whose content is stable: the text each screen shows at 100×32, compared with
tests/tui/snapshots/*.txt (``ONEAPI_UPDATE_GOLDEN=1`` rewrites them after an intended change).

The text is read from Textual's SVG export, so layout changes (columns, labels, hints) show up in review as
plain text diffs. Screens with live figures or random keys are covered by the pilot tests instead.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
from pathlib import Path

import pytest

from oneapi.tui import make_app
from tests.functional.admin_env import AdminEnv

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZE = (100, 32)
_TEXT = re.compile(r"<text[^>]*>(.*?)</text>", re.S)
_ROW = re.compile(r'<text[^>]*\by="([\d.]+)"[^>]*>(.*?)</text>', re.S)


def screen_text(svg: str) -> str:
    """The characters on screen, row by row (SVG text runs grouped by their y coordinate)."""
    rows: dict[float, list[str]] = {}
    for y, text in _ROW.findall(svg):
        rows.setdefault(float(y), []).append(html.unescape(text).replace("\xa0", " "))
    return "\n".join("".join(parts).rstrip() for _, parts in sorted(rows.items())).strip() + "\n"


def check(name: str, text: str) -> None:
    golden = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("ONEAPI_UPDATE_GOLDEN") or not golden.exists():
        golden.write_text(text, encoding="utf-8")
        if not os.environ.get("ONEAPI_UPDATE_GOLDEN"):
            pytest.fail(f"{golden} did not exist; it has been written — review it and run again")
    assert text == golden.read_text(encoding="utf-8")


async def settle(pilot, seconds: float = 0.5) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await asyncio.sleep(seconds)
    await pilot.pause()


@pytest.mark.parametrize("tab", ["channels", "users", "options", "vouchers"])
async def test_screen_snapshot(admin_env: AdminEnv, tab: str) -> None:
    services = admin_env.relay.services
    await services.channels.create({"type": 1, "name": "openai-main", "key": "sk-x", "base_url": "http://up.test",
                                    "models": "gpt-4o-mini,gpt-4o", "priority": 10, "weight": 3})
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        app.sub_title = "snapshot"  # the real one names the temporary socket
        await pilot.press(str(["dashboard", "channels", "tokens", "vouchers", "users", "options", "logs"]
                              .index(tab) + 1))
        await settle(pilot)
        text = screen_text(app.export_screenshot())
    check(tab, re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "YYYY-MM-DD hh:mm", text))


async def test_channels_fit_an_80_by_24_terminal(admin_env: AdminEnv) -> None:
    await admin_env.relay.services.channels.create({"type": 14, "name": "claude", "key": "sk-ant",
                                                    "models": "claude-3-5-haiku-20241022"})
    app = make_app(admin_env.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        app.sub_title = "snapshot"
        await pilot.press("2")
        await settle(pilot)
        text = screen_text(app.export_screenshot())
    assert all(len(line) <= 80 for line in text.splitlines())
    check("channels-80x24", text)
