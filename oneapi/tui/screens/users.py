"""Users: list / search, create, enable / disable, promote / demote, top up, edit group and quota."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.binding import Binding

from oneapi import humanize
from oneapi.client import AdminError
from oneapi.tui.screens.base import FormScreen, TablePane

ROLES = {1: "common", 10: "admin", 100: "root"}
STATUS = {1: "enabled", 2: "disabled", 3: "deleted"}


class UsersPane(TablePane):
    COLUMNS = (("id", "ID"), ("username", "Username"), ("display_name", "Name"), ("role", "Role"),
               ("status", "Status"), ("group", "Group"), ("quota", "Quota"), ("used", "Used"),
               ("requests", "Requests"))
    RESOURCE = "user"
    BINDINGS: ClassVar = [Binding("a", "add", "Create"), Binding("space", "switch", "Enable/disable"),
                          Binding("p", "promote", "Promote/demote"), Binding("u", "topup", "Top up"),
                          Binding("e", "edit", "Edit group/quota")]

    def hint(self) -> str:
        return "a create · space enable/disable · p promote/demote · u top up · e edit group and quota"

    def cells(self, row: dict[str, Any]) -> list[Any]:
        return [row["id"], row.get("username", ""), row.get("display_name", ""), ROLES.get(row.get("role", 1), "?"),
                STATUS.get(row.get("status", 1), "?"), row.get("group", ""), self.oneapi.money(row.get("quota", 0)),
                self.oneapi.money(row.get("used_quota", 0)), row.get("request_count", 0)]

    @work(group="act")
    async def action_add(self) -> None:
        values = await self.app.push_screen_wait(FormScreen("Create user", [
            ("username", "Username (at most 12 characters)", ""), ("password", "Password (8 to 20 characters)", ""),
            ("display_name", "Display name", "")]))
        if values is not None:
            await self._call(f"created user {values['username']}", self.oneapi.client.post("/api/user/", values))

    async def _call(self, done: str, call: Any) -> None:
        try:
            await call
        except AdminError as exc:
            self.oneapi.report(exc)
            return
        self.oneapi.notify(done)
        self.reload()

    def action_switch(self) -> None:
        row = self.selected()
        if row is not None:
            action = "disable" if row.get("status") == 1 else "enable"
            self.act(f"user {row['username']}: {action}d",
                     self.oneapi.client.post("/api/user/manage", {"username": row["username"], "action": action}))

    def action_promote(self) -> None:
        row = self.selected()
        if row is not None:
            action = "demote" if row.get("role", 1) >= 10 else "promote"
            self.act(f"user {row['username']}: {action}d",
                     self.oneapi.client.post("/api/user/manage", {"username": row["username"], "action": action}))

    @work(group="act")
    async def action_topup(self) -> None:
        row = self.selected()
        if row is None:
            return
        values = await self.app.push_screen_wait(FormScreen(f"Top up {row['username']}", [
            ("quota", "Add: units or $dollars", "$1"), ("remark", "Remark (shown in the log)", "")]))
        if values is None:
            return
        try:
            quota = humanize.parse_quota(values["quota"], self.oneapi.quota_per_unit)
        except ValueError as exc:
            self.oneapi.report(exc)
            return
        await self._call(f"added {self.oneapi.money(quota)} to {row['username']}",
                         self.oneapi.client.post("/api/topup", {"user_id": row["id"], "quota": quota,
                                                                 "remark": values["remark"]}))

    @work(group="act")
    async def action_edit(self) -> None:
        row = self.selected()
        if row is None:
            return
        values = await self.app.push_screen_wait(FormScreen(f"Edit {row['username']}", [
            ("group", "Group", str(row.get("group", "default"))),
            ("quota", "Balance: units or $dollars", str(row.get("quota", 0))),
            ("display_name", "Display name", str(row.get("display_name", "")))]))
        if values is None:
            return
        try:
            quota = humanize.parse_quota(values["quota"], self.oneapi.quota_per_unit)
        except ValueError as exc:
            self.oneapi.report(exc)
            return
        await self._call(f"updated {row['username']}", self.oneapi.client.put("/api/user/", {
            "id": row["id"], "group": values["group"], "quota": quota, "display_name": values["display_name"]}))
