"""Channels: table with status, type, priority, weight, balance, response time, used quota; add / edit with a
type picker that shows each type's key format and default base URL; enable / disable, delete, test, balance."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Select

from oneapi.client import AdminError
from oneapi.tui.screens.base import TablePane

STATUS = {0: "unknown", 1: "enabled", 2: "disabled", 3: "auto-disabled"}
FIELDS = (("name", "Name"), ("key", "Key (several lines = one channel each; empty when editing keeps it)"),
          ("base_url", "Base URL (empty: the type's default)"), ("models", "Models (comma-separated)"),
          ("group", "Groups (comma-separated)"), ("priority", "Priority (higher first)"),
          ("weight", "Weight (share within the priority; 0 = equal)"), ("model_mapping", "Model mapping (JSON)"),
          ("config", "Config (JSON, e.g. {\"api_version\": \"2024-06-01\"})"), ("system_prompt", "System prompt"))


class ChannelForm(ModalScreen[dict[str, Any] | None]):
    BINDINGS: ClassVar = [("escape", "cancel", "Cancel"), ("ctrl+s", "save", "Save")]

    def __init__(self, types: list[dict[str, Any]], channel: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._types = {t["id"]: t for t in types}
        self._channel = channel or {}

    def compose(self) -> ComposeResult:
        current = self._channel.get("type", 1)
        with VerticalScroll(classes="form"):
            yield Label(("[b]Edit channel[/b]" if self._channel else "[b]Add channel[/b]") + "  ctrl+s saves")
            yield Label("Type")
            yield Select([(f"{t['id']} {t['name']}", t["id"]) for t in self._types.values()], value=current,
                         allow_blank=False, id="type")
            yield Label(self._type_hint(current), id="type-hint", classes="hint")
            for name, label in FIELDS:
                yield Label(label)
                value = "" if name == "key" else str(self._channel.get(name) if self._channel.get(name)
                                                   is not None else ("default" if name == "group" else ""))
                yield Input(value=value, id=f"field-{name}")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def _type_hint(self, type_id: Any) -> str:
        t = self._types.get(type_id)
        if t is None:
            return ""
        return f"key format: {t['key_hint'] or '-'}    default base URL: {t['default_base_url'] or '(required)'}"

    def on_select_changed(self, event: Select.Changed) -> None:
        self.query_one("#type-hint", Label).update(self._type_hint(event.value))
        t = self._types.get(event.value)
        models = self.query_one("#field-models", Input)
        if t is not None and not models.value:
            models.value = ",".join(t["models"][:8])

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.values() if event.button.id == "save" else None)

    def values(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.query_one("#type", Select).value}
        for name, _ in FIELDS:
            value = self.query_one(f"#field-{name}", Input).value
            if name in ("priority", "weight"):
                body[name] = int(value) if value.strip().lstrip("-").isdigit() else 0
            elif name == "key" and not value and self._channel:
                continue
            else:
                body[name] = value.replace("\\n", "\n") if name == "key" else value
        if self._channel:
            body["id"] = self._channel["id"]
        return body

    def action_save(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChannelsPane(TablePane):
    COLUMNS = (("id", "ID"), ("name", "Name"), ("type", "Type"), ("status", "Status"), ("priority", "Prio"),
               ("weight", "Weight"), ("balance", "Balance"), ("response_time", "ms"), ("used_quota", "Used"),
               ("models", "Models"))
    RESOURCE = "channel"
    BINDINGS: ClassVar = [Binding("a", "add", "Add"), Binding("e", "edit", "Edit"),
                          Binding("space", "switch", "Enable/disable"), Binding("d", "delete", "Delete"),
                          Binding("t", "test", "Test"), Binding("T", "test_all", "Test all"),
                          Binding("b", "balance", "Balance")]

    def hint(self) -> str:
        return "a add · e edit · space enable/disable · d delete · t test · T test all · b balance · r refresh"

    def cells(self, row: dict[str, Any]) -> list[Any]:
        return [row["id"], row.get("name", ""), row.get("type", ""), STATUS.get(row.get("status", 0), "?"),
                row.get("priority") or 0, row.get("weight") or 0, f"{row.get('balance') or 0:.2f}",
                row.get("response_time", 0), self.oneapi.money(row.get("used_quota", 0)),
                (row.get("models") or "")[:40]]

    @work(group="act")
    async def action_add(self) -> None:
        await self._edit(None)

    @work(group="act")
    async def action_edit(self) -> None:
        row = self.selected()
        if row is not None:
            await self._edit(row)

    async def _edit(self, row: dict[str, Any] | None) -> None:
        try:
            types = await self.oneapi.client.get("/admin/channel_types")
        except AdminError as exc:
            self.oneapi.report(exc)
            return
        body = await self.app.push_screen_wait(ChannelForm(types, row))
        if body is None:
            return
        try:
            if row is None:
                ids = await self.oneapi.client.post("/api/channel/", body)
                self.oneapi.notify(f"created channel {', '.join(map(str, ids))}")
            else:
                await self.oneapi.client.put("/api/channel/", body)
                self.oneapi.notify(f"updated channel {row['id']}")
        except AdminError as exc:
            self.oneapi.report(exc)
        self.reload()

    def action_switch(self) -> None:
        row = self.selected()
        if row is not None:
            status = 2 if row.get("status") == 1 else 1
            self.act(f"channel {row['id']} {STATUS[status]}",
                     self.oneapi.client.put("/api/channel/", {"id": row["id"], "status": status}))

    def action_delete(self) -> None:
        row = self.selected()
        if row is not None:
            self.act(f"deleted channel {row['id']}", self.oneapi.client.delete(f"/api/channel/{row['id']}"))

    @work(group="act")
    async def action_test(self) -> None:
        row = self.selected()
        if row is None:
            return
        self.oneapi.notify(f"testing channel {row['id']} …")
        try:
            result = await self.oneapi.client.call("GET", f"/api/channel/test/{row['id']}", envelope=False)
            self.oneapi.notify(f"channel {row['id']}: ok in {result['time']} s — {str(result['message'])[:80]}")
        except AdminError as exc:
            self.oneapi.report(exc)
        self.reload()

    def buttons(self) -> ComposeResult:
        bar = ProgressBar(total=1, show_eta=False, id="test-progress")
        bar.display = False
        yield bar

    @work(group="act")
    async def action_test_all(self) -> None:
        """Start the batch test and show its progress until it ends."""
        client = self.oneapi.client
        try:
            await client.get("/api/channel/test", scope="all")
        except AdminError as exc:
            self.oneapi.report(exc)
            return
        bar = self.query_one("#test-progress", ProgressBar)
        bar.display = True
        try:
            while True:
                progress = await client.get("/admin/channel_tests")
                bar.update(total=max(1, progress["total"]), progress=progress["done"])
                if not progress["running"]:
                    break
                await asyncio.sleep(0.5)
        except AdminError as exc:
            self.oneapi.report(exc)
        finally:
            bar.display = False
        self.oneapi.notify("tested every channel")
        self.reload()

    def action_balance(self) -> None:
        row = self.selected()
        if row is not None:
            self.act(f"balance of channel {row['id']} updated",
                     self.oneapi.client.call("GET", f"/api/channel/update_balance/{row['id']}", envelope=False))
