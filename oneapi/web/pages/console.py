"""The console's dashboard (balance, spend and requests per day and model) and top-up (vouchers, the operator's
shop link)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from oneapi.api.common import services
from oneapi.errors import OneAPIError
from oneapi.web import chart, display
from oneapi.web.forms import FormError, failure_status, read_form
from oneapi.web.render import formatter, redirect, render, require_user, translator

DAY_CHOICES = (7, 30)


def _days(request: web.Request) -> int:
    raw = request.query.get("days", "7")
    if raw not in ("7", "30"):
        raise FormError("error.days")
    return int(raw)


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model over the period, most expensive first."""
    models: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = models.setdefault(row["ModelName"], {"model": row["ModelName"], "requests": 0, "quota": 0,
                                                     "prompt_tokens": 0, "completion_tokens": 0})
        entry["requests"] += row["RequestCount"]
        entry["quota"] += row["Quota"]
        entry["prompt_tokens"] += row["PromptTokens"]
        entry["completion_tokens"] += row["CompletionTokens"]
    return sorted(models.values(), key=lambda m: (-m["quota"], -m["requests"], m["model"]))


async def dashboard(request: web.Request) -> web.Response:
    user = await require_user(request)
    days = _days(request)
    fmt, t = formatter(request), translator(request)
    offset = display.utc_offset(fmt.tz)
    rows = await services(request).logs.dashboard(user["id"], days, offset)
    today = (datetime.now(UTC) + timedelta(seconds=offset)).date()
    day_list = [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    spend: dict[str, dict[str, float]] = {}
    requests: dict[str, dict[str, float]] = {}
    unit = fmt.quota_per_unit if fmt.in_currency else 1.0  # the spend chart counts in what the reader sees
    for row in rows:
        spend.setdefault(row["Day"], {})[row["ModelName"]] = row["Quota"] / unit
        requests.setdefault(row["Day"], {})[row["ModelName"]] = row["RequestCount"]
    summary = _summary(rows)
    series = chart.series_for({m["model"]: m["quota"] + m["requests"] * 1e-9 for m in summary}, t("dashboard.other"))

    def day_label(day: str) -> str:
        return date.fromisoformat(day).strftime("%m-%d")

    charts = {
        "spend": chart.stacked(day_list, spend, series,
                               display.dollars if fmt.in_currency else lambda v: fmt.number(round(v)), day_label,
                               integer=not fmt.in_currency),
        "requests": chart.stacked(day_list, requests, series, lambda v: fmt.number(round(v)), day_label,
                                  integer=True),
    }
    totals = {"quota": sum(m["quota"] for m in summary), "requests": sum(m["requests"] for m in summary),
              "tokens": sum(m["prompt_tokens"] + m["completion_tokens"] for m in summary)}
    return await render(request, "dashboard.html", days=days, day_choices=DAY_CHOICES, charts=charts,
                        series=series, summary=summary, totals=totals, section="dashboard")


def top_up_url(link: str, user: dict[str, Any]) -> str:
    """The operator's shop link with One API's parameters (username, user_id, a fresh transaction_id)."""
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    params = urlencode({"username": user["username"], "user_id": user["id"], "transaction_id": uuid.uuid4().hex})
    return f"{link}{'&' if parts.query else '?'}{params}"


async def topup_page(request: web.Request, user: dict[str, Any], status: int = 200, key: str = "",
                     error: str = "") -> web.Response:
    link = services(request).options.get("TopUpLink").strip()
    return await render(request, "topup.html", status=status, key=key, error=error, section="topup",
                        shop_url=top_up_url(link, user) if link else "")


async def topup(request: web.Request) -> web.Response:
    return await topup_page(request, await require_user(request))


async def redeem(request: web.Request) -> web.Response:
    user = await require_user(request)
    form = await read_form(request)
    key = form.text("key")
    try:
        quota = await services(request).vouchers.redeem(user, {"key": key})
    except OneAPIError as exc:
        return await topup_page(request, user, failure_status(exc), key[:64], translator(request).error(exc.message))
    return redirect(request, "/topup", "flash.redeemed", amount=formatter(request).money(quota))


async def console(request: web.Request) -> web.Response:
    return redirect(request, "/dashboard")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/dashboard", dashboard)
    router.add_get("/console", console)
    router.add_get("/topup", topup)
    router.add_post("/topup", redeem)
