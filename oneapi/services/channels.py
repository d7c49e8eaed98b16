"""Channels: upstream credentials with their type, models, groups, priority and weight.

Keys are write-only through the API: list, search and get never return them. Creating a channel whose key
holds several lines creates one channel per line (One API's bulk add). Abilities are rebuilt with every
change (``store/queries/channels.py``), and listeners registered with :meth:`Channels.on_change` hear about
every change so routing tables can follow without polling.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from oneapi.channel_types import ChannelType
from oneapi.errors import ConflictError, InvalidInputError, NotFoundError, OneAPIError
from oneapi.redaction import redactor
from oneapi.services import catalog
from oneapi.services.inputs import MAX_SAFE_INT, Fields
from oneapi.services.logs import TYPE_SYSTEM, TYPE_TEST, Logs
from oneapi.services.options import Options
from oneapi.store.facade import Store
from oneapi.store.queries import channels as q
from oneapi.store.queries.channels import split_list
from oneapi.store.queries.common import PAGE_SIZE

KEY_MAX = 65_535
MAX_BULK = 1000
NEEDS_BASE_URL = {ChannelType.AZURE: "Azure OpenAI", ChannelType.CUSTOM: "Custom",
                  ChannelType.OPENAI_COMPATIBLE: "OpenAI-Compatible"}
STATUSES = (q.STATUS_ENABLED, q.STATUS_MANUALLY_DISABLED, q.STATUS_AUTO_DISABLED)

Listener = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class TestOutcome:
    ok: bool
    message: str        # the answer's text, or the error
    seconds: float
    model: str          # the model tested
    fatal: bool = False  # the error means the channel cannot work (SPEC 4.3's auto-disable rules)


class Prober(Protocol):
    """Talks to a channel's upstream (provided by the relay, which owns the adaptors and the HTTP client)."""

    async def test(self, channel: dict[str, Any], model: str) -> TestOutcome:
        ...

    async def balance(self, channel: dict[str, Any]) -> float:
        """The upstream account's balance in USD; raises InvalidInputError when the type has no balance API."""
        ...


def public(channel: dict[str, Any]) -> dict[str, Any]:
    """A channel row without its key."""
    out = dict(channel)
    out.pop("key", None)
    return out


def _json_object(name: str, text: str, *, values: type | None = None) -> str:
    if not text.strip():
        return ""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{name} is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{name} must be a JSON object")
    if values is not None and not all(isinstance(v, values) for v in data.values()):
        raise InvalidInputError(f"{name} values must be strings")
    return text


def _check_base_url(url: str) -> str:
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            raise InvalidInputError("base_url must be an http(s):// URL such as https://api.example.com")
    return url.rstrip("/")


def _check_groups(text: str) -> str:
    groups = split_list(text) or ["default"]
    joined = ",".join(groups)
    if len(joined) > 32:  # One API's column is varchar(32)
        raise InvalidInputError("group must be at most 32 characters (comma-separated group names)")
    return joined


def _fields(f: Fields, *, partial: bool) -> dict[str, Any]:
    """Checked channel fields from a request; with ``partial`` only those present."""
    out: dict[str, Any] = {}

    def want(name: str) -> bool:
        return not partial or f.has(name)

    if want("type"):
        type_id = f.int("type", required=not partial, default=ChannelType.OPENAI)
        if type_id == ChannelType.UNKNOWN or catalog.channel_type(type_id) is None:
            raise InvalidInputError(f"type {type_id} is not a known channel type (see GET /api/models)")
        out["type"] = type_id
    if want("name"):
        out["name"] = f.str("name", max_len=191)
    if want("base_url"):
        out["base_url"] = _check_base_url(f.str("base_url", max_len=1024))
    if want("other"):
        out["other"] = f.str("other", max_len=1024)
    if want("models"):
        models = split_list(f.str("models", max_len=65_535))
        if any(len(m) > 191 for m in models):
            raise InvalidInputError("each model name must be at most 191 characters")
        out["models"] = ",".join(models)
    if want("group"):
        out["group"] = _check_groups(f.str("group", max_len=1024))
    if want("model_mapping"):
        out["model_mapping"] = _json_object("model_mapping", f.str("model_mapping", max_len=1024), values=str)
    if want("config"):
        out["config"] = _json_object("config", f.str("config", max_len=65_535))
    if want("system_prompt"):
        out["system_prompt"] = f.str("system_prompt", max_len=65_535, strip=False)
    if want("priority"):
        out["priority"] = f.int("priority", low=-MAX_SAFE_INT, high=MAX_SAFE_INT)
    if want("weight"):
        out["weight"] = f.int("weight", low=0, high=1_000_000)
    if want("status"):
        status = f.int("status", default=q.STATUS_ENABLED)
        if status not in STATUSES:
            raise InvalidInputError("status must be 1 (enabled), 2 (disabled) or 3 (auto-disabled)")
        out["status"] = status
    return out


class Channels:
    def __init__(self, store: Store, logs: Logs, options: Options) -> None:
        self._store = store
        self._logs = logs
        self._options = options
        self._listeners: list[Listener] = []
        self._prober: Prober | None = None
        self._batch_test: asyncio.Task[None] | None = None
        self._pause = 0.0  # POLLING_INTERVAL between channels in batch operations
        self.batch_progress: dict[str, Any] = {"running": False, "done": 0, "total": 0}

    def set_prober(self, prober: Prober) -> None:
        self._prober = prober

    def _probe(self) -> Prober:
        if self._prober is None:
            raise InvalidInputError("channel tests need the relay, which is not running in this process")
        return self._prober

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def _changed(self) -> None:
        for listener in self._listeners:
            await listener()

    async def names(self, ids: list[int]) -> dict[int, str]:
        """{id: name} of these channels (the dashboard shows channels by name)."""
        names: dict[int, str] = await self._store.read(q.names, ids)
        return names

    async def list_page(self, page: int) -> list[dict[str, Any]]:
        return [public(c) for c in await self._store.read(q.list_page, page * PAGE_SIZE, PAGE_SIZE)]

    async def search(self, keyword: str) -> list[dict[str, Any]]:
        if len(keyword) > 191:
            raise InvalidInputError("keyword must be at most 191 characters")
        return [public(c) for c in await self._store.read(q.search, keyword, 100)]

    async def get(self, channel_id: int) -> dict[str, Any]:
        channel = await self._store.read(q.get, channel_id)
        if channel is None:
            raise NotFoundError(f"channel {channel_id} does not exist")
        return channel

    async def create(self, body: Any) -> list[int]:
        f = Fields(body)
        fields = _fields(f, partial=False)
        keys_text = f.str("key", max_len=KEY_MAX * MAX_BULK, required=True, strip=False)
        channel_keys = [k.strip() for k in keys_text.split("\n") if k.strip()]
        if not channel_keys:
            raise InvalidInputError("key is required")
        if len(channel_keys) > MAX_BULK:
            raise InvalidInputError(f"at most {MAX_BULK} keys (one channel each) per request")
        if any(len(k) > KEY_MAX for k in channel_keys):
            raise InvalidInputError(f"each key must be at most {KEY_MAX} characters")
        if fields["type"] in NEEDS_BASE_URL and not fields.get("base_url"):
            raise InvalidInputError(f"a {NEEDS_BASE_URL[fields['type']]} channel needs a base_url")
        now = int(time.time())
        rows = [{**fields, "key": key, "created_time": now} for key in channel_keys]
        ids = await self._store.write(q.insert_many, rows)
        await self._changed()
        return ids

    async def update(self, body: Any) -> dict[str, Any]:
        f = Fields(body)
        channel_id = f.int("id", required=True, low=1)
        current = await self.get(channel_id)
        fields = _fields(f, partial=True)
        key = f.str("key", max_len=KEY_MAX, strip=False).strip()
        if key:  # an empty key means "keep the current one", as the editor sends it
            if "\n" in key:
                raise InvalidInputError("key must be a single key when updating a channel")
            fields["key"] = key
        merged = {**current, **fields}
        if merged["type"] in NEEDS_BASE_URL and not merged.get("base_url"):
            raise InvalidInputError(f"a {NEEDS_BASE_URL[merged['type']]} channel needs a base_url")
        await self._store.write(q.update, channel_id, fields)
        await self._changed()
        return public(merged)

    async def set_status(self, channel_id: int, status: int) -> None:
        if not await self._store.write(q.set_status, channel_id, status):
            raise NotFoundError(f"channel {channel_id} does not exist")
        await self._changed()

    async def delete(self, channel_id: int) -> None:
        if not await self._store.write(q.delete, channel_id):
            raise NotFoundError(f"channel {channel_id} does not exist")
        await self._changed()

    # -- tests and balances (SPEC 4.4, 4.5) --------------------------------------------------------

    async def test(self, channel_id: int, model: str = "") -> dict[str, Any]:
        """Send one test request; record response time, test time and a type-5 log."""
        if len(model) > 191:
            raise InvalidInputError("model must be at most 191 characters")
        channel = await self.get(channel_id)
        redactor.register_key(channel["key"])
        outcome = await self._probe().test(channel, model)
        # Admins see why a test failed (the upstream's words, the address that did not answer), but never a
        # credential: admins cannot read channel keys, and the log row outlives the test.
        outcome = replace(outcome, message=redactor.mask(outcome.message))
        now = int(time.time())
        await self._store.write(q.record_test, channel_id, now, int(outcome.seconds * 1000) if outcome.ok else 0)
        verdict = f"测试成功，响应：{outcome.message}" if outcome.ok else f"测试失败，错误：{outcome.message}"
        await self._logs.record(0, TYPE_TEST, f"渠道 {channel['name']} {verdict} (channel test)"[:2000])
        return {"success": outcome.ok, "message": outcome.message, "time": round(outcome.seconds, 3),
                "modelName": outcome.model, "fatal": outcome.fatal}

    async def test_all(self, scope: str = "all") -> None:
        """Start testing every channel (``disabled``: only disabled ones) one after another in the background.

        Auto-disable rules apply to failures and to answers slower than ChannelDisableThreshold; with
        AutomaticEnableChannelEnabled a passing channel that was auto-disabled comes back. One batch at a time.
        """
        if scope not in ("all", "disabled"):
            raise InvalidInputError("scope must be all or disabled")
        if self._batch_test is not None and not self._batch_test.done():
            raise ConflictError("a test of all channels is already running")
        self._probe()
        self._batch_test = asyncio.get_running_loop().create_task(self._run_batch(scope))

    async def wait_batch(self) -> None:
        if self._batch_test is not None:
            await asyncio.shield(self._batch_test)

    async def _run_batch(self, scope: str) -> None:
        rows = await self._store.read(q.list_all)
        if scope == "disabled":
            rows = [r for r in rows if r["status"] != q.STATUS_ENABLED]
        self.batch_progress = {"running": True, "done": 0, "total": len(rows)}
        threshold = self._options.get_float("ChannelDisableThreshold")
        try:
            for index, row in enumerate(rows):
                if index and self._pause:
                    await asyncio.sleep(self._pause)
                try:
                    result = await self.test(row["id"])
                except NotFoundError:
                    continue
                await self._after_batch_test(row, result, threshold)
                self.batch_progress["done"] = index + 1
        finally:
            self.batch_progress["running"] = False

    def set_polling_interval(self, seconds: float) -> None:
        self._pause = seconds

    async def _after_batch_test(self, row: dict[str, Any], result: dict[str, Any], threshold: float) -> None:
        ok = result["success"]
        slow = ok and threshold > 0 and result["time"] > threshold
        if row["status"] == q.STATUS_ENABLED and (result["fatal"] or slow):
            if self._options.get_bool("AutomaticDisableChannelEnabled"):
                why = f"took {result['time']:.1f} s (limit {threshold:g} s)" if slow else result["message"]
                await self.set_status(row["id"], q.STATUS_AUTO_DISABLED)
                await self._logs.record(0, TYPE_SYSTEM, f"渠道「{row['name']}」（#{row['id']}）已被禁用 "
                                                        f"(channel disabled by a test): {why}"[:2000])
        elif ok and not slow and row["status"] == q.STATUS_AUTO_DISABLED \
                and self._options.get_bool("AutomaticEnableChannelEnabled"):
            # One API also re-enables manually disabled channels (a quirk): we only undo automatic disabling.
            await self.set_status(row["id"], q.STATUS_ENABLED)
            await self._logs.record(0, TYPE_SYSTEM, f"渠道「{row['name']}」（#{row['id']}）已被启用 "
                                                    "(channel re-enabled by a passing test)")

    async def update_balance(self, channel_id: int) -> float:
        channel = await self.get(channel_id)
        redactor.register_key(channel["key"])
        try:
            balance = await self._probe().balance(channel)
        except OneAPIError as exc:
            exc.message = redactor.mask(exc.message)
            raise
        await self._store.write(q.record_balance, channel_id, balance, int(time.time()))
        return balance

    async def update_all_balances(self) -> int:
        """Refresh every enabled channel's balance where its type supports it; returns how many updated."""
        updated = 0
        for row in await self._store.read(q.list_all):
            if row["status"] != q.STATUS_ENABLED:
                continue
            try:
                await self.update_balance(row["id"])
                updated += 1
            except OneAPIError:
                continue
            if self._pause:
                await asyncio.sleep(self._pause)
        return updated

    async def delete_disabled(self) -> int:
        count = await self._store.write(q.delete_disabled)
        await self._changed()
        return count
