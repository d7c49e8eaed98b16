"""How the pages show and read amounts and times. Pure functions; the web's one money formatter is :func:`money`.

Amounts are quota units. With ``DisplayInCurrencyEnabled`` they are shown in dollars (``QuotaPerUnit`` units
per $1) with their significant digits below $1, so one cheap request is ``$0.000006`` rather than ``$0.00``;
otherwise as whole units with thousands separators (``oneapi.humanize``, shared with the TUI and the CLI).

Times are shown in the browser's time zone: the page script stores its IANA name in the ``tz`` cookie. Until
then (or without JavaScript) they are shown, and form times read, in UTC, and the pages say so.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oneapi import humanize

TZ_COOKIE = "tz"
_TZ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")
MAX_AMOUNT = (1 << 53) - 1


def money(quota: int, quota_per_unit: float = 500_000.0, in_currency: bool = True) -> str:
    """``$12.35``, ``$0.50``, ``$0.012``, ``$0.000006`` (dollars), or ``1,234`` (quota units): the TUI's and
    the CLI's formatter (:func:`oneapi.humanize.money`), so every door shows one amount the same way."""
    return humanize.money(quota, in_currency, quota_per_unit or 500_000.0)


dollars = humanize.dollars


def amount_text(quota: int, quota_per_unit: float, in_currency: bool) -> str:
    """A quota as the number a form field shows: dollars without rounding loss, or units."""
    if not in_currency:
        return str(quota)
    dollars = Decimal(quota) / Decimal(repr(quota_per_unit or 500_000.0))
    text = format(dollars.quantize(Decimal("0.000001")).normalize(), "f")
    return text


def parse_amount(text: str, quota_per_unit: float, in_currency: bool) -> int | None:
    """A form's amount (dollars or units, ``$`` and separators allowed) as quota units; None when unreadable,
    negative or too large."""
    cleaned = text.strip().replace(",", "").replace("_", "").replace(" ", "").removeprefix("$")
    if not cleaned or len(cleaned) > 32:
        return None
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0:
        return None
    if in_currency:
        number *= Decimal(repr(quota_per_unit or 500_000.0))
    quota = int(number.to_integral_value())
    return quota if quota <= MAX_AMOUNT else None


def number(value: int) -> str:
    return f"{value:,}"


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def zone(name: str | None) -> tuple[tzinfo, str]:
    """The browser's time zone from the ``tz`` cookie, with its name; UTC when absent or unknown."""
    if name and len(name) <= 64 and _TZ_NAME.match(name) and name != "UTC":
        found = _zone(name)
        if found is not None:
            return found, name
    return UTC, "UTC"


def when(timestamp: int, tz: tzinfo, seconds: bool = True) -> str:
    if timestamp <= 0:
        return ""
    return datetime.fromtimestamp(timestamp, tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def local_input(timestamp: int, tz: tzinfo) -> str:
    """A timestamp as an ``<input type="datetime-local">`` value."""
    if timestamp <= 0:
        return ""
    return datetime.fromtimestamp(timestamp, tz).strftime("%Y-%m-%dT%H:%M")


def parse_local(text: str, tz: tzinfo) -> int | None:
    """An ``<input type="datetime-local">`` value (or a bare date) in ``tz`` as a timestamp; None if unreadable."""
    text = text.strip()
    if not text or len(text) > 32:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        stamp = int(parsed.timestamp())
    except (OverflowError, OSError, ValueError):
        return None
    return stamp if 0 < stamp <= MAX_AMOUNT else None


def utc_offset(tz: tzinfo, at: float | None = None) -> int:
    """Seconds east of UTC now in ``tz`` (the dashboard groups days by it)."""
    moment = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
    offset = moment.astimezone(tz).utcoffset()
    return int(offset.total_seconds()) if offset else 0
