"""The TUI driven by Textual's pilot against a real server on a temporary admin socket."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from textual.widgets import DataTable, Input, Select, Sparkline, TabbedContent

from oneapi.store.queries import channels as channel_q
from oneapi.store.queries import redemptions as voucher_q
from oneapi.tui import make_app
from tests.functional.admin_env import AdminEnv

SIZE = (100, 32)


async def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def test_add_a_channel_through_the_ui_and_find_it_through_the_api(admin_env: AdminEnv) -> None:
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        assert app.query_one(TabbedContent).active == "channels"
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1)
        form = app.screen
        form.query_one("#type", Select).value = 1
        form.query_one("#field-name", Input).value = "from-tui"
        form.query_one("#field-key", Input).value = "sk-upstream"
        form.query_one("#field-base_url", Input).value = "http://127.0.0.1:9"
        form.query_one("#field-models", Input).value = "gpt-4o-mini"
        form.query_one("#field-priority", Input).value = "5"
        await pilot.press("ctrl+s")
        await wait_for(lambda: len(app.screen_stack) == 1)
        rows = await admin_env.relay.services.store.read(channel_q.list_all)
        await wait_for(lambda: app.query_one("ChannelsPane DataTable", DataTable).row_count == 1)
    assert [(r["name"], r["priority"], r["base_url"]) for r in rows] == [("from-tui", 5, "http://127.0.0.1:9")]
    found = await admin_env.relay.services.channels.search("from-tui")
    assert found and "key" not in found[0]


async def test_generate_and_export_vouchers(admin_env: AdminEnv, tmp_path: Path) -> None:
    out = tmp_path / "vouchers.csv"
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.press("g")
        await wait_for(lambda: len(app.screen_stack) > 1)
        form = app.screen
        form.query_one("#field-count", Input).value = "120"
        form.query_one("#field-quota", Input).value = "$2"
        form.query_one("#field-name", Input).value = "promo"
        form.query_one("#field-out", Input).value = str(out)
        await pilot.press("ctrl+s")
        await wait_for(lambda: out.exists(), timeout=10)
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["key", "name", "quota"] and len(rows) == 121
    assert {r[2] for r in rows[1:]} == {"1000000"}
    stored = await admin_env.relay.services.store.read(voucher_q.list_page, 0, 1000)
    assert len(stored) == 120 and {r["key"] for r in stored} == {r[0] for r in rows[1:]}


async def test_a_relayed_request_appears_in_the_live_log_and_moves_the_dashboard(admin_env: AdminEnv) -> None:
    env = admin_env.relay
    _fake, url = await env.fake()
    await env.add_channel(url)
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await pilot.pause(0.3)  # let the log tab subscribe to live events
        answer = await env.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello from the tui test"}])
        assert answer.choices[0].message.content
        table = app.query_one("LogsPane DataTable", DataTable)
        await wait_for(lambda: any(str(cell) == "gpt-4o-mini" for row in table.rows
                                   for cell in table.get_row(row)))
        await pilot.press("1")
        await wait_for(lambda: sum(app.query_one("#requests", Sparkline).data or []) >= 1, timeout=5)
        totals = str(app.query_one("#totals").render())
        assert "requests 1" in totals


async def test_an_upstream_anomaly_appears_in_the_live_log(admin_env: AdminEnv) -> None:
    env = admin_env.relay
    fake, url = await env.fake()
    channel_id = await env.add_channel(url)
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await pilot.pause(0.3)  # let the log tab subscribe to live events
        fake.report_usage(completion_tokens=-5)
        await env.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        table = app.query_one("LogsPane DataTable", DataTable)
        await wait_for(lambda: any(f"upstream anomaly on channel #{channel_id}" in str(cell)
                                   for row in table.rows for cell in table.get_row(row)))


async def test_tokens_create_shows_the_key_once(admin_env: AdminEnv) -> None:
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1)
        form = app.screen
        form.query_one("#field-name", Input).value = "ci"
        form.query_one("#field-quota", Input).value = "$1"
        await pilot.press("ctrl+s")
        await wait_for(lambda: len(app.screen_stack) > 1 and app.screen.query("#text"))
        key = app.screen.query_one("#text", Input).value
        await pilot.press("escape")
    assert key.startswith("sk-") and len(key) == 51
    tokens = await admin_env.relay.services.tokens.list_page(1, 0, "")
    assert any(t["name"] == "ci" and t["remain_quota"] == 500_000 and "sk-" + t["key"] == key for t in tokens)


async def test_bad_input_in_a_form_is_a_notification_not_a_crash(admin_env: AdminEnv) -> None:
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1)
        app.screen.query_one("#field-quota", Input).value = "lots"
        await pilot.press("ctrl+s")
        await wait_for(lambda: any("not a number" in str(n.message) for n in app._notifications))
        assert app.is_running
