"""Admin changes told to every node over Redis pub/sub, so each applies them within a second.

Without Redis, a node learns of another node's changes when it reloads (SYNC_FREQUENCY): that stays, as the
safety net. With Redis, the node where a change is made publishes ``{"node", "kind", "id"}`` on
``oneapi:changes`` and every other node runs the handlers registered for that kind: a user or a token is
reloaded (a disabled or deleted one is refused from then on), channels and options are reloaded. Messages
carry ids, never keys or values.

Pub/sub delivers only to those listening: a node whose subscription broke (Redis down, a network cut) may have
missed changes, so when it subscribes again it reloads everything (``on_resync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from oneapi.store.redis_link import PREFIX, RedisLink

log = logging.getLogger("oneapi.changes")

CHANNEL = PREFIX + "changes"
RETRY_SECONDS = 1.0

Handler = Callable[[int], Awaitable[None]]


class ChangeFeed:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._handlers: dict[str, list[Handler]] = {}
        self._resync: list[Callable[[], Awaitable[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()  # set while listening (tests wait for it)

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def on_resync(self, handler: Callable[[], Awaitable[None]]) -> None:
        self._resync.append(handler)

    async def publish(self, kind: str, ident: int = 0) -> None:
        """Tell the other nodes; best effort (they reload on SYNC_FREQUENCY when a message is lost)."""
        await self._link.publish("changes", json.dumps({"node": self._link.node_id, "kind": kind, "id": ident}))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="oneapi-change-feed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        first = True
        while True:
            pubsub = self._link.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                if not first:  # what was published while we were not listening is lost: reload everything
                    await self._run_resync()
                first = False
                self.subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self._dispatch(message.get("data"))
            except (RedisError, OSError, TimeoutError) as exc:
                self.subscribed.clear()
                log.warning("the change feed lost Redis (%s); subscribing again", " ".join(str(exc).split()))
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _dispatch(self, data: object) -> None:
        try:
            change = json.loads(data) if isinstance(data, str) else None
        except ValueError:
            change = None
        if not isinstance(change, dict) or change.get("node") == self._link.node_id:
            return
        kind, ident = change.get("kind"), change.get("id")
        if not isinstance(kind, str) or not isinstance(ident, int):
            return
        for handler in self._handlers.get(kind, []):
            try:
                await handler(ident)
            except Exception:
                log.exception("applying a change of %s #%d from another node failed", kind, ident)

    async def _run_resync(self) -> None:
        for handler in self._resync:
            try:
                await handler()
            except Exception:
                log.exception("reloading after the change feed came back failed")
