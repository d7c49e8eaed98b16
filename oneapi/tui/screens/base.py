"""Shared pieces of the TUI panes: a table pane that loads rows in a worker, and a modal form."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label

from oneapi.client import AdminError

if TYPE_CHECKING:
    from oneapi.tui.app import OneAPIApp


class TablePane(Widget):
    """A searchable table whose rows come from the server (``fetch``) in a worker, never blocking the UI."""

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    RESOURCE: ClassVar[str] = ""  # /api/<resource>/: listed page by page, searched with ?keyword=
    DEFAULT_CSS = "TablePane { height: 1fr; }"

    class Loaded(Message):
        def __init__(self, rows: list[dict[str, Any]]) -> None:
            super().__init__()
            self.rows = rows

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    @property
    def oneapi(self) -> OneAPIApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="toolbar"):
            yield Input(placeholder="search (enter)", id="search")
            yield from self.buttons()
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Label(self.hint(), classes="hint")

    def buttons(self) -> ComposeResult:
        return iter(())

    def hint(self) -> str:
        return ""

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, title in self.COLUMNS:
            table.add_column(title, key=key)
        self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self.reload()

    async def fetch(self, search: str) -> list[dict[str, Any]]:
        """Every row of the resource (10 per page, at most 1000), or the search's matches."""
        client = self.oneapi.client
        if search:
            found: list[dict[str, Any]] = await client.get(f"/api/{self.RESOURCE}/search", keyword=search)
            return found
        rows: list[dict[str, Any]] = []
        for page in range(100):
            batch = await client.get(f"/api/{self.RESOURCE}/", p=page)
            rows += batch
            if len(batch) < 10:
                break
        return rows

    def cells(self, row: dict[str, Any]) -> list[Any]:
        return [str(row.get(key, "")) for key, _ in self.COLUMNS]

    @work(exclusive=True, group="load")
    async def reload(self) -> None:
        search = self.query_one("#search", Input).value.strip()
        try:
            rows = await self.fetch(search)
        except AdminError as exc:
            self.oneapi.report(exc)
            return
        self.post_message(self.Loaded(rows))

    def on_table_pane_loaded(self, message: TablePane.Loaded) -> None:
        self.rows = message.rows
        table = self.query_one(DataTable)
        table.clear()
        for row in message.rows:
            table.add_row(*self.cells(row), key=str(row.get("id", id(row))))

    def selected(self) -> dict[str, Any] | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            self.oneapi.notify("select a row first", severity="warning")
            return None
        return self.rows[table.cursor_row]

    @work(group="act")
    async def act(self, description: str, call: Any) -> None:
        """Run one server call, tell the operator how it went, and reload."""
        try:
            result = await call
        except AdminError as exc:
            self.oneapi.report(exc)
            return
        self.oneapi.notify(description if result is None or not isinstance(result, str) else result)
        self.reload()


class FormScreen(ModalScreen[dict[str, Any] | None]):
    """A modal form of labelled inputs; dismisses with the values (strings) or None. ctrl+s saves."""

    BINDINGS: ClassVar = [("escape", "cancel", "Cancel"), ("ctrl+s", "save", "Save")]

    def __init__(self, title: str, fields: list[tuple[str, str, str]], note: str = "") -> None:
        """``fields``: (name, label, initial value)."""
        super().__init__()
        self._title = title
        self._fields = fields
        self._note = note

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form"):
            yield Label(f"[b]{self._title}[/b]")
            if self._note:
                yield Label(self._note, classes="hint")
            for name, label, value in self._fields:
                yield Label(label)
                yield Input(value=value, id=f"field-{name}")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.dismiss(self.values())
        else:
            self.dismiss(None)

    def on_input_submitted(self) -> None:
        self.dismiss(self.values())

    def values(self) -> dict[str, Any]:
        return {name: self.query_one(f"#field-{name}", Input).value for name, _, _ in self._fields}

    def action_save(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)


class MessageScreen(ModalScreen[None]):
    """Shows text once (a new token key) until dismissed."""

    BINDINGS: ClassVar = [("escape", "close", "Close"), ("enter", "close", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self._title = title
        self._text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="form"):
            yield Label(f"[b]{self._title}[/b]")
            yield Input(value=self._text, id="text")
            yield Label("Copy it now: it will not be shown in full again (also sent to the terminal clipboard).",
                        classes="hint")
            yield Button("Close", id="close")

    def on_mount(self) -> None:
        field = self.query_one("#text", Input)
        field.focus()
        self.app.copy_to_clipboard(self._text)  # OSC 52: terminals that allow it get the key on the clipboard

    def on_button_pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
