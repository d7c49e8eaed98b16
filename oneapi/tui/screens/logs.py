"""Logs: a live tail (request logs, system logs, relay errors) with filters, pause / resume and a detail view."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label

from oneapi import humanize
from oneapi.client import AdminError
from oneapi.tui.screens.base import MessageScreen

TYPES = {0: "unknown", 1: "topup", 2: "consume", 3: "manage", 4: "system", 5: "test"}
MAX_ROWS = 1000
FILTERS = (("user", "user"), ("token", "token"), ("model", "model"), ("channel", "channel id"),
           ("type", "type (consume, topup, ...)"))


def matches(row: dict[str, Any], filters: dict[str, str]) -> bool:
    checks = {"user": str(row.get("username", "")), "token": str(row.get("token_name", "")),
              "model": str(row.get("model_name", "")), "channel": str(row.get("channel", "")),
              "type": TYPES.get(row.get("type", 0), "")}
    return all(not want or checks[name] == want for name, want in filters.items())


class LogsPane(Widget):
    DEFAULT_CSS = "LogsPane { height: 1fr; } LogsPane .toolbar Input { width: 1fr; }"
    BINDINGS: ClassVar = [Binding("p", "pause", "Pause/resume"), Binding("enter", "detail", "Detail")]

    class Arrived(Message):
        def __init__(self, row: dict[str, Any]) -> None:
            super().__init__()
            self.row = row

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.paused = False
        self.held: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        with Horizontal(classes="toolbar"):
            for name, placeholder in FILTERS:
                yield Input(placeholder=placeholder, id=f"filter-{name}")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Label("live · p pause/resume · enter details · filters apply to new and listed rows", id="state",
                    classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for title in ("Time", "Type", "User", "Token", "Model", "Ch", "In", "Out", "Quota", "ms", "Content"):
            table.add_column(title)
        self.load_recent()
        self.follow()

    def filters(self) -> dict[str, str]:
        return {name: self.query_one(f"#filter-{name}", Input).value.strip() for name, _ in FILTERS}

    def on_input_changed(self) -> None:
        self.redraw()

    @work(group="recent")
    async def load_recent(self) -> None:
        try:
            rows = await self.app.client.get("/api/log/", p=0)  # type: ignore[attr-defined]
        except AdminError as exc:
            self.app.report(exc)  # type: ignore[attr-defined]
            return
        for row in reversed(rows):
            self.post_message(self.Arrived(row))

    @work(group="follow", exclusive=True)
    async def follow(self) -> None:
        try:
            async for event in self.app.client.events():  # type: ignore[attr-defined]
                if event.get("kind") == "log" and isinstance(event.get("log"), dict):
                    self.post_message(self.Arrived(event["log"]))
                elif event.get("kind") == "relay_error":
                    self.post_message(self.Arrived({"type": -1, "created_at": int(event.get("time", 0)),
                                                    "content": f"{event.get('status')} on {event.get('path')} "
                                                               f"(request {event.get('request_id')})"}))
                elif event.get("kind") == "alert":  # accounting set-asides, upstream anomalies
                    self.post_message(self.Arrived({"type": -1, "created_at": int(event.get("time", 0)),
                                                    "content": str(event.get("message", ""))}))
        except AdminError as exc:
            self.app.report(exc)  # type: ignore[attr-defined]

    def on_logs_pane_arrived(self, message: Arrived) -> None:
        if self.paused:
            self.held.append(message.row)
            del self.held[:-MAX_ROWS]
            return
        self.rows.append(message.row)
        del self.rows[:-MAX_ROWS]
        if matches(message.row, self.filters()):
            self._add(message.row)

    def _add(self, row: dict[str, Any]) -> None:
        table = self.query_one(DataTable)
        money = self.app.money  # type: ignore[attr-defined]
        kind = "error" if row.get("type") == -1 else TYPES.get(row.get("type", 0), "?")
        table.add_row(humanize.when(row.get("created_at")), kind, row.get("username", ""), row.get("token_name", ""),
                      row.get("model_name", ""), row.get("channel", ""), row.get("prompt_tokens", ""),
                      row.get("completion_tokens", ""), money(row.get("quota", 0)), row.get("elapsed_time", ""),
                      str(row.get("content", ""))[:60])
        if table.row_count > MAX_ROWS:
            table.remove_row(next(iter(table.rows)))
        table.move_cursor(row=table.row_count - 1)

    def redraw(self) -> None:
        self.query_one(DataTable).clear()
        wanted = self.filters()
        for row in self.rows:
            if matches(row, wanted):
                self._add(row)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            for row in self.held:
                self.post_message(self.Arrived(row))
            self.held = []
        self.query_one("#state", Label).update("PAUSED · p resumes" if self.paused else
                                               "live · p pause/resume · enter details")

    def shown_rows(self) -> list[dict[str, Any]]:
        wanted = self.filters()
        return [r for r in self.rows if matches(r, wanted)]

    def action_detail(self) -> None:
        table = self.query_one(DataTable)
        shown = self.shown_rows()
        if table.cursor_row is None or not 0 <= table.cursor_row < len(shown):
            return
        self.app.push_screen(MessageScreen("Log entry", json.dumps(shown[table.cursor_row], ensure_ascii=False)))
