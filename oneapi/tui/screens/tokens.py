"""Tokens: list and search, create (name, quota, unlimited, expiry, model list, subnet, rate limits) with the key
shown once, edit, enable / disable, delete."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.binding import Binding

from oneapi import humanize
from oneapi.tui.screens.base import FieldError, FormScreen, MessageScreen, TablePane, clip

STATUS = {1: "enabled", 2: "disabled", 3: "expired", 4: "exhausted"}
LIMIT_MAX = 10**9  # the server's bound on rpm_limit and tpm_limit


def rate_limit(values: dict[str, str], name: str) -> int:
    """A rate-limit field: a whole number from 0 (no limit) to LIMIT_MAX; FieldError otherwise."""
    text = values.get(name, "").strip().replace(",", "").replace("_", "") or "0"
    if not (text.isascii() and text.isdigit()) or int(text) > LIMIT_MAX:
        raise FieldError(name, f"a whole number from 0 (no limit) to {LIMIT_MAX:,}")
    return int(text)


def rate_limits(row: dict[str, Any]) -> str:
    parts = [f"{row[name]} {unit}" for name, unit in (("rpm_limit", "rpm"), ("tpm_limit", "tpm")) if row.get(name)]
    return ", ".join(parts)


def token_fields(row: dict[str, Any] | None = None) -> list[tuple[str, str, str]]:
    """The create and edit form: empty, or showing ``row``'s values."""
    row = row or {}
    unlimited = bool(row.get("unlimited_quota"))
    return [("name", "Name (at most 30 characters)", str(row.get("name", ""))),
            ("quota", "Quota: units (500000) or dollars ($1)",
             "" if unlimited or not row else str(row.get("remain_quota", 0))),
            ("unlimited", "Unlimited? (yes/no)", "yes" if unlimited else "no"),
            ("expires", "Expires: never, 2026-12-31 or 30d", humanize.when(row.get("expired_time", -1)) or "never"),
            ("models", "Models it may use (comma-separated; empty: all)", str(row.get("models") or "")),
            ("subnet", "Subnets it may be used from (CIDRs; empty: any)", str(row.get("subnet") or "")),
            ("rpm", "Requests per minute (0: no limit)", str(row.get("rpm_limit") or 0)),
            ("tpm", "Tokens per minute, prompt + completion (0: no limit)", str(row.get("tpm_limit") or 0))]


def token_body(values: dict[str, str], quota_per_unit: float) -> dict[str, Any]:
    """Form strings → the API's token fields; FieldError names the field that cannot be used."""
    unlimited = values["unlimited"].strip().lower() in ("y", "yes", "true", "1")
    quota = values["quota"].strip()
    if not unlimited and not quota:
        raise FieldError("quota", "give a quota, or answer yes to unlimited")
    try:
        remain = humanize.parse_quota(quota or "0", quota_per_unit)
    except ValueError as exc:
        raise FieldError("quota", str(exc)) from None
    try:
        expiry = humanize.parse_future_expiry(values["expires"])
    except ValueError as exc:
        raise FieldError("expires", str(exc)) from None
    return {"name": values["name"].strip(), "unlimited_quota": unlimited, "remain_quota": remain,
            "expired_time": expiry, "models": values["models"].strip(), "subnet": values["subnet"].strip(),
            "rpm_limit": rate_limit(values, "rpm"), "tpm_limit": rate_limit(values, "tpm")}


class TokensPane(TablePane):
    COLUMNS = (("id", "ID"), ("name", "Name"), ("status", "Status"), ("remain", "Remaining"), ("used", "Used"),
               ("expires", "Expires"), ("limits", "Rate limits"), ("models", "Models"), ("subnet", "Subnet"))
    WIDE_ONLY = frozenset({"subnet", "limits"})
    RESOURCE = "token"
    BINDINGS: ClassVar = [Binding("a", "add", "Create"), Binding("e", "edit", "Edit"),
                          Binding("space", "switch", "On/off"), Binding("d", "delete", "Delete")]

    def hint(self) -> str:
        return ("a create · e edit · space enable/disable · d delete · tokens of the root user (the admin socket's "
                "identity)")

    def cells(self, row: dict[str, Any]) -> dict[str, Any]:
        money = self.oneapi.money
        return {"id": row["id"], "name": clip(row.get("name", ""), 18 if self.narrow else 24),
                "status": STATUS.get(row.get("status", 0), "?"),
                "remain": "unlimited" if row.get("unlimited_quota") else money(row.get("remain_quota", 0)),
                "used": money(row.get("used_quota", 0)),
                "expires": humanize.when(row.get("expired_time"))[:10 if self.narrow else None],
                "limits": rate_limits(row),
                "models": clip(row.get("models") or "", 16 if self.narrow else 40),
                "subnet": clip(row.get("subnet") or "", 30)}

    @work(group="act")
    async def action_add(self) -> None:
        async def create(values: dict[str, str]) -> dict[str, Any]:
            token: dict[str, Any] = await self.oneapi.client.create(
                "token", token_body(values, self.oneapi.quota_per_unit))
            return token

        token = await self.app.push_screen_wait(FormScreen("Create token", token_fields(), submit=create))
        if token is None:
            return
        self.reload()
        await self.app.push_screen_wait(MessageScreen(
            f"Token {token['name']} created — its key", "sk-" + token["key"], copy=True,
            note="Sent to the terminal's clipboard where the terminal allows it; 'oneapi token list --json' "
                 "shows it again."))

    @work(group="act")
    async def action_edit(self) -> None:
        row = self.selected()
        if row is None:
            return

        async def edit(values: dict[str, str]) -> dict[str, Any]:
            token: dict[str, Any] = await self.oneapi.client.update(
                "token", {**row, **token_body(values, self.oneapi.quota_per_unit)})
            return token

        saved = await self.app.push_screen_wait(FormScreen(f"Edit token {row.get('name', '')}", token_fields(row),
                                                           submit=edit))
        if saved is not None:
            self.oneapi.notify(f"token {saved['id']} saved")
            self.reload()

    def action_switch(self) -> None:
        row = self.selected()
        if row is not None:
            status = 2 if row.get("status") == 1 else 1
            self.act(f"token {row['id']} {STATUS[status]}",
                     self.oneapi.client.set_status("token", row["id"], status))

    def action_delete(self) -> None:
        row = self.selected()
        if row is not None:
            self.act(f"deleted token {row['id']}", self.oneapi.client.remove("token", row["id"]))
