"""Users: list / search, create, enable / disable, promote / demote, top up, edit group and quota."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.binding import Binding

from oneapi import humanize
from oneapi.tui.screens.base import Field, FieldError, FormScreen, TablePane, clip

ROLES = {1: "common", 10: "admin", 100: "root"}
STATUS = {1: "enabled", 2: "disabled", 3: "deleted"}


class UsersPane(TablePane):
    COLUMNS = (("id", "ID"), ("username", "Username"), ("display_name", "Name"), ("role", "Role"),
               ("status", "Status"), ("group", "Group"), ("quota", "Quota"), ("used", "Used"),
               ("requests", "Requests"))
    WIDE_ONLY = frozenset({"display_name", "group"})
    RESOURCE = "user"
    BINDINGS: ClassVar = [Binding("a", "add", "Create"), Binding("space", "switch", "On/off"),
                          Binding("p", "promote", "Promote/demote"), Binding("u", "topup", "Top up"),
                          Binding("e", "edit", "Edit")]

    def hint(self) -> str:
        return "a create · space enable/disable · p promote/demote · u top up · e edit group and quota"

    def cells(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "username": row.get("username", ""),
                "display_name": clip(row.get("display_name", ""), 20), "role": ROLES.get(row.get("role", 1), "?"),
                "status": STATUS.get(row.get("status", 1), "?"), "group": row.get("group", ""),
                "quota": self.oneapi.money(row.get("quota", 0)), "used": self.oneapi.money(row.get("used_quota", 0)),
                "requests": row.get("request_count", 0)}

    def _quota(self, text: str) -> int:
        try:
            return humanize.parse_quota(text, self.oneapi.quota_per_unit)
        except ValueError as exc:
            raise FieldError("quota", str(exc)) from None

    async def _done(self, message: str | None) -> None:
        if message is not None:
            self.oneapi.notify(message)
            self.reload()

    @work(group="act")
    async def action_add(self) -> None:
        async def create(values: dict[str, str]) -> str:
            if not values["username"].strip():
                raise FieldError("username", "give a username")
            if not 8 <= len(values["password"]) <= 20:
                raise FieldError("password", "8 to 20 characters")
            await self.oneapi.client.create("user", values)
            return f"created user {values['username']}"

        await self._done(await self.app.push_screen_wait(FormScreen("Create user", [
            Field("username", "Username (at most 12 characters)"),
            Field("password", "Password (8 to 20 characters)", password=True),
            Field("display_name", "Display name")], submit=create)))

    def action_switch(self) -> None:
        row = self.selected()
        if row is not None:
            action = "disable" if row.get("status") == 1 else "enable"
            self.act(f"user {row['username']}: {action}d",
                     self.oneapi.client.manage_user(row["username"], action))

    def action_promote(self) -> None:
        row = self.selected()
        if row is not None:
            action = "demote" if row.get("role", 1) >= 10 else "promote"
            self.act(f"user {row['username']}: {action}d",
                     self.oneapi.client.manage_user(row["username"], action))

    @work(group="act")
    async def action_topup(self) -> None:
        row = self.selected()
        if row is None:
            return

        async def topup(values: dict[str, str]) -> str:
            quota = self._quota(values["quota"])
            await self.oneapi.client.top_up(row["id"], quota, values["remark"])
            return f"added {self.oneapi.money(quota)} to {row['username']}"

        await self._done(await self.app.push_screen_wait(FormScreen(f"Top up {row['username']}", [
            ("quota", "Add: units or $dollars", "$1"), ("remark", "Remark (shown in the log)", "")], submit=topup)))

    @work(group="act")
    async def action_edit(self) -> None:
        row = self.selected()
        if row is None:
            return

        async def edit(values: dict[str, str]) -> str:
            quota = self._quota(values["quota"])
            await self.oneapi.client.update("user", {"id": row["id"], "group": values["group"], "quota": quota,
                                                          "display_name": values["display_name"]})
            return f"updated {row['username']}"

        await self._done(await self.app.push_screen_wait(FormScreen(f"Edit {row['username']}", [
            ("group", "Group", str(row.get("group", "default"))),
            ("quota", "Balance: units or $dollars", str(row.get("quota", 0))),
            ("display_name", "Display name", str(row.get("display_name", "")))], submit=edit)))
