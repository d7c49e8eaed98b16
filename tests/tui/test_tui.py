"""The TUI driven by Textual's pilot against a real server on a temporary admin socket."""

from __future__ import annotations

import asyncio
import csv
import re
import stat
from pathlib import Path

import pytest
from aiohttp import web
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label, Select, Sparkline, Static, TabbedContent, TextArea

from oneapi.api.admin import make_admin_app
from oneapi.store.queries import channels as channel_q
from oneapi.store.queries import logs as log_q
from oneapi.store.queries import redemptions as voucher_q
from oneapi.store.queries.accounting import LogRow
from oneapi.tui import make_app
from oneapi.tui.screens import logs as logs_screen
from tests.conftest import RedisServer
from tests.functional.admin_env import AdminEnv
from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env

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
        form.query_one("#field-key", TextArea).text = "sk-upstream-1\nsk-upstream-2\n"  # one channel per line
        form.query_one("#field-base_url", Input).value = "http://127.0.0.1:9"
        form.query_one("#field-models", Input).value = "gpt-4o-mini"
        form.query_one("#field-priority", Input).value = "5"
        await pilot.press("ctrl+s")
        await wait_for(lambda: len(app.screen_stack) == 1)
        rows = await admin_env.relay.services.store.read(channel_q.list_all)
        table = app.query_one("ChannelsPane DataTable", DataTable)
        await wait_for(lambda: table.row_count == 2)
        assert [str(c) for c in table.get_row_at(0)][2] == "OpenAI"  # the type by name, not "1"
    assert [(r["name"], r["priority"], r["base_url"], r["key"]) for r in rows] == [
        ("from-tui", 5, "http://127.0.0.1:9", "sk-upstream-1"), ("from-tui", 5, "http://127.0.0.1:9", "sk-upstream-2")]
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
        pane = app.query_one("LogsPane")
        await wait_for(lambda: any(f"upstream anomaly on channel #{channel_id}" in str(row.get("content"))
                                   for row in pane.rows))  # type: ignore[attr-defined]
        table = app.query_one("LogsPane DataTable", DataTable)
        assert any("error" in map(str, table.get_row(row)) for row in table.rows)  # shown, as an error row


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
        key = app.screen.query_one("#text", TextArea).text
        await pilot.press("escape")
    assert key.startswith("sk-") and len(key) == 51
    tokens = await admin_env.relay.services.tokens.list_page(1, 0, "")
    assert any(t["name"] == "ci" and t["remain_quota"] == 500_000 and "sk-" + t["key"] == key for t in tokens)


async def test_a_form_takes_typing_at_once_and_keeps_it_when_a_value_is_refused(admin_env: AdminEnv) -> None:
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1)
        form = app.screen
        await pilot.press(*"ci-token")  # typed straight away: the first field has the focus
        assert form.query_one("#field-name", Input).value == "ci-token"
        form.query_one("#field-quota", Input).value = "lots"
        form.query_one("#field-expires", Input).value = "2001-01-01"
        await pilot.press("ctrl+s")
        error = form.query_one("#error-quota", Static)
        await wait_for(lambda: "not a number" in str(error.render()))
        assert app.screen is form and app.is_running  # still open, nothing lost
        assert form.query_one("#field-name", Input).value == "ci-token"
        assert form.query_one("#field-quota", Input).value == "lots"
        form.query_one("#field-quota", Input).value = "$1"
        await pilot.press("ctrl+s")
        expires = form.query_one("#error-expires", Static)
        await wait_for(lambda: "in the past" in str(expires.render()))
        assert "not a number" not in str(error.render()) and app.screen is form
        form.query_one("#field-expires", Input).value = "30d"
        await pilot.press("ctrl+s")
        await wait_for(lambda: app.screen is not form and app.screen.query("#text"))
    tokens = await admin_env.relay.services.tokens.list_page(1, 0, "")
    assert any(t["name"] == "ci-token" and t["remain_quota"] == 500_000 for t in tokens)


async def test_a_refusal_from_the_server_keeps_the_form_open_and_says_why(admin_env: AdminEnv) -> None:
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1)
        form = app.screen
        assert form.query_one("#field-password", Input).password  # passwords are not shown while typed
        form.query_one("#field-username", Input).value = "root"  # taken
        form.query_one("#field-password", Input).value = "password123"
        await pilot.press("ctrl+s")
        problem = form.query_one("#error-form", Static)
        await wait_for(lambda: str(problem.render()).strip() != "")
        assert app.screen is form and form.query_one("#field-username", Input).value == "root"
        form.query_one("#field-password", Input).value = "short"
        form.query_one("#field-username", Input).value = "newbie"
        await pilot.press("ctrl+s")
        await wait_for(lambda: "8 to 20" in str(form.query_one("#error-password", Static).render()))
        form.query_one("#field-password", Input).value = "long-enough-pw"
        await pilot.press("enter")  # enter in a field saves too
        await wait_for(lambda: app.screen is not form)
    assert any(u["username"] == "newbie" for u in await admin_env.relay.services.accounts.search("newbie"))


async def test_voucher_export_refuses_a_format_it_cannot_write_and_writes_0600(admin_env: AdminEnv,
                                                                                tmp_path: Path) -> None:
    await admin_env.relay.services.vouchers.create(1, {"name": "promo", "quota": 7, "count": 2})
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(lambda: app.query_one("VouchersPane DataTable", DataTable).row_count == 2)
        await pilot.press("x")
        await wait_for(lambda: len(app.screen_stack) > 1)
        form = app.screen
        form.query_one("#field-out", Input).value = str(tmp_path / "v.xlsx")
        await pilot.press("ctrl+s")
        await wait_for(lambda: ".csv" in str(form.query_one("#error-out", Static).render()))
        assert not (tmp_path / "v.xlsx").exists() and app.screen is form
        form.query_one("#field-out", Input).value = str(tmp_path / "v.txt")
        await pilot.press("ctrl+s")
        await wait_for(lambda: (tmp_path / "v.txt").exists() and app.screen is not form)
    assert len((tmp_path / "v.txt").read_text().split()) == 2
    assert stat.S_IMODE((tmp_path / "v.txt").stat().st_mode) == 0o600


async def test_enter_on_a_log_shows_all_of_it(admin_env: AdminEnv) -> None:
    long_text = "the upstream said: " + "x" * 200 + " END"
    await admin_env.relay.services.store.write(log_q.insert, LogRow(user_id=0, created_at=1_700_000_000, type=4,
                                                              content=long_text))
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        table = app.query_one("LogsPane DataTable", DataTable)
        await wait_for(lambda: table.row_count == 1)
        assert table.has_focus
        shown = str(table.get_row_at(0)[-1])
        assert shown.endswith("…") and len(shown) < 80  # cut to fit the table ...
        await pilot.press("enter")
        await wait_for(lambda: len(app.screen_stack) > 1)
        text = app.screen.query_one("#text", TextArea).text  # ... and whole in the detail view
        assert long_text in text and "type: system" in text
        await pilot.press("escape")
        await wait_for(lambda: len(app.screen_stack) == 1)


def cells(table: DataTable) -> list[str]:  # type: ignore[type-arg]
    return [str(c) for r in table.rows for c in table.get_row(r)]


async def test_the_live_tail_resumes_after_a_server_restart_and_r_reloads(tmp_path: Path) -> None:
    socket = Path("/tmp") / f"oneapi-restart-{tmp_path.name[-30:]}.sock"
    socket.unlink(missing_ok=True)
    async for env in start_relay_env(sqlite_db(tmp_path), relay_config()):
        try:
            await restart_while_tailing(env, socket)
        finally:
            socket.unlink(missing_ok=True)


async def restart_while_tailing(env: RelayEnv, socket: Path) -> None:
    async def serve() -> web.AppRunner:
        runner = web.AppRunner(make_admin_app(env.services, "test-secret"))
        await runner.setup()
        await web.UnixSite(runner, str(socket)).start()
        return runner

    runner = await serve()
    _fake, url = await env.fake()
    await env.add_channel(url)
    app = make_app(socket)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("7")
            state = app.query_one("#state")
            table = app.query_one("LogsPane DataTable", DataTable)
            await pilot.pause(0.3)
            await runner.cleanup()  # the server goes away ...
            await wait_for(lambda: "reconnecting" in str(state.render()))
            runner = await serve()  # ... and comes back
            await wait_for(lambda: str(state.render()).startswith("live"), timeout=10)
            await env.client().chat.completions.create(model="gpt-4o-mini",
                                                       messages=[{"role": "user", "content": "after restart"}])
            await wait_for(lambda: "gpt-4o-mini" in cells(table))

            # A log the live stream never carried (written straight to the database): r shows it.
            await env.services.store.write(log_q.insert, LogRow(user_id=0, created_at=1_700_000_001, type=4,
                                                          content="behind the stream"))
            await pilot.pause(0.3)
            assert "behind the stream" not in cells(table)
            await pilot.press("r")
            await wait_for(lambda: "behind the stream" in cells(table))
    finally:
        await runner.cleanup()


async def test_the_dashboard_names_channels_and_says_rates_are_one_minute_averages(admin_env: AdminEnv) -> None:
    env = admin_env.relay
    _fake, url = await env.fake()
    await env.add_channel(url)
    app = make_app(admin_env.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await env.client().chat.completions.create(model="gpt-4o-mini",
                                                   messages=[{"role": "user", "content": "hi"}])
        channels = app.query_one("#top-channels", Static)
        await wait_for(lambda: "1  " in str(channels.render()))
        name = (await env.services.store.read(channel_q.list_all))[0]["name"]
        assert name in str(channels.render()) and "#" not in str(channels.render())
        rps = app.query_one("#rps", Static)
        assert rps.border_title == "requests/s" and rps.border_subtitle == "1-min average"
        spent = app.query_one("#quota", Static)
        await wait_for(lambda: re.fullmatch(r"\$0\.0*[1-9]\d*", str(spent.render())) is not None)
        await pilot.pause()


# ------------------------------------------------------------------ text from data is never read as markup

MARKUP = "[/]"  # a closing tag with nothing to close: Textual's markup parser raises MarkupError on it
STYLE_LIKE = "[invalid_request_error]"  # an unknown style: the parser would drop it without a word
SHORT_STYLE_LIKE = "[quota_exceeded]"  # the same for a display name (at most 20 characters)


async def seed_markup_lookalikes(admin_env: AdminEnv) -> None:
    services = admin_env.relay.services
    await services.channels.create({"type": 1, "name": MARKUP, "key": "sk-x", "base_url": "http://127.0.0.1:9",
                                    "models": "gpt-4o-mini"})
    await services.tokens.create(1, {"name": MARKUP, "remain_quota": 500_000})
    await services.vouchers.create(1, {"name": MARKUP, "quota": 7, "count": 1})
    await services.accounts.create({"id": 1, "role": 100}, {"username": MARKUP, "password": "password123",
                                                            "display_name": SHORT_STYLE_LIKE})
    await services.options.update("Notice", f"{MARKUP} {STYLE_LIKE}")
    await services.store.write(log_q.insert, LogRow(user_id=0, created_at=1_700_000_000, type=4, username=MARKUP,
                                              content=f"{STYLE_LIKE} the upstream said {MARKUP}"))
    services.stats.record_request(MARKUP, 1, 10, 3)


async def test_text_that_looks_like_markup_is_shown_as_typed_in_every_tab(admin_env: AdminEnv) -> None:
    await seed_markup_lookalikes(admin_env)
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: MARKUP in str(app.query_one("#top-models", Static).render()))
        for number, tab, needles in (("2", "channels", [MARKUP]), ("3", "tokens", [MARKUP]),
                                     ("4", "vouchers", [MARKUP]), ("5", "users", [MARKUP, SHORT_STYLE_LIKE]),
                                     ("6", "options", [f"{MARKUP} {STYLE_LIKE}"]),
                                     ("7", "logs", [MARKUP, STYLE_LIKE])):
            await pilot.press(number)
            table = app.query_one(f"#{tab} DataTable", DataTable)
            await wait_for(lambda: all(any(n in cell for cell in cells(table)) for n in needles))  # noqa: B023
            assert app.is_running

        # Titles, errors and notifications made from data: a top-up of the user "[/]" ...
        await pilot.press("5")
        users = app.query_one("#users DataTable", DataTable)
        users.move_cursor(row=[str(users.get_row_at(i)[1]) for i in range(users.row_count)].index(MARKUP))
        await pilot.press("u")
        await wait_for(lambda: len(app.screen_stack) > 1)
        assert f"Top up {MARKUP}" in str(app.screen.query_one(Label).render())
        await pilot.press("escape")
        await wait_for(lambda: len(app.screen_stack) == 1)
        await pilot.press("space")  # ... disabled: "user [/]: disabled"
        await wait_for(lambda: any(n.message == f"user {MARKUP}: disabled" for n in app._notifications))
        # ... a token "[/]" whose key is shown under its name, after a quota the form refuses, quoted:
        await pilot.press("3")
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1)
        form = app.screen
        form.query_one("#field-name", Input).value = MARKUP
        form.query_one("#field-quota", Input).value = MARKUP
        await pilot.press("ctrl+s")
        await wait_for(lambda: f"quota '{MARKUP}' is not a number" in str(form.query_one("#error-quota").render()))
        form.query_one("#field-quota", Input).value = "$1"
        await pilot.press("ctrl+s")
        await wait_for(lambda: app.screen is not form and app.screen.query("#text"))
        assert f"Token {MARKUP} created" in str(app.screen.query_one(Label).render())
        await pilot.press("escape")
        assert app.is_running


# ------------------------------------------------------------------ the live tail: duplicates, enter, trimming

async def test_a_log_seen_live_and_again_after_a_reconnection_shows_once(tmp_path: Path) -> None:
    socket = Path("/tmp") / f"oneapi-dedup-{tmp_path.name[-30:]}.sock"
    socket.unlink(missing_ok=True)
    async for env in start_relay_env(sqlite_db(tmp_path), relay_config()):
        try:
            await reconnect_after_a_call(env, socket)
        finally:
            socket.unlink(missing_ok=True)


async def reconnect_after_a_call(env: RelayEnv, socket: Path) -> None:
    async def serve() -> web.AppRunner:
        runner = web.AppRunner(make_admin_app(env.services, "test-secret"))
        await runner.setup()
        await web.UnixSite(runner, str(socket)).start()
        return runner

    runner = await serve()
    _fake, url = await env.fake()
    await env.add_channel(url)
    app = make_app(socket)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("7")
            pane = app.query_one("LogsPane")
            table = app.query_one("LogsPane DataTable", DataTable)
            state = app.query_one("#state")
            await pilot.pause(0.3)  # subscribed
            await env.client().chat.completions.create(model="gpt-4o-mini",
                                                       messages=[{"role": "user", "content": "once"}])
            await wait_for(lambda: "gpt-4o-mini" in cells(table))  # live: a consume log carries no id

            async def written() -> bool:
                return any(r["model_name"] == "gpt-4o-mini"
                           for r in await env.services.store.read(log_q.list_page, log_q.LogFilter(), 0, 10))

            deadline = asyncio.get_running_loop().time() + 10
            while not await written():
                assert asyncio.get_running_loop().time() < deadline, "the consume log was never written"
                await asyncio.sleep(0.1)
            await env.services.store.write(log_q.insert, LogRow(user_id=0, created_at=1_700_000_001, type=4,
                                                          content="marker behind the stream"))
            await runner.cleanup()
            await wait_for(lambda: "reconnecting" in str(state.render()))
            runner = await serve()
            await wait_for(lambda: "marker behind the stream" in cells(table), timeout=10)  # missed logs fetched
            await pilot.pause(0.2)
            assert cells(table).count("gpt-4o-mini") == 1
            assert [r.get("model_name") for r in pane.rows].count("gpt-4o-mini") == 1  # type: ignore[attr-defined]
    finally:
        await runner.cleanup()


async def test_enter_shows_the_entry_under_the_cursor_once_old_rows_are_dropped_under_a_filter(
        admin_env: AdminEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs_screen, "MAX_ROWS", 3)
    logs = admin_env.relay.services.logs
    app = make_app(admin_env.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        app.query_one("#filter-type", Input).value = "system"
        table = app.query_one("LogsPane DataTable", DataTable)
        await pilot.pause(0.3)  # subscribed
        for log_type, content in ((4, "first system entry"), (4, "second system entry"), (3, "manage one"),
                                  (3, "manage two"), (4, "third system entry")):
            await logs.record(0, log_type, content)
        # Kept: the last 3 of every type; shown: the system ones, first and second included.
        await wait_for(lambda: any("third system entry" in c for c in cells(table)))

        async def detail_of(row: int) -> str:
            table.move_cursor(row=row)
            await pilot.press("enter")
            await wait_for(lambda: len(app.screen_stack) > 1)
            text = app.screen.query_one("#text", TextArea).text
            await pilot.press("escape")
            await wait_for(lambda: len(app.screen_stack) == 1)
            return text

        contents = [str(table.get_row_at(i)[-1]) for i in range(table.row_count)]
        for entry in ("first system entry", "second system entry", "third system entry"):
            assert entry in await detail_of(next(i for i, c in enumerate(contents) if entry in c))
        await logs.record(0, 4, "fourth system entry")  # the table keeps 3 rows too: "first" goes
        await wait_for(lambda: any("fourth system entry" in c for c in cells(table)))
        assert table.row_count == 3 and not any("first system entry" in c for c in cells(table))
        assert "second system entry" in await detail_of(0)


# ------------------------------------------------------------------ forms: focus and errors out of view

async def test_the_channel_form_takes_typing_in_its_first_text_field(admin_env: AdminEnv) -> None:
    app = make_app(admin_env.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1 and app.screen.query("#field-key"))
        await pilot.pause()
        await pilot.press(*"sk-typed")  # not lost in the type picker above it
        assert app.screen.query_one("#field-key", TextArea).text == "sk-typed"
        assert app.screen.query_one("#type", Select).value == 1


def in_view(widget: Widget) -> bool:
    """Whether ``widget`` lies wholly inside the visible part of the form's scrolling container."""
    scroller = widget.screen.query_one(".form", VerticalScroll)
    window = scroller.scrollable_content_region
    return bool(widget.region) and window.contains_region(widget.region)


async def test_an_error_under_a_field_out_of_view_is_scrolled_into_view_and_the_field_focused(
        admin_env: AdminEnv) -> None:
    app = make_app(admin_env.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1 and app.screen.query("#field-key"))
        form = app.screen
        scroller = form.query_one(".form", VerticalScroll)
        await pilot.pause()
        assert scroller.max_scroll_y > 0  # taller than 24 lines: it scrolls
        form.query_one("#field-key", TextArea).text = "sk-x"
        form.query_one("#field-config", Input).value = "{not json"  # the last field but one
        scroller.scroll_home(animate=False)
        await pilot.pause()
        error = form.query_one("#error-config", Static)
        assert not in_view(form.query_one("#field-config"))
        await pilot.press("ctrl+s")
        await wait_for(lambda: "not valid JSON" in str(error.render()))
        await pilot.pause(0.2)
        assert in_view(error) and app.focused is form.query_one("#field-config")

        form.query_one("#field-config", Input).value = ""
        form.query_one("#field-key", TextArea).text = ""  # an error at the top, the form scrolled down
        scroller.scroll_end(animate=False)
        await pilot.pause()
        assert not in_view(form.query_one("#field-key"))
        await pilot.press("ctrl+s")
        error = form.query_one("#error-key", Static)
        await wait_for(lambda: "give the upstream key" in str(error.render()))
        await pilot.pause(0.2)
        assert in_view(error) and app.focused is form.query_one("#field-key")
        assert app.screen is form


async def test_tokens_rate_limits_in_the_create_and_edit_forms(admin_env: AdminEnv) -> None:
    app = make_app(admin_env.socket)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("3")
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1)
        form = app.screen
        form.query_one("#field-name", Input).value = "limited"
        form.query_one("#field-unlimited", Input).value = "yes"
        form.query_one("#field-rpm", Input).value = "many"
        await pilot.press("ctrl+s")
        error = form.query_one("#error-rpm", Static)
        await wait_for(lambda: "whole number" in str(error.render()))
        assert app.screen is form
        form.query_one("#field-rpm", Input).value = "60"
        form.query_one("#field-tpm", Input).value = "100,000"
        await pilot.press("ctrl+s")
        await wait_for(lambda: app.screen is not form and app.screen.query("#text"))
        await pilot.press("escape")
        (token,) = [t for t in await admin_env.relay.services.tokens.list_page(1, 0, "") if t["name"] == "limited"]
        assert (token["rpm_limit"], token["tpm_limit"]) == (60, 100_000)

        pane = app.query_one("TokensPane")
        table = app.query_one("TokensPane DataTable", DataTable)
        await wait_for(lambda: any("60 rpm, 100000 tpm" in map(str, table.get_row(r)) for r in table.rows))
        row_index = next(i for i, row in enumerate(pane.rows) if row["id"] == token["id"])  # type: ignore[attr-defined]
        table.move_cursor(row=row_index)
        await pilot.press("e")
        await wait_for(lambda: len(app.screen_stack) > 1)
        form = app.screen
        assert form.query_one("#field-rpm", Input).value == "60"  # shown as they are
        assert form.query_one("#field-tpm", Input).value == "100000"
        assert form.query_one("#field-unlimited", Input).value == "yes"
        form.query_one("#field-rpm", Input).value = "0"
        await pilot.press("ctrl+s")
        await wait_for(lambda: app.screen is not form)
    token = await admin_env.relay.services.tokens.get(1, token["id"])
    assert (token["rpm_limit"], token["tpm_limit"], token["name"]) == (0, 100_000, "limited")


async def test_the_dashboard_says_when_redis_is_lost(admin_env: AdminEnv, redis_server: RedisServer) -> None:
    """Redis lost while serving: requests go on with per-node balances, and the dashboard says so until it is
    back (a private redis-server, stopped and started again)."""
    from oneapi.store.redis_link import RedisLink

    link = RedisLink(redis_server.url)
    await link.connect()
    admin_env.relay.services.redis = link
    try:
        app = make_app(admin_env.socket)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("1")
            await wait_for(lambda: "requests" in str(app.query_one("#totals").render()), timeout=5)
            assert "Redis down" not in str(app.query_one("#totals").render())
            await asyncio.to_thread(redis_server.stop)
            link.lost(ConnectionError("the server is gone"))  # as the next failed call would
            await wait_for(lambda: "Redis down: balances per node" in str(app.query_one("#totals").render()),
                           timeout=10)
            await asyncio.to_thread(redis_server.start)
            await wait_for(lambda: link.up, timeout=10)  # the probe finds Redis again
            await wait_for(lambda: "Redis down" not in str(app.query_one("#totals").render()), timeout=10)
    finally:
        admin_env.relay.services.redis = None
        await link.close()


@pytest.mark.parametrize(("type_id", "key_format", "base_url"), [
    (33, "AK|SK|Region", "https://bedrock-runtime.{region}.amazonaws.com (the key's region)"),
    (34, "pat_...", "https://api.coze.com"),
    (35, "API key", "https://api.cohere.com"),
    (37, 'config {"user_id": account id}', "https://api.cloudflare.com"),
    (38, "auth key (...:fx)", "https://api-free.deepl.com for a :fx key, else https://api.deepl.com"),
    (42, "service account JSON", "https://{region}-aiplatform.googleapis.com (config region, default us-central1"),
    (43, "Authorization value", "(required: the API that /v1/oneapi/proxy/{channel}/... passes requests to)"),
    (46, "r8_...", "https://api.replicate.com/v1/models/"),
])
async def test_the_type_picker_shows_each_new_types_key_format_and_base_url(
        admin_env: AdminEnv, type_id: int, key_format: str, base_url: str) -> None:
    app = make_app(admin_env.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1 and app.screen.query("#type-hint"))
        form = app.screen
        picker = form.query_one("#type", Select)
        picker.value = type_id
        await pilot.pause()
        hint = str(form.query_one("#type-hint", Label).render())
        key_line, base_line = hint.split("\n")
        assert key_line.startswith("key format: ") and key_format in key_line
        assert base_line.startswith("default base URL: ") and base_url in base_line
        # the type's models fill an empty models field (none for Coze and Proxy: bots and paths, not models)
        models = form.query_one("#field-models", Input).value
        assert bool(models) == (type_id not in (34, 43))


async def test_the_models_field_follows_the_type_until_it_is_typed_in(admin_env: AdminEnv) -> None:
    app = make_app(admin_env.socket)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await pilot.press("a")
        await wait_for(lambda: len(app.screen_stack) > 1 and app.screen.query("#type-hint"))
        form = app.screen
        picker, models = form.query_one("#type", Select), form.query_one("#field-models", Input)
        await pilot.pause()
        assert models.value.startswith("gpt-")  # OpenAI's, the first type
        picker.value = 33
        await pilot.pause()
        assert models.value.startswith("claude-instant-1.2,")  # Bedrock's, not OpenAI's left behind
        picker.value = 34
        await pilot.pause()
        assert models.value == ""  # Coze: bots, no built-in models
        models.value = "bot-123"
        picker.value = 35
        await pilot.pause()
        assert models.value == "bot-123"  # what was typed stays
