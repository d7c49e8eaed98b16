"""Vouchers: generate N with progress, export to a .txt or .csv file, list / search, disable / delete."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import ProgressBar

from oneapi import exports, humanize
from oneapi.client import AdminError
from oneapi.tui.screens.base import FieldError, FormScreen, TablePane, clip

STATUS = {1: "unused", 2: "disabled", 3: "used"}
BATCH = 100


def export_path(text: str) -> Path | None:
    """The export file a form names (None: no export); FieldError when it cannot be written."""
    if not text.strip():
        return None
    path = Path(text.strip()).expanduser()
    try:
        humanize.check_export_path(path)
    except ValueError as exc:
        raise FieldError("out", str(exc)) from None
    if path.is_dir():
        raise FieldError("out", f"{path} is a directory")
    if not os.access(path.parent if str(path.parent) else Path("."), os.W_OK):
        raise FieldError("out", f"cannot write to the directory {path.parent}")
    return path


class VouchersPane(TablePane):
    COLUMNS = (("id", "ID"), ("name", "Name"), ("status", "Status"), ("quota", "Quota"), ("created", "Created"),
               ("redeemed", "Redeemed"), ("key", "Key"))
    WIDE_ONLY = frozenset({"created", "redeemed"})
    RESOURCE = "redemption"
    BINDINGS: ClassVar = [Binding("g", "generate", "Generate"), Binding("x", "export", "Export"),
                          Binding("space", "disable", "Disable"), Binding("d", "delete", "Delete")]

    def hint(self) -> str:
        return "g generate · x export the listed vouchers (.txt or .csv, readable only by you) · space disable · " \
               "d delete"

    def buttons(self) -> ComposeResult:
        bar = ProgressBar(total=1, show_eta=False, id="progress")
        bar.display = False
        yield bar

    def cells(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": clip(row.get("name", ""), 20), "status": STATUS.get(row.get("status", 0), "?"),
                "quota": self.oneapi.money(row.get("quota", 0)), "created": humanize.when(row.get("created_time")),
                "redeemed": humanize.when(row.get("redeemed_time")), "key": row.get("key", "")}

    @work(group="act")
    async def action_generate(self) -> None:
        async def check(values: dict[str, str]) -> tuple[int, int, str, Path | None]:
            try:
                count = int(values["count"])
            except ValueError:
                raise FieldError("count", f"{values['count']!r} is not a whole number") from None
            if not 1 <= count <= 10_000:
                raise FieldError("count", "between 1 and 10000")
            try:
                quota = humanize.parse_quota(values["quota"], self.oneapi.quota_per_unit)
            except ValueError as exc:
                raise FieldError("quota", str(exc)) from None
            return count, quota, values["name"], export_path(values["out"])

        checked = await self.app.push_screen_wait(FormScreen("Generate vouchers", [
            ("count", "How many", "10"), ("quota", "Quota each: units or $dollars", "$1"),
            ("name", "Name of the batch (at most 20 characters)", "batch"),
            ("out", "Export to file (.txt: keys; .csv: key,name,quota; empty: none)", "")], submit=check))
        if checked is None:
            return
        count, quota, name, out = checked
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=count, progress=0)
        bar.display = True
        made: list[dict[str, Any]] = []
        try:
            while len(made) < count:
                size = min(BATCH, count - len(made))
                keys = await self.oneapi.client.create("redemption", {"name": name, "quota": quota, "count": size})
                made += [{"key": k, "name": name, "quota": quota} for k in keys]
                bar.update(progress=len(made))
        except AdminError as exc:
            self.oneapi.report(exc)
        finally:
            bar.display = False
        if made and out is not None:
            self._write(out, made)
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
        unused = [r for r in self.rows if r.get("status") == 1] or self.rows

        async def export(values: dict[str, str]) -> str:
            path = export_path(values["out"])
            if path is None:
                raise FieldError("out", "name the file")
            try:
                exports.save_vouchers(path, unused)
            except OSError as exc:
                raise FieldError("out", f"cannot write {path}: {exc.strerror or exc}") from None
            return f"wrote {len(unused)} vouchers to {path}"

        done = await self.app.push_screen_wait(FormScreen("Export the listed vouchers", [
            ("out", "File (.txt: keys; .csv: key,name,quota)", "vouchers.csv")], submit=export))
        if done is not None:
            self.oneapi.notify(done)

    def action_disable(self) -> None:
        row = self.selected()
        if row is not None:
            self.act(f"voucher {row['id']} disabled",
                     self.oneapi.client.set_status("redemption", row["id"], 2))

    def action_delete(self) -> None:
        row = self.selected()
        if row is not None:
            self.act(f"deleted voucher {row['id']}", self.oneapi.client.remove("redemption", row["id"]))
