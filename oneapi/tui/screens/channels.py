"""Channels: table with status, type, priority, weight, balance, response time, used quota; add / edit with a
type picker that shows each type's key format and default base URL; enable / disable, delete, test, balance."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Input, Label, ProgressBar, Select, TextArea

from oneapi.channel_types import ChannelType
from oneapi.client import AdminError
from oneapi.tui.screens.base import FieldError, Form, Submit, TablePane, clip, plain

STATUS = {0: "unknown", 1: "enabled", 2: "disabled", 3: "auto-disabled"}
FIELDS = (("name", "Name"), ("base_url", "Base URL (empty: the type's default)"),
          ("models", "Models (comma-separated)"), ("group", "Groups (comma-separated)"),
          ("priority", "Priority (higher first)"), ("weight", "Weight (share within the priority; 0 = equal)"),
          ("model_mapping", "Model mapping (JSON)"),
          ("config", "Config (JSON, e.g. {\"api_version\": \"2024-06-01\"})"), ("system_prompt", "System prompt"))
JSON_FIELDS = ("model_mapping", "config")


def channel_body(values: dict[str, Any], editing: dict[str, Any] | None) -> dict[str, Any]:
    """Form values → the API's channel fields; FieldError names the field that cannot be used."""
    body: dict[str, Any] = {"type": values["type"]}
    for name, _ in FIELDS:
        value = str(values[name])
        if name in ("priority", "weight"):
            try:
                body[name] = int(value.strip() or 0)
            except ValueError:
                raise FieldError(name, f"{value!r} is not a whole number") from None
        elif name in JSON_FIELDS and value.strip():
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                raise FieldError(name, f"not valid JSON: {exc}") from None
            if not isinstance(parsed, dict):
                raise FieldError(name, "must be a JSON object")
            body[name] = value
        else:
            body[name] = value
    key = "\n".join(line.strip() for line in str(values["key"]).splitlines() if line.strip())
    if key:
        body["key"] = key
    elif not editing:
        raise FieldError("key", "give the upstream key (one per line: one channel each)")
    if editing:
        body["id"] = editing["id"]
    return body


class ChannelForm(Form):
    """Add or edit a channel: a type picker showing each type's key format and default base URL, the key in a
    box of several lines (one channel per line), the other fields one line each."""

    def __init__(self, types: list[dict[str, Any]], channel: dict[str, Any] | None = None,
                 submit: Submit | None = None) -> None:
        super().__init__("Edit channel" if channel else "Add channel", submit)
        self._types = {t["id"]: t for t in types}
        self._channel = channel or {}
        self._filled = ""  # the models the type picker last filled in

    def compose_fields(self) -> Iterator[Widget]:
        current = self._channel.get("type", ChannelType.OPENAI)
        yield Label("Type")
        yield Select([(f"{t['name']} ({t['id']})", t["id"]) for t in self._types.values()], value=current,
                     allow_blank=False, id="type")
        yield Label(plain(self._type_hint(current)), id="type-hint", classes="hint")
        yield Label("Key: one per line, each line makes a channel" + (" (empty keeps the current key)"
                                                                       if self._channel else ""))
        yield TextArea("", id="field-key", soft_wrap=True, show_line_numbers=False)
        yield self.error_line("key")
        for name, label in FIELDS:
            yield Label(label)
            value = self._channel.get(name)
            yield Input(value=str(value) if value is not None else ("default" if name == "group" else ""),
                        id=f"field-{name}")
            yield self.error_line(name)

    def _type_hint(self, type_id: Any) -> str:
        t = self._types.get(type_id)
        if t is None:
            return ""
        base = t.get("base_url_hint") or t["default_base_url"] or "(required)"
        return f"key format: {t['key_hint'] or '-'}\ndefault base URL: {base}"

    def on_select_changed(self, event: Select.Changed) -> None:
        self.query_one("#type-hint", Label).update(plain(self._type_hint(event.value)))
        t = self._types.get(event.value)
        models = self.query_one("#field-models", Input)
        # The models field follows the type while it holds what the picker put there (or nothing): another
        # type's defaults would be wrong for this one (Coze and Proxy have none). What was typed is kept.
        if t is not None and models.value in ("", self._filled):
            models.value = self._filled = ",".join(t["models"][:8])

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {name: self.query_one(f"#field-{name}", Input).value for name, _ in FIELDS}
        values["type"] = self.query_one("#type", Select).value
        values["key"] = self.query_one("#field-key", TextArea).text
        return values


class ChannelsPane(TablePane):
    COLUMNS = (("id", "ID"), ("name", "Name"), ("type", "Type"), ("status", "Status"), ("priority", "Prio"),
               ("weight", "Weight"), ("balance", "Balance"), ("response_time", "ms"), ("used_quota", "Used"),
               ("models", "Models"))
    WIDE_ONLY = frozenset({"weight", "balance", "response_time"})
    RESOURCE = "channel"
    BINDINGS: ClassVar = [Binding("a", "add", "Add"), Binding("e", "edit", "Edit"),
                          Binding("space", "switch", "On/off"), Binding("d", "delete", "Delete"),
                          Binding("t", "test", "Test"), Binding("T", "test_all", "Test all", show=False),
                          Binding("b", "balance", "Balance", show=False)]  # the hint line names every key

    def hint(self) -> str:
        return "a add · e edit · space enable/disable · d delete · t test · T test all · b balance · r refresh"

    async def fetch(self, search: str) -> list[dict[str, Any]]:
        if not self.oneapi.channel_types:
            types = await self.oneapi.client.channel_types()
            self.oneapi.channel_types = {t["id"]: t["name"] for t in types}
        return await super().fetch(search)

    def cells(self, row: dict[str, Any]) -> dict[str, Any]:
        type_id = row.get("type", ChannelType.UNKNOWN)
        models_width = 18 if self.narrow else 40
        return {"id": row["id"], "name": clip(row.get("name", ""), 16 if self.narrow else 24),
                "type": clip(self.oneapi.channel_types.get(type_id, str(type_id)), 12 if self.narrow else 20),
                "status": STATUS.get(row.get("status", 0), "?"), "priority": row.get("priority") or 0,
                "weight": row.get("weight") or 0, "balance": f"{row.get('balance') or 0:.2f}",
                "response_time": row.get("response_time", 0), "used_quota": self.oneapi.money(row.get("used_quota", 0)),
                "models": clip(row.get("models") or "", models_width)}

    @work(group="act")
    async def action_add(self) -> None:
        await self._edit(None)

    @work(group="act")
    async def action_edit(self) -> None:
        row = self.selected()
        if row is not None:
            await self._edit(row)

    async def _edit(self, row: dict[str, Any] | None) -> None:
        client = self.oneapi.client
        try:
            types = await client.channel_types()
        except AdminError as exc:
            self.oneapi.report(exc)
            return

        async def save(values: dict[str, Any]) -> str:
            body = channel_body(values, row)
            if row is None:
                ids = await client.create("channel", body)
                return f"created channel {', '.join(map(str, ids))}"
            await client.update("channel", body)
            return f"updated channel {row['id']}"

        done = await self.app.push_screen_wait(ChannelForm(types, row, save))
        if done is not None:
            self.oneapi.notify(done)
            self.reload()

    def action_switch(self) -> None:
        row = self.selected()
        if row is not None:
            status = 2 if row.get("status") == 1 else 1
            self.act(f"channel {row['id']} {STATUS[status]}",
                     self.oneapi.client.set_status("channel", row["id"], status))

    def action_delete(self) -> None:
        row = self.selected()
        if row is not None:
            self.act(f"deleted channel {row['id']}", self.oneapi.client.remove("channel", row["id"]))

    @work(group="act")
    async def action_test(self) -> None:
        row = self.selected()
        if row is None:
            return
        self.oneapi.notify(f"testing channel {row['id']} …")
        try:
            result = await self.oneapi.client.test_channel(row["id"])
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
            await client.test_all_channels()
        except AdminError as exc:
            self.oneapi.report(exc)
            return
        bar = self.query_one("#test-progress", ProgressBar)
        bar.display = True
        try:
            while True:
                progress = await client.channel_tests()
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
                     self.oneapi.client.update_balance(row["id"]))
