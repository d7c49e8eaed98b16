"""The link to Redis (``REDIS_CONN_STRING``): the state every node and worker shares.

One client per process (redis-py's asyncio client, pooled). At start the link must answer a PING, or the server
does not start (as One API). While serving, a call that fails marks the link *down*: callers fall back to what
one node can do alone (its own balances and limits), one line says so in the log, and a probe pings every
second until Redis answers again; then the listeners registered with :meth:`on_recovered` run (the ledger
drops what it charged while Redis was away, so the shared balances are rebuilt from the database).

Keys all start with ``oneapi:``; the Redis database number in the URL separates installations sharing a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from oneapi.store.redis_names import PREFIX, RedisUnavailableError, describe, node_key

__all__ = ["PREFIX", "RedisLink", "RedisUnavailableError", "describe"]

log = logging.getLogger("oneapi.redis")

CALL_TIMEOUT = 2.0  # seconds: a Redis that takes longer is treated as down (the request goes on without it)
PROBE_SECONDS = 1.0
POOL_SIZE = 64  # connections per process for calls; Redis answers a script in microseconds
SUBSCRIPTIONS = 8  # and for pub/sub (the change feed, the workers' events), each holding one
NODE_TTL = 15  # seconds a node's heartbeat key lives; refreshed every NODE_TTL / 3


def new_node_id() -> str:
    """This process's name among the nodes and workers: readable in Redis, unique per start."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{secrets.token_hex(3)}"


class RedisLink:
    def __init__(self, url: str, node_id: str | None = None) -> None:
        self.url = url
        self.node_id = node_id or new_node_id()
        # redis-py's default pool refuses the 101st concurrent call outright, which took the link down under
        # load. Calls wait their turn for one of POOL_SIZE connections (_slots) instead, for as long as it takes:
        # a queue here is this process's load, not a sign that Redis is gone (a call that Redis does not answer
        # still fails after CALL_TIMEOUT). The pool keeps room for the long-lived pub/sub connections.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=POOL_SIZE + SUBSCRIPTIONS, timeout=CALL_TIMEOUT, socket_timeout=CALL_TIMEOUT,
            socket_connect_timeout=CALL_TIMEOUT, health_check_interval=30, decode_responses=True)
        self.client: aioredis.Redis = aioredis.Redis.from_pool(pool)
        self._slots = asyncio.Semaphore(POOL_SIZE)
        self.up = False
        self.down_since = 0.0
        self._recovered: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle -------------------------------------------------------------------------------

    async def connect(self) -> None:
        """PING once; raises RedisUnavailableError with the reason. Then keep this node's heartbeat."""
        try:
            await asyncio.wait_for(self.client.ping(), CALL_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            raise RedisUnavailableError(f"cannot reach Redis at {describe(self.url)}: {_reason(exc)}") from None
        self.up = True
        await self._beat()
        self._tasks.append(asyncio.get_running_loop().create_task(self._heartbeat(), name="oneapi-redis-heartbeat"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await self.client.delete(self.node_key(self.node_id))
        await self.client.aclose()

    def on_recovered(self, listener: Callable[[], Awaitable[None]]) -> None:
        self._recovered.append(listener)

    # -- calls ------------------------------------------------------------------------------------

    def script(self, source: str) -> AsyncScript:
        return self.client.register_script(source)

    async def run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script; RedisUnavailableError when the link is down or the call fails (which takes it
        down). The caller decides what it can do without Redis."""
        if not self.up:
            raise RedisUnavailableError("Redis is down")
        try:
            async with self._slots:
                return await script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            self.lost(exc)
            raise RedisUnavailableError(_reason(exc)) from None

    async def command(self, call: Awaitable[Any], *, recovering: bool = False) -> Any:
        """Await one client call the way :meth:`run` does (RedisUnavailableError when down or failing).
        ``recovering``: a listener of :meth:`on_recovered`, which runs before the link counts as up again."""
        if not self.up and not recovering:
            if asyncio.iscoroutine(call):
                call.close()
            raise RedisUnavailableError("Redis is down")
        try:
            async with self._slots:
                return await call
        except (RedisError, OSError, TimeoutError) as exc:
            self.lost(exc)
            raise RedisUnavailableError(_reason(exc)) from None

    async def publish(self, channel: str, message: str) -> None:
        if not self.up:
            return
        try:
            await self.client.publish(PREFIX + channel, message)
        except (RedisError, OSError, TimeoutError) as exc:
            self.lost(exc)

    def pubsub(self) -> PubSub:
        return self.client.pubsub(ignore_subscribe_messages=True)

    def lost(self, exc: BaseException) -> None:
        """A call failed: from now on this node works alone until the probe finds Redis again."""
        if not self.up:
            return
        self.up = False
        self.down_since = time.monotonic()
        log.error("Redis at %s stopped answering (%s): balances and rate limits are per node until it is back",
                  describe(self.url), _reason(exc))
        self._tasks.append(asyncio.get_running_loop().create_task(self._probe(), name="oneapi-redis-probe"))

    async def _probe(self) -> None:
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            try:
                await asyncio.wait_for(self.client.ping(), CALL_TIMEOUT)
            except (RedisError, OSError, TimeoutError):
                continue
            log.warning("Redis at %s answers again after %.0f s: shared balances and limits resume",
                        describe(self.url), time.monotonic() - self.down_since)
            for listener in self._recovered:
                try:
                    await listener()
                except Exception:
                    log.exception("recovering from the Redis outage failed in part")
            self.up = True
            await self._beat()
            return

    # -- nodes ------------------------------------------------------------------------------------

    node_key = staticmethod(node_key)

    async def _beat(self) -> None:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await self.client.set(self.node_key(self.node_id), str(int(time.time())), ex=NODE_TTL)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(NODE_TTL / 3)
            if self.up:
                await self._beat()


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
