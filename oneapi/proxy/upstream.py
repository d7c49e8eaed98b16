"""The one shared upstream HTTP client: pooled connections, RELAY_TIMEOUT, RELAY_PROXY.

Created when the application starts and closed when it stops (``cleanup_ctx``); handlers never open a
session of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from oneapi.proxy.adaptors.base import UpstreamCall
from oneapi.proxy.state import Relay

CONNECT_TIMEOUT = 15.0
ERROR_BODY_LIMIT = 1 << 20  # read at most 1 MiB of an upstream error body


def make_session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60)
    # trust_env=False: RELAY_PROXY is the only proxy (HTTP_PROXY in the environment would surprise operators).
    return aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True,
                                 timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT),
                                 skip_auto_headers=("User-Agent",))


def session_ctx(relay: Relay) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        relay.session = make_session()
        yield
        await relay.session.close()
        relay.session = None

    return ctx


async def send(relay: Relay, call: UpstreamCall, *, stream: bool) -> aiohttp.ClientResponse:
    """Start the upstream request; the caller reads and releases the response.

    RELAY_TIMEOUT bounds the whole exchange for a normal request, and the silence between two reads of a
    stream (a long answer that keeps streaming is not cut off).
    """
    seconds = relay.config.relay_timeout or None
    timeout = (aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=seconds) if stream
               else aiohttp.ClientTimeout(total=seconds, sock_connect=CONNECT_TIMEOUT))
    return await relay.upstream().request(call.method, call.url, data=call.body, headers=call.headers,
                                          timeout=timeout, proxy=relay.config.relay_proxy or None,
                                          allow_redirects=False)


async def read_limited(response: aiohttp.ClientResponse, limit: int = ERROR_BODY_LIMIT) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]
