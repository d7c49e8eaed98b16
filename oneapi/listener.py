"""The HTTP listener of ``oneapi serve``: no client connection can starve the server.

aiohttp times neither a request's head nor its body, lets one address hold any number of connections, and
asyncio logs every failed ``accept()`` with a traceback (in a test, 1,100 idle connections against a file limit
of 1,024 made every request time out and wrote 434 MB of log in 35 s). This module acts where connections are
born, for every route alike:

* :class:`GuardedHandler` is aiohttp's per-connection protocol (``RequestHandler``) with a watchdog, one timer
  per connection, set by the connection's phase:

  - waiting for a request head: the head must be complete ``client_header_timeout`` seconds after the
    connection opened (first request) or after the first byte of a later one; between requests a kept-alive
    connection may stay silent for ``client_idle_timeout`` (not while oneapi is still sending it an answer);
  - a request in its handler: while the body is incomplete the client may pause ``client_body_timeout`` at
    most (the clock stops while oneapi holds the client back because the handler has not read what came).
    Once the body is in nothing is timed here, so a long streamed answer is never cut.

  The phase comes from :func:`phase_middleware`, first in ``make_app``: it sees each request enter and leave
  its handler. A client that overstays gets ``408`` (when it had started a request) and the connection closes;
  a handler still reading the body is cancelled, as when the client disconnects.
* :class:`ConnectionGuard` (one per listener) counts connections per client address and in all. Over
  ``max_connections_per_ip`` (addresses in TRUSTED_PROXIES, a reverse proxy's own, are exempt) a new connection
  is answered ``503`` and closed. The total is held under a budget derived from the file limit, so that
  ``accept()``, the database, log files and upstream connections always have descriptors left: at the budget
  the oldest connection that is only waiting for a request is closed to make room, and when every connection
  is busy with a request the new one gets the ``503``.
* :func:`raise_file_limit` raises the soft file limit to the hard one at start.
* :class:`EventLog` turns floods (accept failures, refusals, time-outs) into one line per interval with a count;
  :meth:`ConnectionGuard.handle_loop_exception` catches asyncio's accept-failure reports.

The refusals and time-outs are written straight to the socket, before any route is known, so their JSON body
carries both error shapes: One API's envelope (``success``, ``message``) for ``/api`` and OpenAI's error object
(``error``) for ``/v1``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from oneapi.api.client_ip import Network

log = logging.getLogger("oneapi.listener")

RESERVED_FILES = 64  # descriptors kept out of the connection budget: database, journal, logs, sockets, ...
BACKLOG = 128  # the listen backlog, and how many connections asyncio accepts in one go before any is counted
MIN_BUDGET = 16
EVENT_LOG_INTERVAL = 10.0  # seconds between two lines about the same kind of event
REFUSAL_LINGER = 1.0  # seconds a refused connection stays open for its client to read the 503
MAX_LINGERING = 32  # refused connections left open at once for that; past it they are closed at once


def raise_file_limit() -> tuple[int, int]:
    """Raise the soft limit on open files to the hard limit; returns (before, now). An unlimited hard limit
    raises the soft one as far as the kernel allows per process (``fs.nr_open``)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                target = int(f.read())
        except (OSError, ValueError):
            target = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
            return soft, soft
        return soft, target
    return soft, soft


def connection_budget(file_limit: int) -> int:
    """How many client connections to hold at most: half of what is left once the reserve and one accept
    burst (asyncio accepts up to the backlog at once, before any is counted here) are set aside, since each
    request in flight may hold an upstream connection too."""
    return max(MIN_BUDGET, (file_limit - RESERVED_FILES - BACKLOG) // 2)


def error_body(message: str, code: str) -> bytes:
    """Both error shapes at once (the route is unknown when the socket is answered directly)."""
    return json.dumps({"success": False, "message": message,
                       "error": {"message": message, "type": "one_api_error", "param": "", "code": code}},
                      ensure_ascii=False).encode()


def raw_response(status: str, message: str, code: str) -> bytes:
    body = error_body(message, code)
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class EventLog:
    """At most one log line per kind of event every ``interval`` seconds: the first at once, then one with the
    count of those held back (bounded: one entry per kind)."""

    def __init__(self, logger: logging.Logger, interval: float = EVENT_LOG_INTERVAL) -> None:
        self._log = logger
        self._interval = interval
        self._quiet_until: dict[str, float] = {}
        self._held: dict[str, tuple[int, str, int]] = {}  # kind -> (count, latest message, level)

    def note(self, kind: str, message: str, level: int = logging.WARNING) -> None:
        now = time.monotonic()
        if now >= self._quiet_until.get(kind, 0.0) and kind not in self._held:
            self._log.log(level, "%s", message)
            self._quiet_until[kind] = now + self._interval
            return
        count = self._held.get(kind, (0, "", level))[0]
        if count == 0:
            asyncio.get_running_loop().call_later(max(0.0, self._quiet_until[kind] - now), self._flush, kind)
        self._held[kind] = (count + 1, message, level)

    def _flush(self, kind: str) -> None:
        count, message, level = self._held.pop(kind, (0, "", logging.WARNING))
        if count:
            self._log.log(level, "%s (%d such events in the last %.0f s)", message, count, self._interval)
            self._quiet_until[kind] = time.monotonic() + self._interval


@dataclass(frozen=True)
class Limits:
    header_timeout: float
    body_timeout: float
    idle_timeout: float
    per_ip: int  # 0: no cap
    budget: int
    exempt: tuple[Network, ...] = ()


def _in_any(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


class ConnectionGuard:
    """Counts the listener's connections, per address and in all, and refuses or sheds by :class:`Limits`."""

    def __init__(self, limits: Limits, events: EventLog | None = None) -> None:
        self.limits = limits
        self.events = events or EventLog(log)
        self._per_ip: dict[str, int] = {}
        self._open = 0
        self.lingering = 0  # refused connections still open for their client to read the 503
        self._waiting: dict[GuardedHandler, None] = {}  # admitted connections between requests, oldest first

    @property
    def open_connections(self) -> int:
        return self._open

    def admit(self, handler: GuardedHandler, ip: str) -> str | None:
        """Count a new connection, or say why it is refused."""
        limits = self.limits
        if limits.per_ip and self._per_ip.get(ip, 0) >= limits.per_ip and not _in_any(ip, limits.exempt):
            self.events.note("per-ip", f"refused connections from {ip}: it holds {limits.per_ip} already "
                                       "(ONEAPI_MAX_CONNECTIONS_PER_IP)")
            return f"too many connections from your address (at most {limits.per_ip}); close some and retry"
        if self._open >= limits.budget:
            victim = next(iter(self._waiting), None)
            if victim is None:
                self.events.note("budget", f"refused a connection: {self._open} connections are busy, the most "
                                           "this server's open-file limit allows")
                return "the server is busy; retry shortly"
            self.events.note("shed", f"closed the oldest idle connection (from {victim.peer_ip}) to make room: "
                                     f"{self._open} connections, the most the open-file limit allows",
                             logging.INFO)
            victim.shed()
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        self._open += 1
        return None

    def release(self, handler: GuardedHandler) -> None:
        ip = handler.peer_ip
        left = self._per_ip.get(ip, 0) - 1
        if left > 0:
            self._per_ip[ip] = left
        else:
            self._per_ip.pop(ip, None)
        self._open -= 1
        self._waiting.pop(handler, None)

    def waiting(self, handler: GuardedHandler, between_requests: bool) -> None:
        self._waiting.pop(handler, None)
        if between_requests:
            self._waiting[handler] = None  # to the end: the oldest waiter is the first

    def handle_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The event loop's exception handler: accept() failures (out of file descriptors, memory) become one
        line per interval; everything else goes to asyncio's default handler."""
        message = str(context.get("message", ""))
        if message.startswith("socket.accept() out of system resource"):
            exc = context.get("exception")
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            self.events.note("accept", f"cannot accept connections: {exc} (open-file limit {soft}, "
                                       f"{self._open} client connections); retrying every second", logging.ERROR)
            return
        loop.default_exception_handler(context)


class GuardedHandler(RequestHandler):
    """aiohttp's RequestHandler with the connection watchdog and the guard's counting (see the module doc)."""

    def __init__(self, manager: web.Server, guard: ConnectionGuard, *, loop: asyncio.AbstractEventLoop,
                 **kwargs: Any) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._guard = guard
        self._clock = loop
        self.peer_ip = ""
        self._admitted = False
        self._done = False  # refused, shed or timed out: nothing more is read
        self._timer: asyncio.TimerHandle | None = None
        self._request: web.BaseRequest | None = None
        self._request_since = 0.0
        self._head_since: float | None = None  # when the head now awaited was started (None: idle)
        self._idle_since = 0.0
        self._last_data = 0.0
        self._head_bytes = False  # bytes of the awaited head have come
        self._held = False  # reading paused by oneapi: the handler has not consumed what came
        self._lingering = False  # refused, and open a little longer for the client to read why

    # -- the connection's life -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self.peer_ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        refusal = self._guard.admit(self, self.peer_ip)
        if refusal is not None:
            self._refuse(transport, refusal)
            return
        self._admitted = True
        self._head_since = self._clock.time()  # the first head is timed from the connection's start
        self._guard.waiting(self, True)
        self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_timer()
        self._release()
        if self._lingering:
            self._lingering = False
            self._guard.lingering -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        now = self._clock.time()
        self._last_data = now
        if self._request is None and data and not self._head_bytes:
            self._head_bytes = True
            if self._head_since is None:  # a later request's first byte: its head is timed from here
                self._head_since = now
                self._arm()
        super().data_received(data)

    def pause_reading(self) -> None:
        self._held = True
        super().pause_reading()

    def resume_reading(self, resume_parser: bool = True) -> None:
        self._held = False
        self._last_data = self._clock.time()  # the client's silence counts from when oneapi reads again
        super().resume_reading(resume_parser)
        if self._admitted and not self._done:
            self._arm()

    # -- phases, from phase_middleware -----------------------------------------------------------------

    def request_started(self, request: web.BaseRequest) -> None:
        self._request = request
        self._request_since = self._clock.time()
        self._head_since = None
        self._head_bytes = False
        if self._admitted:
            self._guard.waiting(self, False)
            self._arm()

    def request_finished(self) -> None:
        self._request = None
        self._idle_since = self._clock.time()
        self._head_since = None
        self._head_bytes = False
        if self._admitted and not self._done:
            self._guard.waiting(self, True)
            self._arm()

    # -- the watchdog ----------------------------------------------------------------------------------

    def _deadline(self) -> tuple[float, str] | None:
        limits = self._guard.limits
        if self._request is not None:
            if self._held or self._request.content.is_eof():
                return None  # the body is in, or oneapi holds the client back: nothing to time
            return max(self._last_data, self._request_since) + limits.body_timeout, "body"
        if self._head_since is not None:
            return self._head_since + limits.header_timeout, "header"
        return self._idle_since + limits.idle_timeout, "idle"

    def _arm(self) -> None:
        """Have the watchdog look no later than the current deadline. A timer already due sooner stays: when it
        fires, ``_check`` finds what is due then and sets the next. So the phases of a request on a kept-alive
        connection replace no timer (they did five times a request), unless a deadline moved earlier."""
        if self._done:
            self._cancel_timer()
            return
        found = self._deadline()
        if found is None:
            return
        if self._timer is not None:
            if self._timer.when() <= found[0]:
                return
            self._timer.cancel()
        self._timer = self._clock.call_at(found[0], self._check)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._done or self.transport is None:
            return
        found = self._deadline()
        if found is None:
            return
        deadline, kind = found
        if self._clock.time() < deadline:
            self._timer = self._clock.call_at(deadline, self._check)
            return
        self._expire(kind)

    def _expire(self, kind: str) -> None:
        transport = cast(asyncio.Transport, self.transport)
        limits = self._guard.limits
        if kind == "idle":
            if transport.get_write_buffer_size():  # still sending the last answer: not idle
                self._idle_since = self._clock.time()
                self._arm()
                return
            self._close_now()
            return
        if kind == "header":
            if self._head_bytes:
                transport.write(raw_response("408 Request Timeout", f"the request's headers did not arrive "
                                             f"within {limits.header_timeout:g} seconds", "request_timeout"))
            self._guard.events.note("header", f"closed connections whose request headers took longer than "
                                              f"{limits.header_timeout:g} s (ONEAPI_CLIENT_HEADER_TIMEOUT), "
                                              f"latest from {self.peer_ip}", logging.INFO)
            self._close_now()
            return
        request = self._request
        assert request is not None
        if not request.writer.output_size:  # no answer started yet: say why
            transport.write(raw_response("408 Request Timeout", f"the request body paused for more than "
                                         f"{limits.body_timeout:g} seconds", "request_timeout"))
        self._guard.events.note("body", f"closed connections whose request body paused longer than "
                                        f"{limits.body_timeout:g} s (ONEAPI_CLIENT_BODY_TIMEOUT), latest from "
                                        f"{self.peer_ip}", logging.INFO)
        request.task.cancel()  # the handler stops reading, as when the client leaves
        self._close_now()

    def _close_now(self) -> None:
        self._done = True
        self._cancel_timer()
        self._release()
        self.force_close()

    # -- refusals and shedding -------------------------------------------------------------------------

    def _refuse(self, transport: asyncio.BaseTransport, message: str) -> None:
        """Answer 503 and close. For up to REFUSAL_LINGER seconds, what the client sends meanwhile is read and
        dropped, so that closing does not reset the connection before it reads the answer; in a flood (more
        than MAX_LINGERING at once) the connection is closed at once."""
        self._done = True
        tcp = cast(asyncio.Transport, transport)
        tcp.write(raw_response("503 Service Unavailable", message, "too_many_connections"))
        if self._guard.lingering >= MAX_LINGERING or not tcp.can_write_eof():
            self.force_close()
            return
        try:
            tcp.write_eof()
        except OSError:  # the client is gone already
            self.force_close()
            return
        self._lingering = True
        self._guard.lingering += 1
        self._clock.call_later(REFUSAL_LINGER, self.force_close)

    def shed(self) -> None:
        """Closed by the guard to make room: this connection is between requests."""
        self._close_now()

    def _release(self) -> None:
        if self._admitted:
            self._admitted = False
            self._guard.release(self)


@web.middleware
async def phase_middleware(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Tells the connection's watchdog that a request is in its handler (first in the chain of ``make_app``)."""
    protocol = request.protocol
    if not isinstance(protocol, GuardedHandler):
        return await handler(request)  # a test server or another listener: nothing to tell
    protocol.request_started(request)
    try:
        return await handler(request)
    finally:
        protocol.request_finished()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are :class:`GuardedHandler`\\ s (aiohttp's TCPSite, with our protocol)."""

    def __init__(self, runner: web.AppRunner, guard: ConnectionGuard, port: int, *, host: str | None = None,
                 handler_options: dict[str, Any] | None = None, backlog: int = BACKLOG,
                 reuse_port: bool = False) -> None:
        super().__init__(runner, backlog=backlog)
        self._reuse_port = reuse_port  # --workers: the processes share the port, the kernel spreads connections
        self._guard = guard
        self._host = host
        self._port = port
        self._options = handler_options or {}

    @property
    def name(self) -> str:
        return f"http://{self._host or '0.0.0.0'}:{self._port}"

    async def start(self) -> None:
        await super().start()
        runner = cast(web.AppRunner, self._runner)
        if phase_middleware not in runner.app.middlewares:
            raise RuntimeError("the application has no listener.phase_middleware: its connections cannot be timed")
        server = runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        guard, options = self._guard, self._options

        def protocol() -> GuardedHandler:
            return GuardedHandler(server, guard, loop=loop, **options)

        self._server = await loop.create_server(protocol, self._host, self._port, backlog=self._backlog,
                                                reuse_address=True, reuse_port=self._reuse_port or None)
