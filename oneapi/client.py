"""The admin-socket client used by the CLI subcommands and the TUI.

It speaks the server's ``/api`` (acting as root) and ``/admin`` routes over the Unix socket. Failures are
exceptions with a stable meaning: :class:`AdminUnavailable` (no server answers: exit code 3) and
:class:`AdminRefused` (the server said no: exit code 1, its message shown as is).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

DEFAULT_SOCKET = "oneapi.sock"


class AdminError(Exception):
    pass


class AdminUnavailable(AdminError):
    """Nothing answers on the admin socket."""


class AdminRefused(AdminError):
    """The server answered ``success: false``."""


def socket_path(explicit: str | None = None) -> Path:
    """The socket to use: ``--admin-socket``, else ONEAPI_ADMIN_SOCKET, else oneapi.sock in the data directory
    (ONEAPI_HOME, else the working directory) — the same rule as ``oneapi serve``."""
    name = explicit or os.environ.get("ONEAPI_ADMIN_SOCKET") or DEFAULT_SOCKET
    path = Path(name).expanduser()
    if path.is_absolute():
        return path
    return Path(os.environ.get("ONEAPI_HOME") or ".").expanduser() / path


class AdminClient:
    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=str(self.path)), base_url="http://oneapi",
                timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, method: str, path: str, *, json_body: Any = None, params: dict[str, Any] | None = None,
                   envelope: bool = True) -> Any:
        """Call a route; return ``data`` (or the whole answer when ``envelope`` is False)."""
        query = {k: str(v) for k, v in (params or {}).items() if v is not None and v != ""}
        try:
            async with self._open().request(method, path, json=json_body, params=query) as resp:
                text = await resp.text()
        except (aiohttp.ClientConnectorError, FileNotFoundError, ConnectionRefusedError) as exc:
            raise AdminUnavailable(f"no oneapi server answers on {self.path} ({exc.__class__.__name__}); "
                                   "start one with 'oneapi serve'") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AdminUnavailable(f"the server on {self.path} did not answer: {exc}") from None
        try:
            answer = json.loads(text)
        except ValueError:
            raise AdminRefused(f"unexpected answer (HTTP {resp.status}): {text[:200]}") from None
        if not envelope:
            if isinstance(answer, dict) and answer.get("success") is False:
                raise AdminRefused(str(answer.get("message") or "refused"))
            return answer
        if not isinstance(answer, dict) or not answer.get("success"):
            message = answer.get("message") if isinstance(answer, dict) else None
            raise AdminRefused(str(message or f"HTTP {resp.status}"))
        return answer.get("data")

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any) -> Any:
        return await self.call("POST", path, json_body=body)

    async def put(self, path: str, body: Any, **params: Any) -> Any:
        return await self.call("PUT", path, json_body=body, params=params)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.call("DELETE", path, params=params)

    async def ping(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.get("/admin/ping")
        return data

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Live events (request logs, system logs, relay errors) until the server goes away, which raises
        :class:`AdminUnavailable` (a server that refuses the stream raises :class:`AdminRefused`)."""
        session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(self.path)),
                                        base_url="http://oneapi", timeout=aiohttp.ClientTimeout(total=None))
        try:
            try:
                resp = await session.get("/admin/events")
            except (aiohttp.ClientConnectorError, FileNotFoundError, ConnectionRefusedError) as exc:
                raise AdminUnavailable(f"no oneapi server answers on {self.path} ({exc.__class__.__name__})") \
                    from None
            async with resp:
                if resp.status != 200:  # e.g. 503 "too many live event subscribers"
                    try:
                        message = (await resp.json(content_type=None)).get("message")
                    except (ValueError, AttributeError, aiohttp.ClientError):
                        message = None
                    raise AdminRefused(str(message or f"HTTP {resp.status}"))
                buffer = b""
                try:
                    async for chunk in resp.content.iter_any():
                        buffer += chunk
                        while b"\n\n" in buffer:
                            raw, buffer = buffer.split(b"\n\n", 1)
                            if raw.startswith(b"data: "):
                                yield json.loads(raw[6:])
                except (aiohttp.ClientError, ConnectionError) as exc:
                    raise AdminUnavailable(f"the server on {self.path} went away ({exc.__class__.__name__})") \
                        from None
            # The stream only ends when the server stops (its last event is {"kind": "shutdown"}).
            raise AdminUnavailable(f"the server on {self.path} stopped")
        finally:
            await session.close()
