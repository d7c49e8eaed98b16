"""oneapi (relay, /api, web) and the fake upstream, served from a thread with its own event loop, so that
synchronous clients (Playwright, the fuzz suite's raw HTTP) can drive it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from oneapi.store.database import Database
from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env

T = TypeVar("T")


class LiveServer:
    """oneapi (relay, /api, web) and the fake upstream, served from a thread with its own event loop."""

    def __init__(self, tmp_path: Path, db: Database | None = None, **env: str) -> None:
        """On SQLite in ``tmp_path`` unless ``db`` (an empty database of any backend) is given."""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="oneapi-live", daemon=True)
        self.thread.start()
        self.side_pages: dict[str, str] = {}
        self._gen = start_relay_env(db or sqlite_db(tmp_path),
                                    relay_config(GLOBAL_WEB_RATE_LIMIT="0", **env))
        self.env: RelayEnv = self.call(self._start())
        self.url = self.env.base_url
        self.side_url = self.call(self._side_site())

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> RelayEnv:
        env = await self._gen.__anext__()
        _, upstream = await env.fake()
        await env.add_channel(upstream, models="gpt-4o-mini,gpt-4o")
        return env

    async def _side_site(self) -> str:
        """Another origin on the same host: pages the tests need from elsewhere (an attacker's, an embed)."""
        app = web.Application()
        app.router.add_get("/page/{name}", self._side_page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.env.stops.append(runner.cleanup)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def _side_page(self, request: web.Request) -> web.Response:
        body = self.side_pages.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(text=body, content_type="text/html")

    def option(self, key: str, value: str) -> None:
        self.call(self.env.services.options.update(key, value))

    def run(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return self.call(fn())

    def stop(self) -> None:
        try:
            self.call(self._gen.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
