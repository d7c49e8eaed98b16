"""Dashboard: requests/s and tokens/s (one-minute averages), money spent and error rate in the last minute,
sparklines, top models and channels (by name), totals since the server started."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from oneapi.client import AdminError

if TYPE_CHECKING:
    from oneapi.tui.app import OneAPIApp

REFRESH_SECONDS = 1.0


class DashboardPane(Widget):
    DEFAULT_CSS = """
    DashboardPane { height: 1fr; padding: 0 1; }
    DashboardPane .figures { height: 3; }
    DashboardPane .figure { width: 1fr; height: 3; border: round $accent; padding: 0 1; content-align: center middle; }
    DashboardPane Sparkline { height: 2; margin-bottom: 1; }
    DashboardPane .tops { height: 1fr; min-height: 5; }
    DashboardPane .top { width: 1fr; border: round $secondary; padding: 0 1; }
    DashboardPane .top Static { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    FIGURES = (("rps", "requests/s"), ("tps", "tokens/s"), ("quota", "spent"), ("errors", "error rate"))

    class StatsLoaded(Message):
        def __init__(self, stats: dict[str, Any]) -> None:
            super().__init__()
            self.stats = stats

    def compose(self) -> ComposeResult:
        with Horizontal(classes="figures"):
            for name, title in self.FIGURES:
                figure = Static("-", id=name, classes="figure")
                figure.border_title = title
                figure.border_subtitle = "last minute" if name in ("quota", "errors") else "1-min average"
                yield figure
        yield Label("requests per second over the last minute")
        yield Sparkline([0] * 60, id="requests")
        yield Label("tokens per second over the last minute")
        yield Sparkline([0] * 60, id="tokens")
        with Horizontal(classes="tops"):
            for name, title in (("top-models", "top models"), ("top-channels", "top channels"),
                                ("totals", "since start")):
                top = Vertical(classes="top")
                top.border_title = title
                with top:
                    yield Static("-", id=name)

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(REFRESH_SECONDS, self.reload)

    @work(exclusive=True, group="stats")
    async def reload(self) -> None:
        app: OneAPIApp = self.app  # type: ignore[assignment]
        try:
            stats = await app.client.stats()
        except AdminError:
            return  # the footer notification of the app already says the server is gone
        self.post_message(self.StatsLoaded(stats))

    def on_dashboard_pane_stats_loaded(self, message: StatsLoaded) -> None:
        app: OneAPIApp = self.app  # type: ignore[assignment]
        s = message.stats
        self.query_one("#rps", Static).update(f"[b]{s['requests_per_second']:.2f}[/b]")
        self.query_one("#tps", Static).update(f"[b]{s['tokens_per_second']:.1f}[/b]")
        self.query_one("#quota", Static).update(f"[b]{app.money(s['quota_last_minute'])}[/b]")
        self.query_one("#errors", Static).update(f"[b]{s['error_rate']:.1%}[/b]")
        self.query_one("#requests", Sparkline).data = s["series"]["requests"]
        self.query_one("#tokens", Sparkline).data = s["series"]["tokens"]
        self.query_one("#top-models", Static).update(
            "\n".join(f"{n:>6}  {escape(str(m))}" for m, n in s["top_models"]) or "-")
        names = s.get("channel_names") or {}
        self.query_one("#top-channels", Static).update(
            "\n".join(f"{n:>6}  {escape(names.get(str(cid)) or f'#{cid} (deleted)')}"
                      for cid, n in s["top_channels"]) or "-")
        # Redis lost: the server serves on, but each node (or worker) decides balances and limits alone.
        degraded = "\n[b red]Redis down: balances per node[/]" if s.get("redis") == "down" else ""
        self.query_one("#totals", Static).update(
            f"requests {s['total_requests']}\nerrors {s['total_errors']}\nspent {app.money(s['total_quota'])}"
            + degraded)
