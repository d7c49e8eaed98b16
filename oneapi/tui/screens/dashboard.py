"""Dashboard: live requests/s, tokens/s, quota, error rate, sparklines, top models and channels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    DashboardPane .figure { width: 1fr; border: round $accent; padding: 0 1; }
    DashboardPane Sparkline { height: 3; margin-bottom: 1; }
    DashboardPane .tops { height: 1fr; }
    DashboardPane .top { width: 1fr; border: round $secondary; padding: 0 1; }
    """

    class StatsLoaded(Message):
        def __init__(self, stats: dict[str, Any]) -> None:
            super().__init__()
            self.stats = stats

    def compose(self) -> ComposeResult:
        with Horizontal(classes="figures"):
            yield Static("requests/s\n-", id="rps", classes="figure")
            yield Static("tokens/s\n-", id="tps", classes="figure")
            yield Static("quota, last minute\n-", id="quota", classes="figure")
            yield Static("error rate\n-", id="errors", classes="figure")
        yield Label("requests per second, last minute")
        yield Sparkline([0] * 60, id="requests")
        yield Label("tokens per second, last minute")
        yield Sparkline([0] * 60, id="tokens")
        with Horizontal(classes="tops"):
            with Vertical(classes="top"):
                yield Label("[b]top models[/b]")
                yield Static("", id="models")
            with Vertical(classes="top"):
                yield Label("[b]top channels[/b]")
                yield Static("", id="channels")
            with Vertical(classes="top"):
                yield Label("[b]since start[/b]")
                yield Static("", id="totals")

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(REFRESH_SECONDS, self.reload)

    @work(exclusive=True, group="stats")
    async def reload(self) -> None:
        app: OneAPIApp = self.app  # type: ignore[assignment]
        try:
            stats = await app.client.get("/admin/stats")
        except AdminError:
            return  # the footer notification of the app already says the server is gone
        self.post_message(self.StatsLoaded(stats))

    def on_dashboard_pane_stats_loaded(self, message: StatsLoaded) -> None:
        app: OneAPIApp = self.app  # type: ignore[assignment]
        s = message.stats
        self.query_one("#rps", Static).update(f"requests/s\n[b]{s['requests_per_second']:.2f}[/b]")
        self.query_one("#tps", Static).update(f"tokens/s\n[b]{s['tokens_per_second']:.1f}[/b]")
        self.query_one("#quota", Static).update(f"quota, last minute\n[b]{app.money(s['quota_last_minute'])}[/b]")
        self.query_one("#errors", Static).update(f"error rate\n[b]{s['error_rate']:.1%}[/b]")
        self.query_one("#requests", Sparkline).data = s["series"]["requests"]
        self.query_one("#tokens", Sparkline).data = s["series"]["tokens"]
        self.query_one("#models", Static).update("\n".join(f"{n:>6}  {m}" for m, n in s["top_models"]) or "-")
        self.query_one("#channels", Static).update(
            "\n".join(f"{n:>6}  #{cid}" for cid, n in s["top_channels"]) or "-")
        self.query_one("#totals", Static).update(
            f"requests {s['total_requests']}\nerrors {s['total_errors']}\nquota {app.money(s['total_quota'])}")
