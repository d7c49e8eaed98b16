"""Short-lived upstream credentials (Baidu's access tokens), exchanged by the relay for adaptors that ask.

Cached per (channel type, base URL, key); refreshed when less than a tenth of the lifetime (at most an hour)
is left; one exchange at a time per key, shared by every request that needs it. The cache is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

import aiohttp

from oneapi.proxy.adaptors.base import CredentialExchange
from oneapi.proxy.failures import network_failure
from oneapi.proxy.upstream import send
from oneapi.redaction import redactor
from oneapi.wire.channel import RouteChannel

if TYPE_CHECKING:  # for annotations only: importing it would make a cycle
    from oneapi.proxy.state import Relay

MAX_ENTRIES = 10_000
MAX_MARGIN = 3600.0

Key = tuple[int, str, str]


class Credentials:
    def __init__(self, relay: Relay) -> None:
        self._relay = relay
        self._cache: OrderedDict[Key, tuple[str, float, float]] = OrderedDict()  # value, expires, margin
        self._running: dict[Key, asyncio.Future[str]] = {}

    @staticmethod
    def key(channel: RouteChannel) -> Key:
        return (channel.type, channel.base_url, channel.key)

    def forget(self, channel: RouteChannel) -> None:
        self._cache.pop(self.key(channel), None)

    async def get(self, adaptor: CredentialExchange, channel: RouteChannel) -> str:
        key = self.key(channel)
        cached = self._cache.get(key)
        if cached is not None and cached[1] - time.monotonic() > cached[2]:
            return cached[0]
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await self._exchange(adaptor, channel, key)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            del self._running[key]

    async def _exchange(self, adaptor: CredentialExchange, channel: RouteChannel, key: Key) -> str:
        call = adaptor.credential_request(channel)
        try:
            response = await send(self._relay, call, stream=False)
            try:
                body = await response.read()
            finally:
                response.release()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # the exception names the token URL, client_secret included: the client gets a category
            raise network_failure(channel.id, "credential exchange", exc) from None
        value, lifetime = adaptor.parse_credential(response.status, body)
        redactor.register(value)
        margin = min(MAX_MARGIN, lifetime / 10)
        self._cache[key] = (value, time.monotonic() + lifetime, margin)
        if len(self._cache) > MAX_ENTRIES:
            self._cache.popitem(last=False)
        return value
