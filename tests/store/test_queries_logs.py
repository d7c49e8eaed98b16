"""oneapi.store.queries.logs on every backend: One API's filters, sums, search, retention and the dashboard."""

from __future__ import annotations

from typing import Any

import pytest

from oneapi.store.database import Database
from oneapi.store.queries import logs
from oneapi.store.queries.accounting import LogRow
from oneapi.store.queries.logs import TYPE_CONSUME, TYPE_MANAGE, TYPE_SYSTEM, TYPE_TOPUP, LogFilter

DAY = 86400
T0 = 19_700 * DAY  # a UTC midnight


def _log(**fields: Any) -> dict[str, Any]:
    return {"user_id": 1, "username": "alice", "created_at": T0, "type": TYPE_CONSUME, "token_name": "default",
            "model_name": "gpt-4", "channel_id": 1, "content": "", **fields}


def _row(**fields: Any) -> LogRow:
    return LogRow(**_log(**fields))


@pytest.fixture
def sample(database: Database) -> list[dict[str, Any]]:
    rows = [
        _log(created_at=T0 + 10, quota=100, prompt_tokens=10, completion_tokens=1),                      # 1
        _log(created_at=T0 + 20, quota=200, model_name="gpt-4o", channel_id=2, token_name="ci"),         # 2
        _log(created_at=T0 + 30, type=TYPE_TOPUP, quota=5000, content="通过兑换码充值 $0.01"),              # 3
        _log(created_at=T0 + DAY, user_id=2, username="bob", quota=7, model_name="gpt-4o"),              # 4
        _log(created_at=T0 + DAY + 5, type=TYPE_MANAGE, quota=999, content="admin set quota"),           # 5
        _log(created_at=T0 + 2 * DAY, quota=30, channel_id=2, request_id="req-x", is_stream=True),       # 6
        _log(created_at=T0 + 2 * DAY + 1, type=TYPE_SYSTEM, content="channel 2 disabled", user_id=0,
             username=""),                                                                              # 7
    ]
    assert logs.insert_many(database, [LogRow(**r) for r in rows]) == len(rows)
    assert logs.insert_many(database, []) == 0
    return rows


def _ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in rows]


@pytest.mark.parametrize(("log_filter", "expected"), [
    (LogFilter(), [7, 6, 5, 4, 3, 2, 1]),
    (LogFilter(log_type=TYPE_CONSUME), [6, 4, 2, 1]),
    (LogFilter(log_type=TYPE_TOPUP), [3]),
    (LogFilter(start=T0 + 20, end=T0 + DAY), [4, 3, 2]),  # both bounds inclusive
    (LogFilter(start=T0 + DAY + 1), [7, 6, 5]),
    (LogFilter(end=T0 + 10), [1]),
    (LogFilter(user_id=2), [4]),
    (LogFilter(username="alice"), [6, 5, 3, 2, 1]),
    (LogFilter(token_name="ci"), [2]),
    (LogFilter(model_name="gpt-4o"), [4, 2]),
    (LogFilter(channel_id=2), [6, 2]),
    (LogFilter(log_type=TYPE_CONSUME, username="alice", model_name="gpt-4", channel_id=1), [1]),
    (LogFilter(username="nobody"), []),
])
def test_list_page_filters(database: Database, sample: list[dict[str, Any]], log_filter: LogFilter,
                           expected: list[int]) -> None:
    assert _ids(logs.list_page(database, log_filter, 0, 100)) == expected


def test_list_page_pages_newest_first(database: Database, sample: list[dict[str, Any]]) -> None:
    assert _ids(logs.list_page(database, LogFilter(), 0, 3)) == [7, 6, 5]
    assert _ids(logs.list_page(database, LogFilter(), 3, 3)) == [4, 3, 2]
    assert _ids(logs.list_page(database, LogFilter(), 6, 3)) == [1]
    row = logs.list_page(database, LogFilter(channel_id=2, start=T0 + DAY), 0, 1)[0]
    assert row["request_id"] == "req-x" and row["is_stream"] is True and row["system_prompt_reset"] is False
    assert row["quota"] == 30 and row["prompt_tokens"] == 0


def test_insert_returns_the_new_id(database: Database) -> None:
    first = logs.insert(database, _row(quota=1))
    assert logs.insert(database, _row(quota=2)) == first + 1
    assert _ids(logs.list_page(database, LogFilter(), 0, 10)) == [first + 1, first]


@pytest.mark.parametrize(("log_filter", "expected"), [
    (LogFilter(), 100 + 200 + 7 + 30),  # top-up (5000) and manage (999) logs are not consumption
    (LogFilter(username="alice"), 100 + 200 + 30),
    (LogFilter(model_name="gpt-4o"), 200 + 7),
    (LogFilter(start=T0 + DAY, end=T0 + 2 * DAY), 7 + 30),
    (LogFilter(channel_id=2, token_name="ci"), 200),
    (LogFilter(user_id=42), 0),
])
def test_consumed_quota_sums_consume_logs_only(database: Database, sample: list[dict[str, Any]],
                                               log_filter: LogFilter, expected: int) -> None:
    total = logs.consumed_quota(database, log_filter)
    assert total == expected
    assert type(total) is int


def test_consumed_quota_of_an_empty_table_is_zero(database: Database) -> None:
    assert logs.consumed_quota(database, LogFilter()) == 0


def test_search_by_type_number_or_content_prefix(database: Database, sample: list[dict[str, Any]]) -> None:
    assert _ids(logs.search(database, "2", 100)) == [6, 4, 2, 1]  # a number is a log type
    assert _ids(logs.search(database, "1", 100)) == [3]
    assert _ids(logs.search(database, "channel", 100)) == [7]  # content prefix...
    assert logs.search(database, "disabled", 100) == []  # ...not substring
    assert _ids(logs.search(database, "通过兑换码", 100)) == [3]
    assert _ids(logs.search(database, "admin", 100, user_id=1)) == [5]
    assert logs.search(database, "admin", 100, user_id=2) == []
    assert _ids(logs.search(database, "2", 100, user_id=2)) == [4]
    assert _ids(logs.search(database, "2", 2)) == [6, 4]


def test_search_digits_also_match_content(database: Database) -> None:
    logs.insert(database, _row(type=TYPE_SYSTEM, content="429 from upstream"))
    logs.insert(database, _row(type=TYPE_CONSUME, content=""))
    assert _ids(logs.search(database, "429", 10)) == [1]
    assert _ids(logs.search(database, "4", 10)) == [1]  # type 4 and content "4..." are the same row


def test_delete_before_counts_and_keeps_the_boundary(database: Database, sample: list[dict[str, Any]]) -> None:
    assert logs.delete_before(database, T0 + DAY) == 3  # strictly older
    assert _ids(logs.list_page(database, LogFilter(), 0, 100)) == [7, 6, 5, 4]
    assert logs.delete_before(database, T0 + DAY) == 0
    assert logs.delete_before(database, T0 + 10 * DAY) == 4
    assert logs.list_page(database, LogFilter(), 0, 100) == []


def test_daily_usage_groups_by_utc_day_and_model(database: Database) -> None:
    logs.insert_many(database, [
        _row(created_at=T0 + 1, model_name="gpt-4", quota=10, prompt_tokens=100, completion_tokens=5),
        _row(created_at=T0 + DAY - 1, model_name="gpt-4", quota=20, prompt_tokens=200, completion_tokens=6),
        _row(created_at=T0 + 3600, model_name="claude-3", quota=1, prompt_tokens=1, completion_tokens=1),
        _row(created_at=T0 + DAY, model_name="gpt-4", quota=40, prompt_tokens=400, completion_tokens=7),
        _row(created_at=T0 + 5, type=TYPE_TOPUP, quota=5000),  # not consumption
        _row(created_at=T0 + 5, user_id=2, quota=300),  # another user
        _row(created_at=T0 - 1, quota=3000),  # before `since`
    ])

    rows = logs.daily_usage(database, 1, T0)

    assert rows == [
        {"day": T0, "model_name": "claude-3", "request_count": 1, "quota": 1, "prompt_tokens": 1,
         "completion_tokens": 1},
        {"day": T0, "model_name": "gpt-4", "request_count": 2, "quota": 30, "prompt_tokens": 300,
         "completion_tokens": 11},
        {"day": T0 + DAY, "model_name": "gpt-4", "request_count": 1, "quota": 40, "prompt_tokens": 400,
         "completion_tokens": 7},
    ]
    # plain ints on every backend (MySQL and PostgreSQL return SUM() as DECIMAL): rows go to JSON as-is
    assert all(type(value) is int for row in rows for key, value in row.items() if key != "model_name")
    assert logs.daily_usage(database, 3, 0) == []


def test_daily_usage_days_follow_the_readers_utc_offset(database: Database) -> None:
    east, west = 8 * 3600, -5 * 3600  # Shanghai, New York (winter)
    logs.insert_many(database, [
        _row(created_at=T0 - 9 * 3600, quota=1),   # 15:00 the day before in UTC, 23:00 in Shanghai
        _row(created_at=T0 - 7 * 3600, quota=2),   # 01:00 of T0's day in Shanghai
        _row(created_at=T0 + 4 * 3600, quota=4),   # 23:00 the day before in New York
        _row(created_at=T0 + 6 * 3600, quota=8),   # 01:00 of T0's day in New York
    ])
    by_day = {row["day"]: row["quota"] for row in logs.daily_usage(database, 1, T0 - DAY, east)}
    assert by_day == {T0 - DAY: 1, T0: 2 + 4 + 8}
    by_day = {row["day"]: row["quota"] for row in logs.daily_usage(database, 1, T0 - 2 * DAY, west)}
    assert by_day == {T0 - DAY: 1 + 2 + 4, T0: 8}
    by_day = {row["day"]: row["quota"] for row in logs.daily_usage(database, 1, 0)}
    assert by_day == {T0 - DAY: 1 + 2, T0: 4 + 8}


@pytest.mark.parametrize(("log_filter", "expected"), [
    (LogFilter(), {"requests": 4, "quota": 100 + 200 + 7 + 30, "prompt_tokens": 10, "completion_tokens": 1}),
    (LogFilter(user_id=1), {"requests": 3, "quota": 330, "prompt_tokens": 10, "completion_tokens": 1}),
    (LogFilter(user_id=1, model_name="gpt-4o"), {"requests": 1, "quota": 200, "prompt_tokens": 0,
                                                 "completion_tokens": 0}),
    (LogFilter(user_id=42), {"requests": 0, "quota": 0, "prompt_tokens": 0, "completion_tokens": 0}),
])
def test_consume_totals_count_and_sum_consume_logs_only(database: Database, sample: list[dict[str, Any]],
                                                        log_filter: LogFilter, expected: dict[str, int]) -> None:
    totals = logs.consume_totals(database, log_filter)
    assert totals == expected
    assert all(type(v) is int for v in totals.values())
