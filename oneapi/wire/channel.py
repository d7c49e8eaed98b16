"""One channel as the relay and the adaptors see it: an immutable snapshot, built by the routing table from the
channels table (``services.routing.route_channel``) and read by every adaptor's ``build``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RouteChannel:
    """An immutable snapshot of one channel, with everything the relay needs to call it."""

    id: int
    type: int
    name: str
    key: str = field(repr=False)
    base_url: str  # as the operator set it (empty: none), without a trailing slash
    status: int
    priority: int
    weight: int
    models: tuple[str, ...]
    groups: tuple[str, ...]
    model_mapping: Mapping[str, Any]
    config: Mapping[str, Any]
    other: str
    system_prompt: str
    # The channel type's default base URL from the catalogue, for a channel that sets none: carried here so an
    # adaptor reads it without loading the catalogue's room (services).
    default_base_url: str = ""

    def upstream_model(self, model: str) -> str:
        """The model name after this channel's model_mapping (the name billed and logged)."""
        mapped = self.model_mapping.get(model)
        return mapped if isinstance(mapped, str) and mapped else model
