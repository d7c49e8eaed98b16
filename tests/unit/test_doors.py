"""oneapi/http/doors.py: a relay request runs the relay's middlewares only; the rest run the site's."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from oneapi.http.doors import Handler, doors


def recorder(name: str, seen: list[str]) -> object:
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(name)
        response = await handler(request)
        response.headers[f"X-{name}"] = "1"
        return response

    return middleware


async def test_each_door_runs_its_own_chain_in_order() -> None:
    seen: list[str] = []

    async def ok(request: web.Request) -> web.Response:
        seen.append("handler")
        return web.Response(text="ok")

    app = web.Application(middlewares=[doors(lambda path: path.startswith("/v1"),
                                             relay=[recorder("a", seen), recorder("relay", seen)],
                                             site=[recorder("a", seen), recorder("b", seen), recorder("c", seen)])])
    app.router.add_get("/v1/models", ok)
    app.router.add_get("/api/status", ok)
    async with TestClient(TestServer(app)) as client:
        relay = await client.get("/v1/models")
        assert relay.status == 200 and seen == ["a", "relay", "handler"]
        assert "X-relay" in relay.headers and "X-b" not in relay.headers
        seen.clear()
        site = await client.get("/api/status")
        assert site.status == 200 and seen == ["a", "b", "c", "handler"]
        seen.clear()
        missing = await client.get("/v1/nothing")  # aiohttp's 404 handler goes through the relay's chain too
        assert missing.status == 404 and seen == ["a", "relay"]
        seen.clear()
        for _ in range(3):
            await client.get("/v1/models")
        assert seen == ["a", "relay", "handler"] * 3
