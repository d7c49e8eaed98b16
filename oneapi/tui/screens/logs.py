"""Logs: a live tail (request logs, system logs, relay errors) with filters, pause / resume and a detail view.

The tail survives the server: when the event stream ends (a restart, a crash), the pane says so and reconnects
every few seconds, then fetches what it missed. ``r`` reloads the recent logs and reconnects at once. Cells are
cut to fit the terminal; ``enter`` shows the whole entry, wrapped.

A log can arrive twice, live (without an id: the live stream carries consume logs before they are written) and
from ``/api/log/`` after a reconnection: :func:`identity` tells them apart without the id. Each table row has a
key naming its entry, so ``enter`` finds the entry under the cursor whatever the filter and however many old rows
were dropped.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label

from oneapi import humanize
from oneapi.client import AdminError, AdminRefused
from oneapi.tui.screens.base import NARROW, MessageScreen, clip, plain

if TYPE_CHECKING:
    from oneapi.tui.app import OneAPIApp

TYPES = {0: "unknown", 1: "topup", 2: "consume", 3: "manage", 4: "system", 5: "test"}
MAX_ROWS = 1000
RECONNECT_SECONDS = 2.0
FILTERS = (("user", "user"), ("token", "token"), ("model", "model"), ("channel", "channel id"), ("type", "type"))
COLUMNS = (("time", "Time"), ("type", "Type"), ("user", "User"), ("token", "Token"), ("model", "Model"),
           ("channel", "Ch"), ("tokens", "In+out"), ("quota", "Quota"), ("ms", "ms"), ("content", "Content"))
# Columns shown only from this terminal width on, so that the content keeps a readable share of the line.
FROM_WIDTH = {"token": 120, "tokens": 120, "channel": 140, "ms": 140}
# Fixed widths, so that a long user or model name cannot push the content off screen; the content column gets
# the rest of the line (each column also takes 2 cells of padding, the scrollbar 2).
WIDTHS = {"time": 16, "type": 7, "user": 8, "token": 8, "model": 16, "channel": 3, "tokens": 9, "quota": 9,
          "ms": 5}
NARROW_TIME = 11  # 12-31 23:59
LIVE = "live · enter shows an entry in full · p pause/resume · filters apply to new and listed rows"


def matches(row: dict[str, Any], filters: dict[str, str]) -> bool:
    checks = {"user": str(row.get("username", "")), "token": str(row.get("token_name", "")),
              "model": str(row.get("model_name", "")), "channel": str(row.get("channel", "")),
              "type": TYPES.get(row.get("type", 0), "")}
    return all(not want or checks[name] == want for name, want in filters.items())


def identity(row: dict[str, Any]) -> tuple[Any, ...]:
    """What tells one log from another whether it came live (without an id) or from /api/log/ (with one): a
    request's log by its request id, moment and type; any other by its moment, type, user, text and quota."""
    if row.get("request_id"):
        return row["request_id"], row.get("created_at"), row.get("type")
    return "", row.get("created_at"), row.get("type"), row.get("username"), row.get("content"), row.get("quota")


def kind(row: dict[str, Any]) -> str:
    return "error" if row.get("type") == -1 else TYPES.get(row.get("type", 0), "?")


def detail(row: dict[str, Any]) -> str:
    """The whole entry, one field a line, the content last and in full."""
    fields = {"time": humanize.when(row.get("created_at")), "type": kind(row), **{
        k: v for k, v in row.items() if k not in ("content", "created_at", "type") and v not in ("", None)}}
    lines = [f"{name}: {value}" for name, value in fields.items()]
    return "\n".join([*lines, "", str(row.get("content", ""))])


class LogsPane(Widget):
    DEFAULT_CSS = """
    LogsPane { height: 1fr; }
    LogsPane .toolbar Input { width: 1fr; }
    LogsPane #state { height: auto; }
    """
    BINDINGS: ClassVar = [Binding("p", "pause", "Pause/resume"), Binding("enter", "detail", "Details")]

    class Arrived(Message):
        def __init__(self, row: dict[str, Any]) -> None:
            super().__init__()
            self.row = row

    class Connected(Message):
        """The live stream is (re)connected: fetch what was missed."""

    class Lost(Message):
        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.paused = False
        self.held: list[dict[str, Any]] = []
        self._shown: tuple[str, ...] = ()
        self._content_width = 60
        self._seen: Counter[tuple[Any, ...]] = Counter()  # identity() of every row in rows and held
        self._entries: dict[str, dict[str, Any]] = {}  # table row key -> the log entry it shows
        self._keys = itertools.count()

    @property
    def oneapi(self) -> OneAPIApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="toolbar"):
            for name, placeholder in FILTERS:
                yield Input(placeholder=placeholder, id=f"filter-{name}")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Label(LIVE, id="state", classes="hint")

    def shown_columns(self) -> tuple[str, ...]:
        width = self.app.size.width
        return tuple(key for key, _ in COLUMNS if width >= FROM_WIDTH.get(key, 0))

    def _width(self, key: str) -> int:
        return NARROW_TIME if key == "time" and self.app.size.width < NARROW else WIDTHS[key]

    def on_mount(self) -> None:
        self._layout_columns()
        self.load_recent()
        self.follow()

    def on_resize(self, event: events.Resize) -> None:
        if self.shown_columns() != self._shown:
            self._layout_columns()
            self.redraw()

    def _layout_columns(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        self._shown = self.shown_columns()
        used = sum(self._width(key) + 2 for key in self._shown if key in WIDTHS) + 2 + 2
        self._content_width = max(12, self.app.size.width - used)
        titles = dict(COLUMNS)
        for key in self._shown:
            table.add_column(titles[key], key=key, width=self._width(key) if key in WIDTHS else self._content_width)

    def filters(self) -> dict[str, str]:
        return {name: self.query_one(f"#filter-{name}", Input).value.strip() for name, _ in FILTERS}

    def on_input_changed(self) -> None:
        self.redraw()

    def reload(self) -> None:
        """``r``: the recent logs again, and a new live stream at once."""
        self.rows = []
        self.held = []
        self._seen.clear()
        self.redraw()
        self.load_recent()
        self.follow()

    @work(group="recent", exclusive=True)
    async def load_recent(self) -> None:
        try:
            rows = await self.oneapi.client.logs(0)
        except AdminError as exc:
            self.oneapi.report(exc)
            return
        for row in reversed(rows):  # those the pane has already are left out when they arrive
            self.post_message(self.Arrived(row))

    @work(group="follow", exclusive=True)
    async def follow(self) -> None:
        """The live stream; when it ends, say so and reconnect every RECONNECT_SECONDS until it is back."""
        lost = False
        while True:
            try:
                async for event in self.oneapi.client.events():
                    if lost:
                        lost = False
                        self.post_message(self.Connected())
                    if event.get("kind") == "log" and isinstance(event.get("log"), dict):
                        self.post_message(self.Arrived(event["log"]))
                    elif event.get("kind") == "relay_error":
                        self.post_message(self.Arrived({
                            "type": -1, "created_at": int(event.get("time", 0)),
                            "content": f"{event.get('status')} on {event.get('path')} "
                                       f"(request {event.get('request_id')})"
                                       + (f": {event['detail']}" if event.get("detail") else "")}))
                    elif event.get("kind") == "alert":  # accounting set-asides, upstream anomalies
                        self.post_message(self.Arrived({"type": -1, "created_at": int(event.get("time", 0)),
                                                        "content": str(event.get("message", ""))}))
            except AdminRefused as exc:  # e.g. too many subscribers: retrying will not help soon
                self.oneapi.report(exc)
                self.post_message(self.Lost(f"live tail refused: {exc}; r retries"))
                return
            except AdminError as exc:
                if not lost:
                    lost = True
                    self.post_message(self.Lost(f"disconnected ({exc}); reconnecting every "
                                                f"{RECONNECT_SECONDS:.0f} s · r retries now"))
            await asyncio.sleep(RECONNECT_SECONDS)

    def on_logs_pane_lost(self, message: Lost) -> None:
        self.query_one("#state", Label).update(plain(message.reason))

    def on_logs_pane_connected(self) -> None:
        self.query_one("#state", Label).update("PAUSED · p resumes" if self.paused else LIVE)
        self.load_recent()  # what happened while the stream was down

    def on_logs_pane_arrived(self, message: Arrived) -> None:
        """Keep and show a log, unless the pane has it already (live, then from /api/log/, or the other way)."""
        seen = identity(message.row)
        if seen in self._seen:
            return
        self._seen[seen] += 1
        if self.paused:
            self.held.append(message.row)
            self._trim(self.held)
            return
        self._keep(message.row)

    def _keep(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._trim(self.rows)
        if matches(row, self.filters()):
            self._add(row)

    def _trim(self, rows: list[dict[str, Any]]) -> None:
        """Drop the oldest of ``rows`` beyond MAX_ROWS (rows shown in the table stay there until it trims)."""
        for old in rows[:-MAX_ROWS]:
            seen = identity(old)
            self._seen[seen] -= 1
            if self._seen[seen] <= 0:
                del self._seen[seen]
        del rows[:-MAX_ROWS]

    def cells(self, row: dict[str, Any]) -> dict[str, str]:
        consume = row.get("type") == 2  # the call figures mean something only for consume logs
        figures = {"channel": row.get("channel", ""), "ms": row.get("elapsed_time", ""),
                   "tokens": f"{row.get('prompt_tokens', 0)}+{row.get('completion_tokens', 0)}"}
        when = humanize.when(row.get("created_at"))
        values = {"time": when[5:] if self.app.size.width < NARROW else when, "type": kind(row),
                  "user": row.get("username", ""),
                  "token": row.get("token_name", ""), "model": row.get("model_name", ""),
                  **{k: v if consume else "" for k, v in figures.items()},
                  "quota": self.oneapi.money(row.get("quota", 0)) if row.get("quota") else ""}
        cells = {key: clip(value, self._width(key)) for key, value in values.items()}
        cells["content"] = clip(row.get("content", ""), self._content_width)
        return cells

    def _add(self, row: dict[str, Any]) -> None:
        table = self.query_one(DataTable)
        cells = self.cells(row)
        row_key = str(next(self._keys))
        self._entries[row_key] = row
        table.add_row(*(plain(cells[key]) for key in self._shown), key=row_key)
        if table.row_count > MAX_ROWS:
            oldest = next(iter(table.rows))
            table.remove_row(oldest)
            self._entries.pop(str(oldest.value), None)
        table.move_cursor(row=table.row_count - 1)

    def redraw(self) -> None:
        self.query_one(DataTable).clear()
        self._entries.clear()
        wanted = self.filters()
        for row in self.rows:
            if matches(row, wanted):
                self._add(row)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            for row in self.held:
                self._keep(row)
            self.held = []
        self.query_one("#state", Label).update("PAUSED · p resumes" if self.paused else LIVE)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on the table (the table's own binding takes the key) opens the entry."""
        event.stop()
        self.action_detail()

    def action_detail(self) -> None:
        """The entry under the cursor, found by its row's key (not by its position among the kept rows)."""
        table = self.query_one(DataTable)
        if not table.row_count or not table.is_valid_coordinate(table.cursor_coordinate):
            return
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        row = self._entries.get(str(row_key.value))
        if row is not None:
            self.app.push_screen(MessageScreen("Log entry", detail(row)))
