"""Options: site texts, quotas for new users and invitations, ratios (a JSON editor that validates before
saving), registration and login toggles. Secrets are write-only: set them by name."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static, TextArea

from oneapi.client import AdminError
from oneapi.tui.screens.base import Field, FieldError, FormScreen, TablePane, clip, plain, titled

FIRST = ("SystemName", "Logo", "Footer", "Notice", "About", "HomePageContent", "TopUpLink", "ChatLink",
         "QuotaForNewUser", "QuotaForInviter", "QuotaForInvitee", "PreConsumedQuota", "PreConsumeMaxOutput",
         "RetryTimes",
         "ModelRatio", "CompletionRatio", "GroupRatio", "RegisterEnabled", "PasswordRegisterEnabled",
         "PasswordLoginEnabled", "DisplayInCurrencyEnabled", "LogConsumeEnabled",
         "AutomaticDisableChannelEnabled", "AutomaticEnableChannelEnabled")
JSON_KEYS = ("ModelRatio", "CompletionRatio", "GroupRatio")
LONG_TEXT = ("Footer", "Notice", "About", "HomePageContent")


def check_ratio_json(key: str, text: str) -> str | None:
    """The problem with a ratio table, or None (the server checks again; this saves a round trip)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(data, dict):
        return "must be a JSON object of name → number"
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            return f"{key}[{name!r}] must be a number >= 0"
    return None


class TextEditor(ModalScreen[str | None]):
    """A long option (ratio tables as pretty JSON, site texts) in a text area; a ratio table is checked before it
    is sent, and a refusal (a local check or the server's) is shown under it while the text stays."""

    BINDINGS: ClassVar = [("escape", "cancel", "Cancel"), ("ctrl+s", "save", "Save")]
    DEFAULT_CSS = """
    TextEditor { align: center middle; }
    TextEditor #editor { height: 16; }
    TextEditor #problem { color: $error; height: auto; }
    """

    def __init__(self, key: str, value: str, submit: Callable[[str], Awaitable[Any]] | None = None) -> None:
        super().__init__()
        self._key = key
        self._value = value
        self._submit = submit

    def compose(self) -> ComposeResult:
        with Vertical(classes="form"):
            yield Label(titled(self._key, "ctrl+s saves · escape cancels"))
            if self._key in JSON_KEYS:
                try:
                    pretty = json.dumps(json.loads(self._value), indent=2, ensure_ascii=False)
                except ValueError:
                    pretty = self._value
            else:
                pretty = self._value
            yield TextArea(pretty, id="editor")
            yield Static("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#editor", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        text = self.query_one("#editor", TextArea).text
        if self._key in JSON_KEYS and (problem := check_ratio_json(self._key, text)):
            self.query_one("#problem", Static).update(plain(problem))
            return
        self._save(text)

    @work(exclusive=True, group="form")
    async def _save(self, text: str) -> None:
        if self._submit is not None:
            try:
                await self._submit(text)
            except AdminError as exc:
                self.query_one("#problem", Static).update(plain(exc))
                return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class OptionsPane(TablePane):
    COLUMNS = (("key", "Option"), ("value", "Value"))
    BINDINGS: ClassVar = [Binding("enter", "edit", "Edit/toggle"), Binding("s", "secret", "Set a secret")]

    def hint(self) -> str:
        return "enter edits (switches true/false options) · s sets a secret (SMTPToken, GitHubClientSecret, ...)"

    async def fetch(self, search: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = await self.oneapi.client.options()
        order = {k: i for i, k in enumerate(FIRST)}
        items.sort(key=lambda i: (order.get(i["key"], len(order)), i["key"]))
        return [i for i in items if search.lower() in i["key"].lower()] if search else items

    def cells(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"key": row["key"], "value": clip(row.get("value", ""), 50 if self.narrow else 80)}

    def on_data_table_row_selected(self) -> None:
        self.action_edit()

    async def _put(self, key: str, value: str) -> None:
        await self.oneapi.client.set_option(key, value)

    @work(group="act")
    async def action_edit(self) -> None:
        row = self.selected()
        if row is None:
            return
        key, value = row["key"], str(row.get("value", ""))
        if value in ("true", "false"):  # every switch: *Enabled and PreConsumeMaxOutput
            try:
                await self._put(key, "false" if value == "true" else "true")
            except AdminError as exc:
                self.oneapi.report(exc)
                return
            saved: Any = True
        elif key in JSON_KEYS or key in LONG_TEXT:
            saved = await self.app.push_screen_wait(TextEditor(key, value, lambda text: self._put(key, text)))
        else:
            async def submit(values: dict[str, str]) -> bool:
                await self._put(key, values["value"])
                return True

            saved = await self.app.push_screen_wait(FormScreen(f"Set {key}", [("value", key, value)], submit=submit))
        if saved is not None:
            self.oneapi.notify(f"{key} saved")
            self.reload()

    @work(group="act")
    async def action_secret(self) -> None:
        async def submit(values: dict[str, str]) -> str:
            if not values["key"].endswith(("Token", "Secret")):
                raise FieldError("key", "secret options end in Token or Secret (SMTPToken, GitHubClientSecret, ...)")
            await self._put(values["key"], values["value"])
            return str(values["key"])

        saved = await self.app.push_screen_wait(FormScreen("Set a secret option (it is never shown again)", [
            Field("key", "Option name (ends in Token or Secret)"), Field("value", "Value", password=True)],
            submit=submit))
        if saved is not None:
            self.oneapi.notify(f"{saved} saved")
