"""Vouchers: generate N with progress, export to a .txt or .csv file, list / search, disable / delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import ProgressBar

from oneapi import exports, humanize
from oneapi.client import AdminError
from oneapi.tui.screens.base import FormScreen, TablePane

STATUS = {1: "unused", 2: "disabled", 3: "used"}
BATCH = 100


class VouchersPane(TablePane):
    COLUMNS = (("id", "ID"), ("name", "Name"), ("status", "Status"), ("quota", "Quota"), ("created", "Created"),
               ("redeemed", "Redeemed"), ("key", "Key"))
    RESOURCE = "redemption"
    BINDINGS: ClassVar = [Binding("g", "generate", "Generate"), Binding("x", "export", "Export"),
                          Binding("space", "disable", "Disable"), Binding("d", "delete", "Delete")]

    def hint(self) -> str:
        return "g generate · x export the listed vouchers · space disable · d delete"

    def buttons(self) -> ComposeResult:
        bar = ProgressBar(total=1, show_eta=False, id="progress")
        bar.display = False
        yield bar

    def cells(self, row: dict[str, Any]) -> list[Any]:
        return [row["id"], row.get("name", ""), STATUS.get(row.get("status", 0), "?"),
                self.oneapi.money(row.get("quota", 0)), humanize.when(row.get("created_time")),
                humanize.when(row.get("redeemed_time")), row.get("key", "")]

    @work(group="act")
    async def action_generate(self) -> None:
        values = await self.app.push_screen_wait(FormScreen("Generate vouchers", [
            ("count", "How many", "10"), ("quota", "Quota each: units or $dollars", "$1"),
            ("name", "Name of the batch (at most 20 characters)", "batch"),
            ("out", "Export to file (.txt or .csv; empty: none)", "")]))
        if values is None:
            return
        try:
            count = int(values["count"])
            if not 1 <= count <= 10_000:
                raise ValueError("count must be between 1 and 10000")
            quota = humanize.parse_quota(values["quota"], self.oneapi.quota_per_unit)
        except ValueError as exc:
            self.oneapi.report(exc)
            return
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=count, progress=0)
        bar.display = True
        made: list[dict[str, Any]] = []
        try:
            while len(made) < count:
                size = min(BATCH, count - len(made))
                keys = await self.oneapi.client.post("/api/redemption/",
                                                     {"name": values["name"], "quota": quota, "count": size})
                made += [{"key": k, "name": values["name"], "quota": quota} for k in keys]
                bar.update(progress=len(made))
        except AdminError as exc:
            self.oneapi.report(exc)
        finally:
            bar.display = False
        if made and values["out"].strip():
            self._write(Path(values["out"].strip()).expanduser(), made)
        self.oneapi.notify(f"generated {len(made)} vouchers")
        self.reload()

    def _write(self, path: Path, vouchers: list[dict[str, Any]]) -> None:
        try:
            exports.save_vouchers(path, vouchers)
        except (OSError, ValueError) as exc:
            self.oneapi.report(exc)
            return
        self.oneapi.notify(f"wrote {len(vouchers)} vouchers to {path}")

    @work(group="act")
    async def action_export(self) -> None:
        values = await self.app.push_screen_wait(FormScreen("Export the listed vouchers", [
            ("out", "File (.txt: keys; .csv: key,name,quota)", "vouchers.csv")]))
        if values is not None and values["out"].strip():
            unused = [r for r in self.rows if r.get("status") == 1] or self.rows
            self._write(Path(values["out"].strip()).expanduser(), unused)

    def action_disable(self) -> None:
        row = self.selected()
        if row is not None:
            self.act(f"voucher {row['id']} disabled",
                     self.oneapi.client.put("/api/redemption/", {"id": row["id"], "status": 2}, status_only=1))

    def action_delete(self) -> None:
        row = self.selected()
        if row is not None:
            self.act(f"deleted voucher {row['id']}", self.oneapi.client.delete(f"/api/redemption/{row['id']}"))
