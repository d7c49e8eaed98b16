"""Channel choice for the relay: the in-memory routing table (group, model) → priority tiers → channels.

Built from the channels table and rebuilt whenever a channel changes (``Channels.on_change``) and every
SYNC_FREQUENCY seconds, so the hot path never queries SQL. A tier is every enabled channel sharing one
priority; the highest tier that still has a usable channel wins, and within it a channel is drawn with
probability proportional to its ``weight``.

Decisions where One API differs (SPEC 4.1):
* One API ignores ``weight``; we honour it. A weight of 0 means "an equal share": the channel counts as the
  mean of the positive weights in its tier (so all-zero tiers are uniform).
* One API treats a top priority <= 0 as "every channel is a candidate" (a quirk). Here priorities are plain
  tiers whatever their sign.
* Retries exclude the channels that already failed; a lower tier is used only when the higher ones are
  exhausted. When every channel has failed, the one that failed least recently may be tried again rather
  than giving up (a lone channel can still recover from a transient 5xx).
"""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from types import MappingProxyType
from typing import Any

from oneapi.services import catalog
from oneapi.store.queries.channels import STATUS_ENABLED, split_list
from oneapi.wire.channel import RouteChannel


def _json_map(text: str | None) -> Mapping[str, Any]:
    if not text or not text.strip():
        return MappingProxyType({})
    try:
        data = json.loads(text)
    except ValueError:
        return MappingProxyType({})
    return MappingProxyType(data if isinstance(data, dict) else {})


def route_channel(row: Mapping[str, Any]) -> RouteChannel:
    """The relay's snapshot of one channels-table row, with its type's default base URL from the catalogue."""
    type_id = int(row["type"] or 0)
    kind = catalog.channel_type(type_id)
    return RouteChannel(id=int(row["id"]), type=type_id, name=row.get("name") or "",
                        key=row.get("key") or "", base_url=(row.get("base_url") or "").rstrip("/"),
                        status=int(row.get("status") or 0), priority=int(row.get("priority") or 0),
                        weight=max(0, int(row.get("weight") or 0)),
                        models=tuple(split_list(row.get("models"))), groups=tuple(split_list(row.get("group"))),
                        model_mapping=_json_map(row.get("model_mapping")), config=_json_map(row.get("config")),
                        other=row.get("other") or "", system_prompt=row.get("system_prompt") or "",
                        default_base_url=(kind.default_base_url if kind else "").rstrip("/"))


@dataclass(frozen=True)
class _Tier:
    priority: int
    channels: tuple[RouteChannel, ...]
    cumulative: tuple[float, ...]  # running sum of effective weights, for bisect

    @classmethod
    def of(cls, priority: int, channels: list[RouteChannel]) -> _Tier:
        positive = [c.weight for c in channels if c.weight > 0]
        share = sum(positive) / len(positive) if positive else 1.0
        weights = [c.weight if c.weight > 0 else share for c in channels]
        return cls(priority, tuple(channels), tuple(accumulate(weights)))

    def draw(self, exclude: frozenset[int], rng: random.Random) -> RouteChannel | None:
        if not exclude.isdisjoint(c.id for c in self.channels):
            usable = [c for c in self.channels if c.id not in exclude]
            return _Tier.of(self.priority, usable).draw(frozenset(), rng) if usable else None
        point = rng.random() * self.cumulative[-1]
        return self.channels[min(bisect_right(self.cumulative, point), len(self.channels) - 1)]


class RoutingTable:
    """Immutable once built; the relay swaps in a new table instead of mutating this one."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        channels = [route_channel(r) for r in rows]
        self._by_id = {c.id: c for c in channels}
        # Every (group, model) some channel lists, enabled or not: "no such model here" (404) versus "its
        # channels are all unavailable now" (503).
        self._listed = frozenset((g, m) for c in channels for g in c.groups for m in c.models)
        routes: dict[tuple[str, str], dict[int, list[RouteChannel]]] = {}
        for channel in channels:
            if channel.status != STATUS_ENABLED:
                continue
            for group in channel.groups:
                for model in channel.models:
                    routes.setdefault((group, model), {}).setdefault(channel.priority, []).append(channel)
        self._tiers = {key: tuple(_Tier.of(p, tiers[p]) for p in sorted(tiers, reverse=True))
                       for key, tiers in routes.items()}
        group_models: dict[str, set[str]] = {}
        for group, model in self._tiers:
            group_models.setdefault(group, set()).add(model)
        self._group_models = {g: tuple(sorted(ms)) for g, ms in group_models.items()}

    def channel(self, channel_id: int) -> RouteChannel | None:
        return self._by_id.get(channel_id)

    def channels(self) -> list[RouteChannel]:
        return list(self._by_id.values())

    def pick(self, group: str, model: str, exclude: Iterable[int] = (),
             rng: random.Random | None = None) -> RouteChannel | None:
        """A channel for (group, model): the highest tier with a channel not in ``exclude``, weighted."""
        tiers = self._tiers.get((group, model))
        if not tiers:
            return None
        excluded = frozenset(exclude)
        rng = rng or _RNG
        for tier in tiers:
            chosen = tier.draw(excluded, rng)
            if chosen is not None:
                return chosen
        return None

    def has_route(self, group: str, model: str) -> bool:
        return (group, model) in self._tiers

    def is_listed(self, group: str, model: str) -> bool:
        """Some channel, enabled or not, serves ``model`` to ``group``."""
        return (group, model) in self._listed

    def models_for_group(self, group: str) -> tuple[str, ...]:
        return self._group_models.get(group, ())


_RNG = random.Random()
