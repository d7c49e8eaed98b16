"""The admin door: the same ``/api`` over a Unix socket, acting as root, plus live events and dashboard figures.

Only the socket's owner may connect: the file is created 0600 and every request's peer uid is checked with
SO_PEERCRED (Linux), so a local user who somehow opens the socket still gets nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from typing import Any

from aiohttp import web

from oneapi import __version__
from oneapi.api import add_api
from oneapi.api.common import CALLER, SERVICES, ok
from oneapi.api.middleware import Handler, api_error_middleware, envelope_error, request_id_middleware
from oneapi.channel_types import ChannelType
from oneapi.services import Services, catalog

HEARTBEAT_SECONDS = 15.0
SHUTDOWN = "shutdown"  # the last event of every stream when the server stops


def peer_uid(request: web.Request) -> int | None:
    """The uid of the process at the other end of the Unix socket (None when the platform cannot tell)."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", raw)[1])


def make_owner_middleware(owner_uid: int) -> Any:
    @web.middleware
    async def owner_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        uid = peer_uid(request)
        if uid is not None and uid != owner_uid:
            return envelope_error(f"the admin socket belongs to uid {owner_uid}; uid {uid} is refused", 403)
        root = await request.app[SERVICES].accounts.root()
        if root is None:
            return envelope_error("no enabled root user exists; the admin socket acts as root", 503)
        request[CALLER] = root
        return await handler(request)

    return owner_only


async def ping(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    return ok({"version": __version__, "pid": os.getpid(), "node_type": services.config.node_type,
               "workers": services.config.workers, "redis": redis_state(services)})


def redis_state(services: Services) -> str:
    """``off`` (no REDIS_CONN_STRING), ``up``, or ``down``: balances and rate limits are per node meanwhile."""
    return "off" if services.redis is None else ("up" if services.redis.up else "down")


async def stats(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    snapshot = services.stats.snapshot()
    snapshot["display_in_currency"] = services.options.get_bool("DisplayInCurrencyEnabled")
    snapshot["redis"] = redis_state(services)
    snapshot["quota_per_unit"] = services.options.get_float("QuotaPerUnit")
    # The dashboard shows channels by name: {id (as a JSON key, a string): name} of the top channels.
    names = await services.channels.names([int(cid) for cid, _ in snapshot["top_channels"]])
    snapshot["channel_names"] = {str(cid): name for cid, name in names.items()}
    return ok(snapshot)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: request logs, system logs and relay errors as they happen."""
    services = request.app[SERVICES]
    try:
        subscription = services.events.subscribe()
    except RuntimeError as exc:
        return envelope_error(str(exc), 503)
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await out.prepare(request)
    try:
        while True:
            try:
                event = await asyncio.wait_for(subscription.next(), HEARTBEAT_SECONDS)
                payload = b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n"
            except TimeoutError:
                event, payload = None, b": keep-alive\n\n"
            await out.write(payload)
            if event is not None and event.get("kind") == SHUTDOWN:
                break  # the server is stopping: end the stream so the drain does not wait for it
    except (ConnectionError, RuntimeError):
        pass
    finally:
        subscription.close()
    return out


async def end_event_streams(app: web.Application) -> None:
    """On shutdown, tell every live stream (and so every client) that the server is going away; without this a
    connected ``oneapi tui`` or ``oneapi log tail --follow`` would hold the drain until its timeout."""
    app[SERVICES].events.publish(SHUTDOWN, {})


async def channel_types(request: web.Request) -> web.Response:
    """The channel editor's type picker: each type's name, key format and default base URL (``base_url_hint``:
    what an empty base URL means when that is not one fixed URL)."""
    return ok([{"id": t.id, "name": t.name, "key_hint": t.key_hint, "default_base_url": t.default_base_url,
                "base_url_hint": t.base_url_hint,
                "models": list(t.models)} for t in catalog.CHANNEL_TYPES.values()
               if t.id != ChannelType.UNKNOWN])


async def channel_tests(request: web.Request) -> web.Response:
    """Progress of the running "test all channels" batch: {running, done, total}."""
    return ok(dict(request.app[SERVICES].channels.batch_progress))


def make_admin_app(services: Services, secret: str) -> web.Application:
    app = web.Application(client_max_size=32 * 1024 * 1024,
                          middlewares=[request_id_middleware, make_owner_middleware(os.getuid()),
                                       api_error_middleware])
    add_api(app, services, secret)
    app.router.add_get("/admin/ping", ping)
    app.router.add_get("/admin/stats", stats)
    app.router.add_get("/admin/events", events)
    app.router.add_get("/admin/channel_types", channel_types)
    app.router.add_get("/admin/channel_tests", channel_tests)
    app.on_shutdown.append(end_event_streams)
    return app
