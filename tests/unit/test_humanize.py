"""How people type and read quotas and times (``oneapi.humanize``), shared by the CLI and the TUI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from oneapi.humanize import (
    check_export_path,
    money,
    parse_expiry,
    parse_future_expiry,
    parse_quota,
    voucher_export,
    when,
)

NOW = 1_700_000_000.7  # 2023-11-14 22:13:20 UTC


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


@pytest.mark.parametrize("text", ["never", "-1", "", "  never  "])
def test_never(text: str) -> None:
    assert parse_expiry(text, now=NOW) == -1


@pytest.mark.parametrize(("text", "expected"), [
    ("1700000000", 1_700_000_000),
    ("0", 0),
    (" 1893456000 ", 1_893_456_000),
])
def test_unix_timestamps_are_taken_as_is(text: str, expected: int) -> None:
    assert parse_expiry(text, now=NOW) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-31", utc(2026, 12, 31)),
    ("2026-12-31T18:00", utc(2026, 12, 31, 18)),
    ("2026-12-31 18:00:30", utc(2026, 12, 31, 18, 0, 30)),
    ("2026-12-31T18:00+02:00", int(datetime(2026, 12, 31, 18, tzinfo=timezone(timedelta(hours=2))).timestamp())),
    ("2026-12-31T18:00Z", utc(2026, 12, 31, 18)),
])
def test_dates_are_utc_unless_they_say_otherwise(text: str, expected: int) -> None:
    assert parse_expiry(text, now=NOW) == expected


@pytest.mark.parametrize(("text", "seconds"), [
    ("10s", 10), ("5m", 300), ("12h", 12 * 3600), ("30d", 30 * 86400), ("2w", 14 * 86400), ("0d", 0),
])
def test_durations_count_from_now(text: str, seconds: int) -> None:
    assert parse_expiry(text, now=NOW) == int(NOW) + seconds


def test_durations_default_to_the_clock() -> None:
    before = int(datetime.now(UTC).timestamp())
    assert before + 86400 <= parse_expiry("1d") <= before + 86400 + 5


@pytest.mark.parametrize("text", [
    "tomorrow", "30x", "-5d", "1.5d", "30 days", "2026-13-01", "2026-02-30", "12/31/2026", "-2", "٣٠",
    "1e9", "0x10", "nevermore",
])
def test_garbage_expiry_is_a_value_error_that_says_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="not 'never', a timestamp, a date"):
        parse_expiry(text, now=NOW)


@pytest.mark.parametrize(("text", "expected"), [
    ("500000", 500_000),
    ("0", 0),
    (" 42 ", 42),
    ("1,000,000", 1_000_000),
    ("1_000", 1_000),
    ("1.4", 1),
    ("1.6", 2),
    ("$1", 500_000),
    ("$1.5", 750_000),
    ("$0.002", 1_000),
    ("$1,000", 500_000_000),
    (str(2**53), 2**53),
])
def test_quota_in_units_or_dollars(text: str, expected: int) -> None:
    value = parse_quota(text)
    assert value == expected and isinstance(value, int)


def test_dollars_use_the_given_quota_per_unit() -> None:
    assert parse_quota("$2", quota_per_unit=1000) == 2000
    assert parse_quota("$0.5", quota_per_unit=1) == 0  # banker's rounding of 0.5, never fractional units
    assert parse_quota("300", quota_per_unit=1000) == 300  # plain units ignore the rate


@pytest.mark.parametrize("text", ["abc", "", "$", "$abc", "1.2.3", "five", "$$1", "1 000"])
def test_quota_that_is_not_a_number(text: str) -> None:
    with pytest.raises(ValueError, match="is not a number"):
        parse_quota(text)


@pytest.mark.parametrize("text", ["-1", "$-1", "-0.6", "nan", "NaN", "$nan", "inf", "-inf", "1e20",
                                  str(2**53 + 2), "$1e12"])
def test_quota_out_of_range(text: str) -> None:
    with pytest.raises(ValueError, match="between 0 and 2"):
        parse_quota(text)


def test_money_in_units_or_currency() -> None:
    assert money(1_234_567, False) == "1,234,567"
    assert money(0, False) == "0"
    assert money(500_000, True) == "$1.00"
    assert money(750_000, True, 500_000) == "$1.50"
    assert money(1_000_000_000, True) == "$2,000.00"
    assert money(2000, True, quota_per_unit=1000) == "$2.00"
    assert money(500_000, True, quota_per_unit=0) == "$1.00"  # a zero rate falls back to the default
    assert money(-750_000, True) == "-$1.50"
    assert money(0, True) == "$0.00"


@pytest.mark.parametrize(("quota", "shown"), [
    (3, "$0.000006"),  # a typical small call: not $0.0000
    (1, "$0.000002"),
    (7, "$0.000014"),
    (123_456, "$0.2469"),  # four significant digits below a dollar
    (5_000, "$0.01"),
    (6_173, "$0.01235"),
    (500_001, "$1.00"),  # cents at least, trailing zeros dropped beyond them
    (617_000, "$1.234"),  # four significant digits above a dollar too, as long as they are not fewer than cents
    (6_172_839, "$12.35"),
    (617_283_950, "$1,234.57"),
])
def test_money_shows_significant_digits(quota: int, shown: str) -> None:
    assert money(quota, True) == shown


def test_money_passes_through_what_is_not_a_quota() -> None:
    assert money("unlimited", True) == "unlimited"
    assert money(1.5, False) == "1.5"


def test_when() -> None:
    assert when(-1) == "never"
    assert when(1_700_000_000) == "2023-11-14 22:13"
    assert when(utc(2026, 12, 31, 18, 5)) == "2026-12-31 18:05"
    for nothing in (0, None, "", "1700000000", 1.7e9, -5):
        assert when(nothing) == ""


def test_voucher_export_is_csv_for_csv_files_and_one_key_a_line_for_txt_files() -> None:
    vouchers = [{"key": "a" * 32, "name": "promo, spring", "quota": 500_000}, {"key": "b" * 32, "name": "x",
                                                                                 "quota": 7}]
    assert voucher_export(Path("keys.txt"), vouchers) == f"{'a' * 32}\n{'b' * 32}\n"
    assert voucher_export(Path("KEYS.TXT"), vouchers) == f"{'a' * 32}\n{'b' * 32}\n"
    for name in ("keys.csv", "KEYS.CSV"):
        text = voucher_export(Path(name), vouchers)
        assert text.splitlines() == ["key,name,quota", f'{"a" * 32},"promo, spring",500000', f"{'b' * 32},x,7"]
    assert voucher_export(Path("none.txt"), []) == ""


@pytest.mark.parametrize("name", ["v.xlsx", "keys", "keys.json", "keys.csv.gz"])
def test_voucher_export_refuses_a_format_it_does_not_write(name: str) -> None:
    with pytest.raises(ValueError, match=r"\.txt .*\.csv"):
        voucher_export(Path(name), [{"key": "a" * 32, "name": "x", "quota": 1}])
    with pytest.raises(ValueError, match=name):
        check_export_path(Path(name))


def test_expiries_in_the_past_are_refused_for_new_settings() -> None:
    assert parse_future_expiry("never", now=NOW) == -1
    assert parse_future_expiry("1d", now=NOW) == int(NOW) + 86400
    for past in ("2020-01-01", "1", "1700000000", "0d"):
        with pytest.raises(ValueError, match="in the past"):
            parse_future_expiry(past, now=NOW)
    with pytest.raises(ValueError, match=r"^'0' is in the past \(1970-01-01 00:00 UTC\)$"):
        parse_future_expiry("0", now=NOW)  # the moment is named even for 0, which when() shows as blank
