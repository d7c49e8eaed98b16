"""A relay environment plus the admin socket, served in-process on a temporary Unix socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from oneapi.api.admin import make_admin_app
from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env


@dataclass
class AdminEnv:
    relay: RelayEnv
    socket: Path


async def start_admin_env(tmp_path: Path) -> AsyncIterator[AdminEnv]:
    socket = Path("/tmp") / f"oneapi-test-{tmp_path.name[-40:]}.sock"  # sun_path is short; tmp_path may be long
    socket.unlink(missing_ok=True)
    async for env in start_relay_env(sqlite_db(tmp_path), relay_config()):
        runner = web.AppRunner(make_admin_app(env.services, "test-secret"))
        await runner.setup()
        await web.UnixSite(runner, str(socket)).start()
        socket.chmod(0o600)
        try:
            yield AdminEnv(env, socket)
        finally:
            await runner.cleanup()
            socket.unlink(missing_ok=True)
