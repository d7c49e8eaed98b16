"""How the web shows and reads money and times (oneapi.web.display)."""

from __future__ import annotations

import time
from datetime import UTC

import pytest

from oneapi import humanize
from oneapi.web import display


@pytest.mark.parametrize(("quota", "expected"), [
    (0, "$0.00"),
    (3, "$0.000006"),
    (1, "$0.000002"),
    (6_000, "$0.012"),
    (50_000, "$0.10"),
    (250_000, "$0.50"),
    (499_999, "$1.00"),
    (500_000, "$1.00"),
    (6_172_500, "$12.35"),
    (500_000_000_000_000, "$1,000,000,000.00"),
    (-3, "-$0.000006"),
    (-1_000_000, "-$2.00"),
])
def test_money_in_dollars_keeps_its_significant_digits_below_a_dollar(quota: int, expected: str) -> None:
    assert display.money(quota) == expected
    assert display.money(quota) == humanize.money(quota, True)  # one formatter for the web, the TUI and the CLI


def test_money_in_units_and_other_rates() -> None:
    assert display.money(1_234_567, in_currency=False) == "1,234,567"
    assert display.money(1_000, 1_000) == "$1.00"
    assert display.money(5, 0) == "$0.00001"  # a zero rate falls back to One API's default


@pytest.mark.parametrize(("text", "in_currency", "expected"), [
    ("1.5", True, 750_000), ("$1.50", True, 750_000), ("1,000", True, 500_000_000), (" 2 ", True, 1_000_000),
    ("0.000002", True, 1), ("1000", False, 1000), ("12.6", False, 13),
    ("", True, None), ("abc", True, None), ("-1", True, None), ("nan", True, None), ("inf", True, None),
    ("1e400", True, None), ("9" * 40, True, None), ("1e20", False, None),
    (".5", True, 250_000), ("1.", False, 1), (".", True, None), ("1.5.5", True, None), ("0x10", False, None),
    ("١٢", False, None), ("1.0000000000001", True, None), ("9" * 16, False, None), ("9" * 17, True, None),
    (str((1 << 53) - 1), False, (1 << 53) - 1), (str(1 << 53), False, None),
])
def test_parse_amount(text: str, in_currency: bool, expected: int | None) -> None:
    assert display.parse_amount(text, 500_000, in_currency) == expected


@pytest.mark.parametrize("text", ["1e999990", "1e999999", "1E+999999", "9e-999999", "1e5", "1.5e3", "-1e999999",
                                  "1e9999999999999999999", "Infinity", "sNaN"])
@pytest.mark.parametrize("in_currency", [True, False])
def test_parse_amount_refuses_exponents_at_once(text: str, in_currency: bool) -> None:
    """An exponent would have Decimal build (or overflow on) a number of a million digits: refused unread."""
    started = time.perf_counter()
    assert display.parse_amount(text, 500_000, in_currency) is None
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize("rate", [float("inf"), float("nan"), 1e308, 0.0])
def test_parse_amount_survives_any_rate(rate: float) -> None:
    assert display.parse_amount("0", rate, True) in (0, None)
    assert display.parse_amount("1", rate, True) in (None, 500_000)


@pytest.mark.parametrize("quota", [0, 1, 3, 750_000, 1_234_567, 10**15 + 7])
def test_amount_text_round_trips(quota: int) -> None:
    assert display.parse_amount(display.amount_text(quota, 500_000, True), 500_000, True) == quota
    assert display.parse_amount(display.amount_text(quota, 500_000, False), 500_000, False) == quota


def test_zones_and_local_times() -> None:
    tz, name = display.zone("Asia/Shanghai")
    assert name == "Asia/Shanghai"
    assert display.parse_local("2031-01-02T11:04", tz) == 1925089440
    assert display.local_input(1925089440, tz) == "2031-01-02T11:04"
    assert display.when(1925089440, tz) == "2031-01-02 11:04:00"
    assert display.utc_offset(tz, 1925089440) == 8 * 3600
    for bad in (None, "", "Mars/Base", "../etc/passwd", "a" * 80, "UTC", "Europe/", "1/2/3/4"):
        assert display.zone(bad) == (UTC, "UTC")
    for bad in ("", "tomorrow", "2031-02-30T00:00", "99999-01-01", "0000-01-01T00:00", "x" * 40):
        assert display.parse_local(bad, UTC) is None, bad
    assert display.when(0, UTC) == "" and display.local_input(-1, UTC) == ""
