"""Logs: recording system/manage/top-up entries, and the admin and self views with One API's filters."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from oneapi.errors import InvalidInputError
from oneapi.services.events import EventHub
from oneapi.services.inputs import parse_query_int
from oneapi.services.ledger import Ledger
from oneapi.store.facade import Store
from oneapi.store.queries import logs as q
from oneapi.store.queries.accounting import LogRow
from oneapi.store.queries.common import PAGE_SIZE
from oneapi.store.queries.logs import LogFilter

TYPE_TOPUP, TYPE_CONSUME, TYPE_MANAGE, TYPE_SYSTEM, TYPE_TEST = (q.TYPE_TOPUP, q.TYPE_CONSUME, q.TYPE_MANAGE,
                                                                 q.TYPE_SYSTEM, q.TYPE_TEST)
SEARCH_LIMIT = 100


def filter_from_query(query: Any, *, admin: bool, user_id: int = 0) -> LogFilter:
    """One API's query parameters → a LogFilter. Users never filter by username or channel."""
    def text(name: str) -> str:
        value = query.get(name, "") or ""
        if len(value) > 191:
            raise InvalidInputError(f"{name} must be at most 191 characters")
        return str(value)

    return LogFilter(
        log_type=parse_query_int("type", query.get("type"), low=0, high=5),
        start=parse_query_int("start_timestamp", query.get("start_timestamp")),
        end=parse_query_int("end_timestamp", query.get("end_timestamp")),
        user_id=user_id,
        username=text("username") if admin else "",
        token_name=text("token_name"),
        model_name=text("model_name"),
        channel_id=parse_query_int("channel", query.get("channel")) if admin else 0,
    )


class Logs:
    def __init__(self, store: Store, events: EventHub | None = None, ledger: Ledger | None = None) -> None:
        self._store = store
        self._events = events
        self._ledger = ledger

    async def record(self, user_id: int, log_type: int, content: str, username: str = "",
                     quota: int = 0) -> None:
        """Write a log row that goes with no balance change (money moves use :meth:`row` and
        :meth:`committed`, so that the row is in the balance's transaction)."""
        row = self.row(user_id, log_type, content, username, quota).checked()
        written = await self._store.write(q.insert, row)
        if self._events is not None:
            self._events.publish("log", {"log": public({**row.as_dict(), "id": written})})

    @staticmethod
    def row(user_id: int, log_type: int, content: str, username: str = "", quota: int = 0) -> LogRow:
        return LogRow(user_id=user_id, type=log_type, content=content, username=username, quota=quota)

    def committed(self, rows: list[LogRow], leftover: list[LogRow]) -> None:
        """A money move committed with ``rows``: queue the ones its transaction could not take (logs in
        another database) on the ledger's journaled queue, and publish all of them."""
        for row in leftover:
            if self._ledger is None:
                raise RuntimeError("a log row needs the ledger, which this Logs was built without")
            self._ledger.add_log(row)
        if self._events is not None:
            for row in rows:
                self._events.publish("log", {"log": public(row.checked().as_dict())})

    async def page(self, f: LogFilter, page: int) -> list[dict[str, Any]]:
        return await self._store.read(q.list_page, f, page * PAGE_SIZE, PAGE_SIZE)

    async def self_page(self, user_id: int, f: LogFilter, page: int) -> list[dict[str, Any]]:
        rows = await self.page(LogFilter(**{**f.__dict__, "user_id": user_id}), page)
        return [public_self(r) for r in rows]

    async def stat(self, f: LogFilter) -> int:
        return await self._store.read(q.consumed_quota, f)

    async def totals(self, f: LogFilter) -> dict[str, int]:
        """``{requests, quota, prompt_tokens, completion_tokens}`` of the consume logs matching ``f``."""
        return await self._store.read(q.consume_totals, f)

    async def search(self, keyword: str, user_id: int = 0) -> list[dict[str, Any]]:
        if len(keyword) > 191:
            raise InvalidInputError("keyword must be at most 191 characters")
        if user_id:
            # One API's self search takes the keyword as a log type.
            # isascii: '²'.isdigit() is True but int('²') fails; the length keeps int64 columns from overflowing.
            if not (keyword.isascii() and keyword.isdigit()) or len(keyword) > 9:
                raise InvalidInputError("keyword must be a log type number (1 top-up, 2 consume, 3 manage, 4 system)")
            rows = await self._store.read(q.list_page, LogFilter(log_type=int(keyword), user_id=user_id),
                                          0, SEARCH_LIMIT)
            return [public_self(r) for r in rows]
        return await self._store.read(q.search, keyword, SEARCH_LIMIT)

    async def delete_before(self, timestamp: int) -> int:
        return await self._store.write(q.delete_before, timestamp)

    async def dashboard(self, user_id: int, days: int = 7, utc_offset: int = 0) -> list[dict[str, Any]]:
        """The last ``days`` days (today included) per day and model; days are UTC days unless ``utc_offset``
        (seconds east of UTC) names the reader's zone."""
        if not 1 <= days <= 366 or not -86400 < utc_offset < 86400:
            raise InvalidInputError("days must be 1 to 366 and utc_offset within a day")
        today = (int(time.time()) + utc_offset) // 86400 * 86400
        rows = await self._store.read(q.daily_usage, user_id, today - (days - 1) * 86400 - utc_offset, utc_offset)
        # Go field names, as One API's dashboard returns them (quirk kept: its web UI reads these keys).
        return [{"Day": datetime.fromtimestamp(int(r["day"]), UTC).strftime("%Y-%m-%d"),
                 "ModelName": r["model_name"], "RequestCount": int(r["request_count"]),
                 "Quota": int(r["quota"] or 0), "PromptTokens": int(r["prompt_tokens"] or 0),
                 "CompletionTokens": int(r["completion_tokens"] or 0)} for r in rows]


def public_self(row: dict[str, Any]) -> dict[str, Any]:
    """A log row as its own user sees it: One API omits the id; the channel column is named ``channel``."""
    out = public(row)
    out.pop("id", None)
    return out


def public(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["channel"] = out.pop("channel_id", 0)
    return out
