"""Channels: upstream credentials with their type, models, groups, priority and weight.

Keys are write-only through the API: list, search and get never return them. Creating a channel whose key
holds several lines creates one channel per line (One API's bulk add). Abilities are rebuilt with every
change (``store/queries/channels.py``), and listeners registered with :meth:`Channels.on_change` hear about
every change so routing tables can follow without polling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from oneapi.errors import InvalidInputError, NotFoundError
from oneapi.services import catalog
from oneapi.services.inputs import MAX_SAFE_INT, Fields
from oneapi.store.facade import Store
from oneapi.store.queries import channels as q
from oneapi.store.queries.channels import split_list
from oneapi.store.queries.common import PAGE_SIZE

KEY_MAX = 65_535
MAX_BULK = 1000
NEEDS_BASE_URL = {3: "Azure OpenAI", 8: "Custom", 50: "OpenAI-Compatible"}
STATUSES = (q.STATUS_ENABLED, q.STATUS_MANUALLY_DISABLED, q.STATUS_AUTO_DISABLED)

Listener = Callable[[], Awaitable[None]]


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
        type_id = f.int("type", required=not partial, default=1)
        if type_id == 0 or catalog.channel_type(type_id) is None:
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
    def __init__(self, store: Store) -> None:
        self._store = store
        self._listeners: list[Listener] = []

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def _changed(self) -> None:
        for listener in self._listeners:
            await listener()

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

    async def delete_disabled(self) -> int:
        count = await self._store.write(q.delete_disabled)
        await self._changed()
        return count
