"""Upstreams that misbehave on purpose, for the tests that no secret or internal address reaches a client.

* :func:`start_echo` answers every request (any method, path, websocket handshakes included) with a 401 whose
  JSON carries the request's URL, headers and body in every field a provider's error parser reads: an
  upstream that echoes its ``Authorization`` header, Baidu's token endpoint quoting ``client_secret``.
* :func:`start_garbage` accepts a connection, writes bytes that are not HTTP, and closes it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

Stop = Callable[[], Awaitable[None]]


async def _echo(request: web.Request) -> web.Response:
    body = (await request.read())[:4096].decode(errors="replace")
    told = f"{request.method} {request.url} headers={dict(request.headers)} body={body}"
    error = {"message": told, "type": "echo_error", "code": "echo"}
    payload = {
        "error": error, "message": told, "msg": told, "error_msg": told, "error_code": 110,
        "error_description": told, "code": "Echo", "header": {"code": 10013, "message": told},
        "Response": {"Error": {"Code": "AuthFailure", "Message": told}, "RequestId": "echo"},
    }
    return web.json_response(payload, status=401)


async def start_echo() -> tuple[str, Stop]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return f"http://127.0.0.1:{port}", runner.cleanup


async def start_garbage() -> tuple[str, Stop]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.read(65536), 5)
            writer.write(b"\x00\xffSSH-2.0-not-http\r\n" + json.dumps({"x": 1}).encode() + b"\r\n\r\n")
            await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return f"http://127.0.0.1:{port}", stop
