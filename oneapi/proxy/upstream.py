"""The one shared upstream HTTP client: pooled connections, the upstream timeouts, RELAY_PROXY.

Created when the application starts and closed when it stops (``cleanup_ctx``); handlers never open a
session of their own.

A hung upstream must not hold a client and its reservation for as long as the client waits, so every call is
bounded three ways, each with a non-zero default: opening the connection (RELAY_CONNECT_TIMEOUT), the wait for
the answer to start (RELAY_FIRST_BYTE_TIMEOUT: a non-stream answer arrives once the model has finished, so this
one is generous) and the silence while the answer arrives (RELAY_IDLE_TIMEOUT, between two chunks of a stream).
RELAY_TIMEOUT stays One API's bound on the whole exchange, streams included (0: none). A timeout raises a
``TimeoutError`` (aiohttp's ``ServerTimeoutError`` and friends are ones) that the relay treats as any network
error: the attempt's reservation is refunded, and the next channel is tried.

A call may name what follows it (``UpstreamCall.follow``, ``epilogue``: Replicate creates a prediction, then
polls or streams it); :func:`follow_through` makes those calls and hands the relay one answer, as it does for a
websocket dialogue, so the relay's delivery is the same for every adaptor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from oneapi.config import Config
from oneapi.proxy import user_content
from oneapi.proxy.adaptors.base import Collected, FollowUp, UpstreamCall

if TYPE_CHECKING:  # for annotations only: importing it would make a cycle
    from oneapi.proxy.state import Relay

ERROR_BODY_LIMIT = 1 << 20  # read at most 1 MiB of an upstream error body


def make_session(config: Config) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60)
    # trust_env=False: RELAY_PROXY is the only proxy (HTTP_PROXY in the environment would surprise operators).
    return aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True,
                                 timeout=call_timeout(config), skip_auto_headers=("User-Agent",))


def call_timeout(config: Config) -> aiohttp.ClientTimeout:
    """The bounds of one upstream call until its answer starts; :func:`await_answer` then switches the read
    bound to RELAY_IDLE_TIMEOUT for the body."""
    return aiohttp.ClientTimeout(total=config.relay_timeout or None, sock_connect=config.relay_connect_timeout,
                                 sock_read=config.relay_first_byte_timeout)


def session_ctx(relay: Relay) -> Callable[[web.Application], AsyncIterator[None]]:
    """Opens the upstream session and the one that fetches user-supplied URLs (its connector is fenced:
    ``user_content``), and closes both."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        relay.session = make_session(relay.config)
        relay.content_session = user_content.make_session(relay.config)
        yield
        await relay.session.close()
        await relay.content_session.close()
        relay.session = relay.content_session = None

    return ctx


WS_HANDSHAKE_TIMEOUT = 5.0


class WebSocketAnswer:
    """A websocket dialogue presented like an HTTP response to the relay: each received frame is one line of
    ``content``; the dialogue ends when the server closes. (Spark answers over a websocket.)

    Bounded as HTTP answers are: RELAY_IDLE_TIMEOUT between two frames, RELAY_TIMEOUT (``deadline``, a loop
    time) for the whole dialogue."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, idle_timeout: float, deadline: float | None) -> None:
        self.status = 200
        self.headers = {"Content-Type": "application/x-ndjson"}
        self._ws = ws
        self._idle = idle_timeout
        self._deadline = deadline
        self.content = self

    def _next_wait(self) -> float:
        if self._deadline is None:
            return self._idle
        # never 0: aiohttp reads receive(timeout=0) as "no timeout"
        return max(0.001, min(self._idle, self._deadline - asyncio.get_running_loop().time()))

    async def iter_any(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._ws.receive(timeout=self._next_wait())
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
    config = relay.config
    deadline = asyncio.get_running_loop().time() + config.relay_timeout if config.relay_timeout else None
    try:
        ws = await asyncio.wait_for(
            relay.upstream().ws_connect(call.url, headers=call.headers, proxy=relay.config.relay_proxy or None,
                                        max_msg_size=16 * 1024 * 1024), WS_HANDSHAKE_TIMEOUT)
    except aiohttp.WSServerHandshakeError as exc:
        return HandshakeRefusal(exc.status, await _refusal_body(relay, call) or exc.message)
    if call.body:
        await ws.send_str(call.body.decode())
    return WebSocketAnswer(ws, config.relay_idle_timeout, deadline)


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

    Returns once the answer has started (status and headers), within RELAY_CONNECT_TIMEOUT +
    RELAY_FIRST_BYTE_TIMEOUT; reading the body is then bounded by RELAY_IDLE_TIMEOUT between two reads, and
    everything by RELAY_TIMEOUT (streams too, as One API does). ``stream`` changes none of these bounds: a
    non-stream answer, which starts only once the model is done, is covered by the first-byte bound.
    """
    if call.method == "WS":
        return await open_websocket(relay, call)
    response = await _request(relay, call)
    if call.follow is None and call.epilogue is None:
        return response
    return await follow_through(relay, call, response)


async def _request(relay: Relay, call: UpstreamCall) -> aiohttp.ClientResponse:
    # The bounds are the session's own (make_session: call_timeout), set once rather than per request.
    response = await relay.upstream().request(call.method, call.url, data=call.body, headers=call.headers,
                                              proxy=relay.config.relay_proxy or None, allow_redirects=False)
    idle_from_now(response, relay.config.relay_idle_timeout)
    return response


STEP_BODY_LIMIT = 16 * 1024 * 1024  # an intermediate answer (a prediction) is read whole, up to this


async def follow_through(relay: Relay, call: UpstreamCall, response: aiohttp.ClientResponse) -> Any:
    """A multi-step exchange: each answer is read and handed to its call's ``follow``, which names the next call
    (after its delay) until one answer is final, or hands back the answer it collected from all of them. The
    steps together are bounded by RELAY_TIMEOUT, or when that is 0 by RELAY_FIRST_BYTE_TIMEOUT (they are the
    wait for the answer to start): a step that would start after the bound is not made, and the last answer (a
    prediction still running) is delivered as it is, for the adaptor to report; the step's ``abandon`` call is
    made then, and when the client leaves during the exchange. The final answer is the live response when its
    call has no ``follow`` (a stream), else the buffered last (or collected) answer."""
    loop = asyncio.get_running_loop()
    config = relay.config
    deadline = loop.time() + (config.relay_timeout or config.relay_first_byte_timeout)
    step: FollowUp | None = None
    try:
        while call.follow is not None:
            try:
                body = await read_limited(response, STEP_BODY_LIMIT)
            finally:
                response.release()
            found = call.follow(response.status, body)
            if isinstance(found, Collected):
                return BufferedAnswer(response.status, response.headers, found.body)
            step = found
            if step is None:
                return BufferedAnswer(response.status, response.headers, body)
            if loop.time() + step.delay >= deadline:
                abandon(relay, step.abandon)
                return BufferedAnswer(response.status, response.headers, body)
            await asyncio.sleep(step.delay)
            call = step.call
            response = await _request(relay, call)
    except asyncio.CancelledError:  # the client left while the exchange was under way
        if step is not None:
            abandon(relay, step.abandon)
        raise
    if call.epilogue is not None and response.status in (200, 201):
        return WithEpilogue(relay, response, call.epilogue)
    return response


ABANDON_TIMEOUT = 10.0
_abandoning: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references to tasks


def abandon(relay: Relay, call: UpstreamCall | None) -> None:
    """Make ``call`` in the background, best effort (nobody waits for its answer)."""
    if call is None:
        return

    async def send_it() -> None:
        try:
            response = await relay.upstream().request(call.method, call.url, data=call.body, headers=call.headers,
                                                      timeout=aiohttp.ClientTimeout(total=ABANDON_TIMEOUT),
                                                      proxy=relay.config.relay_proxy or None, allow_redirects=False)
            response.release()
        except (aiohttp.ClientError, TimeoutError, OSError, RuntimeError):  # RuntimeError: the session closed
            pass

    task = asyncio.get_running_loop().create_task(send_it())
    _abandoning.add(task)
    task.add_done_callback(_abandoning.discard)


class BufferedAnswer:
    """An answer already read (the last step of a multi-step exchange), presented like an HTTP response."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self._body = body
        self.content = self

    async def iter_any(self) -> AsyncIterator[bytes]:
        if self._body:
            yield self._body

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        pass

    close = release


class WithEpilogue:
    """A live answer followed, once it ends, by the body of one more call (best effort: a failing epilogue
    only ends the answer)."""

    def __init__(self, relay: Relay, response: aiohttp.ClientResponse, epilogue: UpstreamCall) -> None:
        self.status = response.status
        self.headers = response.headers
        self._relay = relay
        self._response = response
        self._epilogue = epilogue
        self.content = self

    async def iter_any(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.content.iter_any():
            yield chunk
        self._response.release()
        try:
            tail = await _request(self._relay, self._epilogue)
            try:
                if tail.status in (200, 201):
                    yield b"\n" + await read_limited(tail, STEP_BODY_LIMIT)
            finally:
                tail.release()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_any()])

    def release(self) -> None:
        self._response.release()

    def close(self) -> None:
        self._response.close()


def idle_from_now(response: aiohttp.ClientResponse, seconds: float) -> None:
    """From now on, ``response``'s body may pause at most ``seconds`` between two reads (aiohttp's sock_read
    bound is per connection: it covered the wait for the headers until here)."""
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    if protocol is None or response.content.is_eof():
        return  # the whole body is in (the connection may be back in the pool: no timer on it)
    protocol.read_timeout = seconds
    protocol.start_timeout()  # counts from now, with the new bound


async def read_limited(response: aiohttp.ClientResponse, limit: int = ERROR_BODY_LIMIT) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]
