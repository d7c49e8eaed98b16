"""The one shared upstream HTTP client: pooled connections, RELAY_TIMEOUT, RELAY_PROXY.

Created when the application starts and closed when it stops (``cleanup_ctx``); handlers never open a
session of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

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


WS_HANDSHAKE_TIMEOUT = 5.0
WS_IDLE_TIMEOUT = 60.0


class WebSocketAnswer:
    """A websocket dialogue presented like an HTTP response to the relay: each received frame is one line of
    ``content``; the dialogue ends when the server closes. (Spark answers over a websocket.)"""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, idle_timeout: float) -> None:
        self.status = 200
        self.headers = {"Content-Type": "application/x-ndjson"}
        self._ws = ws
        self._idle = idle_timeout
        self.content = self

    async def iter_any(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._ws.receive(timeout=self._idle)
            if message.type == aiohttp.WSMsgType.TEXT:
                yield message.data.encode() + b"\n"
            elif message.type == aiohttp.WSMsgType.BINARY:
                yield message.data + b"\n"
            elif message.type == aiohttp.WSMsgType.ERROR:
                raise aiohttp.ClientConnectionError(f"websocket error: {message.data}")
            else:  # CLOSE, CLOSING, CLOSED
                return

    async def read(self) -> bytes:
        return b"".join([frame async for frame in self.iter_any()])

    def release(self) -> None:
        if not self._ws.closed:
            asyncio.get_running_loop().create_task(self._ws.close())

    close = release


class HandshakeRefusal:
    """A websocket upgrade the server refused, with its HTTP status, as an error answer for the adaptor."""

    def __init__(self, status: int, message: str) -> None:
        self.headers: dict[str, str] = {}
        self.status = status
        self._body = message.encode()
        self.content = self

    async def iter_any(self) -> AsyncIterator[bytes]:
        yield self._body

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        pass

    close = release


async def open_websocket(relay: Relay, call: UpstreamCall) -> WebSocketAnswer | HandshakeRefusal:
    idle = float(relay.config.relay_timeout or WS_IDLE_TIMEOUT)
    try:
        ws = await asyncio.wait_for(
            relay.upstream().ws_connect(call.url, headers=call.headers, proxy=relay.config.relay_proxy or None,
                                        max_msg_size=16 * 1024 * 1024), WS_HANDSHAKE_TIMEOUT)
    except aiohttp.WSServerHandshakeError as exc:
        return HandshakeRefusal(exc.status, await _refusal_body(relay, call) or exc.message)
    if call.body:
        await ws.send_str(call.body.decode())
    return WebSocketAnswer(ws, idle)


async def _refusal_body(relay: Relay, call: UpstreamCall) -> str:
    """aiohttp drops the body of a refused websocket upgrade; ask the same signed URL over plain HTTP(S) to
    hear why (Spark explains a bad signature there). Empty when that fails too."""
    url = "http" + call.url[2:] if call.url.startswith("ws") else call.url
    try:
        async with relay.upstream().get(url, headers=call.headers, timeout=aiohttp.ClientTimeout(total=5),
                                        proxy=relay.config.relay_proxy or None) as resp:
            return (await read_limited(resp, 64 * 1024)).decode("utf-8", "replace")
    except (aiohttp.ClientError, TimeoutError, OSError):
        return ""


async def send(relay: Relay, call: UpstreamCall, *, stream: bool) -> Any:
    """Start the upstream request; the caller reads and releases the response (an aiohttp ClientResponse, or
    a WebSocketAnswer for websocket calls).

    RELAY_TIMEOUT bounds the whole exchange for a normal request, and the silence between two reads of a
    stream (a long answer that keeps streaming is not cut off).
    """
    if call.method == "WS":
        return await open_websocket(relay, call)
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
