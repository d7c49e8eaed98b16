"""The relay's shared state: routing table, ledger, tokenizer, upstream sessions and channel health.

One :class:`Relay` per server, created in ``server.py`` and stored on the application. The routing table is
replaced (never mutated) when channels change, so a request in flight keeps a consistent view.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp

from oneapi.channel_types import ChannelType, known_type
from oneapi.config import Config
from oneapi.errors import OneAPIError
from oneapi.proxy.adaptors import adaptor_for, gemini, vertex
from oneapi.proxy.adaptors.base import Adaptor, TranslatingAdaptor
from oneapi.proxy.credentials import Credentials
from oneapi.proxy.health import SuccessWindow, should_disable
from oneapi.proxy.tokenizer import Tokenizer
from oneapi.redaction import redactor
from oneapi.services import Services
from oneapi.services.logs import TYPE_SYSTEM
from oneapi.services.pricing import PriceTables
from oneapi.services.routing import RoutingTable
from oneapi.store.queries import channels as channel_q

log = logging.getLogger("oneapi.relay")


class ReportThrottle:
    """At most one report per key every ``seconds``, counting the ones held back (bounded: a key per channel)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._last: dict[int, tuple[float, int]] = {}

    def admit(self, key: int) -> int | None:
        """None: hold this report back; else how many were held back since the last one."""
        now = time.monotonic()
        last, held = self._last.get(key, (-self._seconds, 0))
        if now - last < self._seconds:
            self._last[key] = (last, held + 1)
            return None
        self._last[key] = (now, 0)
        return held


class Relay:
    def __init__(self, config: Config, services: Services, tokenizer: Tokenizer) -> None:
        self.config = config
        self.services = services
        self.options = services.options
        self.ledger = services.ledger
        self.tokenizer = tokenizer
        self.routes = RoutingTable([])
        self.session: aiohttp.ClientSession | None = None
        self.content_session: aiohttp.ClientSession | None = None  # fetches user-supplied URLs (user_content)
        self.metrics = SuccessWindow(config.metric_queue_size, config.metric_success_rate_threshold)
        self.anomalies = ReportThrottle(60.0)
        self.failures = ReportThrottle(10.0)  # network failures, per channel: a dead upstream fails every call
        self._prices: tuple[tuple[str, str, str], PriceTables] | None = None
        self._reload_lock = asyncio.Lock()
        self.credentials = Credentials(self)
        # Adaptors that take settings (GEMINI_VERSION, GEMINI_SAFETY_SETTING), built once per server.
        self._configured: dict[ChannelType, TranslatingAdaptor] = {
            ChannelType.GEMINI: gemini.make_adaptor(config.gemini_version, config.gemini_safety_setting),
            ChannelType.VERTEXAI: vertex.make_adaptor(config.gemini_safety_setting)}
        services.channels.on_change(self.reload_routes)

    def adaptor_for(self, channel_type: int) -> Adaptor | TranslatingAdaptor | None:
        kind = known_type(channel_type)
        configured = self._configured.get(kind) if kind is not None else None
        return configured or adaptor_for(channel_type)

    async def reload_routes(self) -> None:
        async with self._reload_lock:
            rows = await self.services.store.read(channel_q.list_all)
            for row in rows:  # upstream keys are masked wherever this process writes or answers text
                redactor.register_key(row.get("key"))
            self.routes = RoutingTable(rows)

    def prices(self) -> PriceTables:
        """Price tables from the ratio options, rebuilt only when an option changed."""
        opts = self.options
        key = (opts.get("ModelRatio"), opts.get("CompletionRatio"), opts.get("GroupRatio"))
        if self._prices is None or self._prices[0] != key:
            self._prices = (key, PriceTables.from_options(opts))
        return self._prices[1]

    def upstream(self) -> aiohttp.ClientSession:
        if self.session is None:
            raise RuntimeError("the upstream session is not open")
        return self.session

    def user_content(self) -> aiohttp.ClientSession:
        if self.content_session is None:
            raise RuntimeError("the user content session is not open")
        return self.content_session

    async def channel_failed(self, channel_id: int, status: int, error: OneAPIError) -> None:
        """Record a failure; disable the channel when SPEC 4.3's rules or the success window say so."""
        if error.detail:  # what the client was not told (the address, the exception): the operator's
            held = self.failures.admit(channel_id)
            if held is not None:
                log.warning("%s%s", error.detail, f" ({held} more on this channel since the last report)" if held
                            else "")
        reason = None
        if self.options.get_bool("AutomaticDisableChannelEnabled"):
            reason = should_disable(status, error)
        if reason is None and self.config.enable_metric:
            rate = self.metrics.record(channel_id, False)
            if rate is not None:
                reason = f"success rate {rate:.0%} fell below {self.config.metric_success_rate_threshold:.0%}"
        if reason is not None:
            await self.disable_channel(channel_id, reason)

    def channel_succeeded(self, channel_id: int) -> None:
        if self.config.enable_metric:
            self.metrics.record(channel_id, True)

    async def disable_channel(self, channel_id: int, reason: str) -> None:
        channel = self.routes.channel(channel_id)
        if channel is None or channel.status != channel_q.STATUS_ENABLED:
            return
        log.warning("channel #%d %r automatically disabled: %s", channel_id, channel.name, reason)
        self.metrics.forget(channel_id)
        try:
            await self.services.channels.set_status(channel_id, channel_q.STATUS_AUTO_DISABLED)
            await self.services.logs.record(0, TYPE_SYSTEM,
                                            f"渠道「{channel.name}」（#{channel_id}）已被禁用 (channel automatically "
                                            f"disabled): {reason}")
        except OneAPIError:
            log.exception("could not disable channel #%d", channel_id)
