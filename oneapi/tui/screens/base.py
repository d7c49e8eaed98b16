"""Shared pieces of the TUI panes: a table pane that loads rows in a worker and fits its columns to the
terminal, and modal forms that keep what was typed until the server accepts it.

Text that comes from data (names, log lines, the server's messages) is shown as :class:`rich.text.Text`, never as
a string: Textual reads a string as markup, so a name ``[/]`` would raise MarkupError and end the TUI, and
``[invalid_request_error]`` would vanish as an unknown style. :func:`plain` makes such a Text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, Static, TextArea

from oneapi.client import AdminError, Resource

if TYPE_CHECKING:
    from oneapi.tui.app import OneAPIApp

NARROW = 100  # columns: below this, tables leave out their WIDE_ONLY columns


def plain(value: Any) -> Text:
    """``value`` as literal text, never read as markup (a Text is kept as it is)."""
    return value if isinstance(value, Text) else Text(str(value), end="")


def titled(title: str, keys: str) -> Text:
    """A form's first line: its title (which may hold data, such as a username) in bold, then its keys."""
    return Text.assemble((title, "bold"), f"  {keys}")


def clip(text: Any, width: int) -> str:
    """One line of at most ``width`` characters, with an ellipsis when something was cut."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[:max(0, width - 1)] + "…"


class TablePane(Widget):
    """A searchable table whose rows come from the server (``fetch``) in a worker, never blocking the UI. Columns
    named in WIDE_ONLY are left out when the pane is narrower than NARROW, so an 80-column terminal shows whole
    columns rather than cut ones."""

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    WIDE_ONLY: ClassVar[frozenset[str]] = frozenset()
    RESOURCE: ClassVar[Resource] = "channel"  # /api/<resource>/: listed page by page, searched with ?keyword=
    DEFAULT_CSS = """
    TablePane { height: 1fr; }
    TablePane .hint { height: auto; }
    """

    class Loaded(Message):
        def __init__(self, rows: list[dict[str, Any]]) -> None:
            super().__init__()
            self.rows = rows

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self._shown: tuple[str, ...] = ()

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

    @property
    def narrow(self) -> bool:
        return 0 < self.app.size.width < NARROW

    def shown_columns(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.COLUMNS if not (self.narrow and key in self.WIDE_ONLY))

    def on_mount(self) -> None:
        self._layout_columns()
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        if self.shown_columns() != self._shown:
            self._layout_columns()
            self._fill()

    def _layout_columns(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        self._shown = self.shown_columns()
        titles = dict(self.COLUMNS)
        for key in self._shown:
            table.add_column(titles[key], key=key)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self.reload()

    async def fetch(self, search: str) -> list[dict[str, Any]]:
        """Every row of the resource (10 per page, at most 1000), or the search's matches."""
        client = self.oneapi.client
        if search:
            found: list[dict[str, Any]] = await client.search(self.RESOURCE, search)
            return found
        rows: list[dict[str, Any]] = []
        for page in range(100):
            batch = await client.page(self.RESOURCE, page)
            rows += batch
            if len(batch) < 10:
                break
        return rows

    def cells(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row's cell for each column key (the shown ones are picked from these)."""
        return {key: str(row.get(key, "")) for key, _ in self.COLUMNS}

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
        self._fill()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in self.rows:
            cells = self.cells(row)
            table.add_row(*(plain(cells.get(key, "")) for key in self._shown), key=str(row.get("id", id(row))))
        if self.rows and cursor is not None:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))

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


class FieldError(ValueError):
    """A value the form cannot use; shown under the field ``name``."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


Submit = Callable[[dict[str, Any]], Awaitable[Any]]


class Form(ModalScreen[Any]):
    """A modal form, centred, with the first text field focused so typing starts at once (not a picker before
    it, which would swallow the keys). ``ctrl+s``, Save (or enter in a one-line field) runs ``submit(values)`` in
    a worker: a :class:`FieldError` appears under its field, which takes the focus, any other ValueError or a
    server refusal under the title; either is scrolled into view (a form taller than the terminal scrolls), and
    the form stays open with everything typed. What ``submit`` returns closes the form as its result. Escape
    cancels (result None)."""

    BINDINGS: ClassVar = [("escape", "cancel", "Cancel"), ("ctrl+s", "save", "Save")]
    DEFAULT_CSS = """
    Form { align: center middle; }
    Form .error { color: $error; height: auto; }
    Form .error.empty { display: none; }
    """

    def __init__(self, title: str, submit: Submit | None = None, note: str = "") -> None:
        super().__init__()
        self._title = title
        self._submit = submit
        self._note = note

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form"):
            yield Label(titled(self._title, "ctrl+s saves · escape cancels"))
            if self._note:
                yield Static(plain(self._note), classes="hint")
            yield Static("", id="error-form", classes="error empty")
            yield from self.compose_fields()
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def compose_fields(self) -> ComposeResult:
        return iter(())

    def error_line(self, name: str) -> Static:
        return Static("", id=f"error-{name}", classes="error empty")

    def values(self) -> dict[str, Any]:
        return {}

    def on_mount(self) -> None:
        for widget in self.query("Input, TextArea"):
            if widget.focusable:
                widget.focus()
                break

    def show_error(self, name: str, message: str) -> None:
        found = self.query(f"#error-{name}")
        target = found.first(Static) if found else self.query_one("#error-form", Static)
        target.update(plain(message))
        target.remove_class("empty")
        fields = self.query(f"#field-{name}")
        if found and fields:
            fields.first().focus(scroll_visible=False)
        # Once the line has its height: in view, with the field just above it.
        self.call_after_refresh(target.scroll_visible, animate=False)

    def clear_errors(self) -> None:
        for line in self.query(".error").results(Static):
            line.update("")
            line.add_class("empty")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        self.clear_errors()
        self._save(self.values())

    @work(exclusive=True, group="form")
    async def _save(self, values: dict[str, Any]) -> None:
        if self._submit is None:
            self.dismiss(values)
            return
        try:
            result = await self._submit(values)
        except FieldError as exc:
            self.show_error(exc.name, str(exc))
            return
        except (ValueError, AdminError) as exc:
            self.show_error("form", str(exc))
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    value: str = ""
    password: bool = False


class FormScreen(Form):
    """A form of labelled one-line inputs (``password`` fields are masked)."""

    def __init__(self, title: str, fields: Iterable[Field | tuple[str, str, str]], note: str = "",
                 submit: Submit | None = None) -> None:
        super().__init__(title, submit, note)
        self._fields = [f if isinstance(f, Field) else Field(*f) for f in fields]

    def compose_fields(self) -> Iterator[Widget]:
        for field in self._fields:
            yield Label(plain(field.label))
            yield Input(value=field.value, password=field.password, id=f"field-{field.name}")
            yield self.error_line(field.name)

    def values(self) -> dict[str, Any]:
        return {f.name: self.query_one(f"#field-{f.name}", Input).value for f in self._fields}


class MessageScreen(ModalScreen[None]):
    """Text shown until dismissed: a new token key (``copy``: also sent to the terminal clipboard), or a long
    record such as a log entry, wrapped and scrollable."""

    BINDINGS: ClassVar = [("escape", "close", "Close"), ("enter", "close", "Close")]
    DEFAULT_CSS = """
    MessageScreen { align: center middle; }
    MessageScreen #text { height: auto; max-height: 20; }
    """

    def __init__(self, title: str, text: str, note: str = "", copy: bool = False) -> None:
        super().__init__()
        self._title = title
        self._text = text
        self._note = note
        self._copy = copy

    def compose(self) -> ComposeResult:
        with Vertical(classes="form"):
            yield Label(titled(self._title, "enter or escape closes"))
            area = TextArea(self._text, id="text", read_only=True, soft_wrap=True, show_line_numbers=False)
            yield area
            if self._note:
                yield Static(plain(self._note), classes="hint")
            yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#text", TextArea).focus()
        if self._copy:
            self.app.copy_to_clipboard(self._text)  # OSC 52: terminals that allow it get the text on the clipboard

    def on_button_pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
