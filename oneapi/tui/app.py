"""The TUI application: one tab per area, keyboard-first (1-7 switch tabs, ? shows the keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.widgets import DataTable, Footer, Header, TabbedContent, TabPane

from oneapi import humanize
from oneapi.client import AdminClient, AdminError
from oneapi.tui.screens.channels import ChannelsPane
from oneapi.tui.screens.dashboard import DashboardPane
from oneapi.tui.screens.logs import LogsPane
from oneapi.tui.screens.options import OptionsPane
from oneapi.tui.screens.tokens import TokensPane
from oneapi.tui.screens.users import UsersPane
from oneapi.tui.screens.vouchers import VouchersPane

TABS = (("dashboard", "Dashboard"), ("channels", "Channels"), ("tokens", "Tokens"), ("vouchers", "Vouchers"),
        ("users", "Users"), ("options", "Options"), ("logs", "Logs"))


class OneAPIApp(App[None]):
    TITLE = "oneapi"
    CSS = """
    DataTable { height: 1fr; }
    .toolbar { height: auto; }
    .toolbar Input { width: 1fr; }
    .form { padding: 0 1; width: 96%; max-width: 100; height: auto; max-height: 96%; border: thick $accent;
            background: $panel; }
    .form Input, .form Select { margin-bottom: 0; }
    .form TextArea { height: auto; min-height: 3; max-height: 8; }
    .form .buttons { height: auto; margin-top: 1; }
    .hint { color: $text-muted; width: 1fr; height: auto; }
    Footer { height: auto; }
    """
    BINDINGS: ClassVar = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh", "Refresh"),
        *[Binding(str(i + 1), f"show('{tab}')", title, show=False) for i, (tab, title) in enumerate(TABS)],
    ]

    def __init__(self, socket: Path, trusted: frozenset[int] | None = None) -> None:
        super().__init__()
        self.client = AdminClient(socket, trusted=trusted)
        self.status: dict[str, Any] = {}
        self.channel_types: dict[int, str] = {}  # type id → name, loaded with the first channel list

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="dashboard"):
            with TabPane("1 Dashboard", id="dashboard"):
                yield DashboardPane()
            with TabPane("2 Channels", id="channels"):
                yield ChannelsPane()
            with TabPane("3 Tokens", id="tokens"):
                yield TokensPane()
            with TabPane("4 Vouchers", id="vouchers"):
                yield VouchersPane()
            with TabPane("5 Users", id="users"):
                yield UsersPane()
            with TabPane("6 Options", id="options"):
                yield OptionsPane()
            with TabPane("7 Logs", id="logs"):
                yield LogsPane()
        # At 80 columns every key must fit: compact, and without the palette's ^p (it still works; see the hints).
        yield Footer(compact=True, show_command_palette=False)

    async def on_mount(self) -> None:
        try:
            self.status = await self.client.status()
            ping = await self.client.ping()
            self.sub_title = f"{self.status.get('system_name', '')} · server {ping.get('version')} · {self.client.path}"
        except AdminError as exc:
            self.notify(str(exc), severity="error", timeout=10)

    async def on_unmount(self) -> None:
        await self.client.close()

    def action_show(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self._focus_table(tab)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            self._focus_table(event.pane.id)

    def _focus_table(self, tab: str) -> None:
        """Keyboard first: a tab's table takes the keys (a add, d delete, ...), not its search box."""
        tables = self.query_one(f"#{tab}", TabPane).query(DataTable)
        if tables:
            tables.first().focus()

    def action_refresh(self) -> None:
        """``r``: the active tab loads its data again (the Logs tab also reconnects its live tail)."""
        pane = self.query_one(TabbedContent).active_pane
        if pane is not None:
            for child in pane.children:
                refresh = getattr(child, "reload", None)
                if refresh is not None:
                    refresh()

    @property
    def quota_per_unit(self) -> float:
        return float(self.status.get("quota_per_unit") or 500_000)

    def money(self, quota: Any) -> str:
        """Quota as the operator wants to read it: dollars when DisplayInCurrencyEnabled."""
        return humanize.money(quota, bool(self.status.get("display_in_currency", True)), self.quota_per_unit)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """A notification, by default taken literally: messages carry names and the server's words, which must
        not be read as markup (``[/]`` would end the TUI with MarkupError)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def report(self, exc: Exception) -> None:
        self.notify(str(exc), severity="error", timeout=8)
