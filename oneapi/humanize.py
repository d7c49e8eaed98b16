"""How people type and read quotas and times, shared by the CLI, the TUI and the web pages. Pure (stdlib only:
no TUI or CLI imports); errors are ValueError."""

from __future__ import annotations

import csv
import io
import math
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_future_expiry(text: str, now: float | None = None) -> int:
    """:func:`parse_expiry`, refusing a moment already past (a token that expires then is dead on arrival)."""
    now = time.time() if now is None else now
    expiry = parse_expiry(text, now)
    if expiry != -1 and expiry <= now:  # spelled out: when() leaves 0 ("not set") blank
        moment = datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%d %H:%M")
        raise ValueError(f"{text.strip()!r} is in the past ({moment} UTC)")
    return expiry


def parse_expiry(text: str, now: float | None = None) -> int:
    """``never``, a Unix timestamp, a date (2026-12-31 or 2026-12-31T18:00, UTC), or a duration (30d, 12h)."""
    text = text.strip()
    now = time.time() if now is None else now
    if text in ("never", "-1", ""):
        return -1
    if text.isascii() and text.isdigit():
        return int(text)
    if match := _DURATION.match(text):
        return int(now) + int(match.group(1)) * _UNITS[match.group(2)]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not 'never', a timestamp, a date like 2026-12-31 or a duration like 30d") \
            from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_quota(text: str, quota_per_unit: float = 500_000) -> int:
    """A quota in units (``500000``) or dollars (``$1.5``), never negative."""
    text = text.strip().replace(",", "").replace("_", "")
    try:
        value = float(text[1:]) * quota_per_unit if text.startswith("$") else float(text)
    except ValueError:
        raise ValueError(f"quota {text!r} is not a number (use 500000 or $1)") from None
    if value != value or value < 0 or value > 2**53:
        raise ValueError(f"quota {text!r} must be between 0 and 2^53")
    return round(value)


SIGNIFICANT_DIGITS = 4
MAX_DECIMALS = 12


def dollars(amount: float) -> str:
    """A dollar amount with 4 significant digits and never fewer decimals than cents (trailing zeros beyond the
    cents dropped), so a typical call (3 quota = $0.000006) does not read as $0.0000: ``$0.000006``,
    ``$0.2469``, ``$1.234``, ``$12.35``, ``$1.50``, ``$2,000.00``, ``-$1.50``."""
    if amount == 0 or not math.isfinite(amount):
        return "$0.00" if amount == 0 else f"${amount}"
    magnitude = math.floor(math.log10(abs(amount)))
    decimals = min(MAX_DECIMALS, max(2, SIGNIFICANT_DIGITS - 1 - magnitude))
    text = f"{abs(amount):,.{decimals}f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{'-' if amount < 0 else ''}${whole}.{fraction}"


def money(quota: Any, display_in_currency: bool, quota_per_unit: float = 500_000) -> str:
    """Quota as people read it: dollars (:func:`dollars`) when ``display_in_currency``, else units with
    thousands separators. What is not an int (``"unlimited"``) is shown as is. The one formatter of the TUI,
    the CLI and the web pages."""
    if not isinstance(quota, int) or isinstance(quota, bool):
        return str(quota)
    if display_in_currency:
        return dollars(quota / (quota_per_unit or 500_000))
    return f"{quota:,}"


def when(timestamp: Any) -> str:
    if timestamp == -1:
        return "never"
    if not isinstance(timestamp, int) or timestamp <= 0:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


EXPORT_SUFFIXES = (".txt", ".csv")


def check_export_path(path: Path) -> None:
    """ValueError unless ``path`` names a format :func:`voucher_export` writes (a .xlsx of text would be a lie)."""
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise ValueError(f"{path.name}: write a .txt file (one key a line) or a .csv file (key,name,quota)")


def voucher_export(path: Path, vouchers: list[dict[str, Any]]) -> str:
    """The export file's content for ``path``: CSV (key,name,quota) for ``.csv``, one key per line for ``.txt``;
    ValueError for any other suffix."""
    check_export_path(path)
    if path.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["key", "name", "quota"])
        for voucher in vouchers:
            writer.writerow([voucher["key"], voucher["name"], voucher["quota"]])
        return buffer.getvalue()
    return "".join(voucher["key"] + "\n" for voucher in vouchers)
