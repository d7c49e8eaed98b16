"""Snapshots (pytest-textual-snapshot) of every tab at 80x24 and 120x36, so that layout regressions show up:
tiles losing their values, cut footers, hints and columns, forms off centre.

The server runs in a thread of its own (the snapshot plugin runs the app on its own event loop) over a state
this test makes and holds still: fixed vouchers, logs and expiry dates, and dashboard figures on a frozen clock.
Snapshots live in tests/tui/__snapshots__/; after an intended change, rewrite them with
``pytest tests/tui --snapshot-update`` and review the SVG diffs (``snapshot_report.html`` shows failures).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from oneapi.store.queries import logs as log_q
from oneapi.store.queries import redemptions as voucher_q
from oneapi.store.queries.accounting import LogRow
from oneapi.tui import make_app
from tests.functional.admin_env import AdminEnv, start_admin_env

T = TypeVar("T")
FROZEN = 1_767_225_600.0  # 2026-01-01 00:00 UTC: the dashboard's clock
SIZES = {"80x24": (80, 24), "120x36": (120, 36)}
TABS = ("dashboard", "channels", "tokens", "vouchers", "users", "options", "logs")
ROWS = {"channels": 2, "tokens": 3, "vouchers": 3, "users": 2, "logs": 3}


class ThreadedAdmin:
    """The admin socket of a real server (start_admin_env) on an event loop in a daemon thread."""

    def __init__(self, tmp_path: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="oneapi-admin", daemon=True)
        self._thread.start()
        self._env = start_admin_env(tmp_path)
        self.env: AdminEnv = self.run(self._env.__anext__())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(60)

    def close(self) -> None:
        self.run(self._env.aclose())
        self.run(self._loop.shutdown_asyncgens())  # the generators start_admin_env itself iterates
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def hold_still(env: AdminEnv) -> None:
    """Channels, tokens, vouchers, users, logs and dashboard figures that never move."""
    services = env.relay.services
    store = services.store
    await services.channels.create({"type": 1, "name": "openai-main", "key": "sk-x", "base_url": "http://up.test",
                                    "models": "gpt-4o-mini,gpt-4o", "priority": 10, "weight": 3})
    await services.channels.create({"type": 14, "name": "claude", "key": "sk-ant",
                                    "models": "claude-3-5-haiku-20241022,claude-3-5-sonnet-20241022"})
    await services.tokens.create(1, {"name": "ci", "remain_quota": 1_500_000, "expired_time": 4_070_908_800,
                                     "models": "gpt-4o-mini", "subnet": "10.0.0.0/8", "rpm_limit": 60,
                                     "tpm_limit": 100_000})
    await services.accounts.create({"id": 1, "role": 100}, {"username": "alice", "password": "password123",
                                                            "display_name": "Alice"})
    await store.write(voucher_q.insert_many, [
        {"user_id": 1, "key": f"{i:032x}", "status": 1, "name": "promo", "quota": 500_000 * i,
         "created_time": int(FROZEN) - 3600 * i, "redeemed_time": 0} for i in (1, 2, 3)])
    await store.write(log_q.delete_before, int(FROZEN) * 10)  # what setting up wrote, at today's time
    await store.write(log_q.insert_many, [
        LogRow(user_id=0, created_at=int(FROZEN) - 60, type=2, username="root", token_name="ci",
         model_name="gpt-4o-mini", channel_id=1, prompt_tokens=12, completion_tokens=30, quota=3,
         elapsed_time=420, content="model ratio 0.075, completion ratio 4"),
        LogRow(user_id=0, created_at=int(FROZEN) - 30, type=1, username="alice", quota=500_000,
         content="top-up by the admin: $1.00"),
        LogRow(user_id=0, created_at=int(FROZEN) - 10, type=4, content="channel claude was disabled automatically: the "
                                                              "upstream answered 401 invalid x-api-key " * 2)])
    stats = services.stats
    stats.clock = lambda: FROZEN
    stats.started = FROZEN - 3600
    for model, channel, tokens, quota in (("gpt-4o-mini", 1, 42, 3), ("gpt-4o-mini", 1, 40, 3),
                                          ("claude-3-5-haiku-20241022", 2, 120, 90)):
        stats.record_request(model, channel, tokens, quota)


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedAdmin]:
    threaded = ThreadedAdmin(tmp_path_factory.mktemp("snap"))
    try:
        threaded.run(hold_still(threaded.env))
        yield threaded
    finally:
        threaded.close()


def shown(tab: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    """Open ``tab`` and wait until it shows the server's data; the subtitle (which names the temporary socket)
    is fixed."""
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        deadline = time.monotonic() + 10
        while "server" not in app.sub_title:
            assert time.monotonic() < deadline, "the app never reached the server"
            await asyncio.sleep(0.05)
        app.sub_title = "snapshot"
        await pilot.press(str(TABS.index(tab) + 1))
        if tab in ROWS:
            table = app.query_one(f"#{tab} DataTable", DataTable)
            while table.row_count < ROWS[tab]:
                assert time.monotonic() < deadline, f"{tab}: {table.row_count} rows"
                await asyncio.sleep(0.05)
        else:
            await asyncio.sleep(1.2 if tab == "dashboard" else 0.5)  # the dashboard's first refresh; options
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("tab", TABS)
def test_every_tab(admin: ThreadedAdmin, snap_compare: Any, tab: str, size: str) -> None:
    app = make_app(admin.env.socket)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=shown(tab))


@pytest.mark.parametrize("size", SIZES)
def test_a_form_is_centred_with_its_first_field_focused(admin: ThreadedAdmin, snap_compare: Any,
                                                        size: str) -> None:
    async def open_form(pilot: Pilot[None]) -> None:
        await shown("users")(pilot)
        await pilot.press("a")
        await pilot.pause(0.2)
        await pilot.press(*"bob")  # lands in the first field
        await pilot.pause()

    assert snap_compare(make_app(admin.env.socket), terminal_size=SIZES[size], run_before=open_form)
