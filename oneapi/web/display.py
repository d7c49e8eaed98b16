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
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oneapi import humanize

TZ_COOKIE = "tz"
_TZ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")
MAX_AMOUNT = (1 << 53) - 1
FRACTION_DIGITS = 12  # places after the point (one quota unit is $0.000002 at One API's default rate)
_AMOUNT = re.compile(rf"(?=\.?\d)\d{{0,{len(str(MAX_AMOUNT))}}}(?:\.\d{{0,{FRACTION_DIGITS}}})?", re.ASCII)
# Exact for every number a form may carry (16 + 12 digits) times any rate (17 significant digits); a broken
# computation (invalid, overflow, division by zero) raises, and parse_amount catches it.
_CONTEXT = Context(prec=64, rounding=ROUND_HALF_EVEN, Emax=999, Emin=-999,
                   traps=[InvalidOperation, Overflow, DivisionByZero])


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
    negative or too large.

    The text is checked before it becomes a number: plain digits with at most :data:`FRACTION_DIGITS` after
    the point, and no more integer digits than :data:`MAX_AMOUNT` has. An exponent (``1e999990``) would make
    ``Decimal`` build a number of a million digits, blocking the event loop, or overflow; it is refused as
    unreadable. The arithmetic runs in a local decimal context whose traps are caught."""
    cleaned = text.strip().replace(",", "").replace("_", "").replace(" ", "").removeprefix("$")
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        return None
    try:
        with localcontext(_CONTEXT):
            number = Decimal(cleaned)
            if in_currency:
                number *= Decimal(repr(quota_per_unit or 500_000.0))
            if not number.is_finite() or number < 0 or number > MAX_AMOUNT:
                return None
            return int(number.to_integral_value())
    except (DecimalException, ValueError):  # a rate that is no number (QuotaPerUnit is the operator's)
        return None


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
