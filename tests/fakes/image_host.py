"""A web server hosting images, as users' image URLs point at: ``/cat.png`` (image/png), ``/blob`` (the same bytes
as application/octet-stream), ``/redirect?to=URL`` (302 to URL) and ``/hop/N`` (a chain of N redirects ending at
``/cat.png``). ``hits`` counts the requests per path, so a test can tell that a refused URL was never fetched.
Every answer closes its connection, so that each fetch connects (and resolves) anew: tests of where connections
go need that."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from tests.fakes.openai_upstream import tiny_png


class ImageHost:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.app = web.Application(middlewares=[self._count])
        self.app.router.add_get("/cat.png", self._cat)
        self.app.router.add_get("/blob", self._blob)
        self.app.router.add_get("/redirect", self._redirect)
        self.app.router.add_get("/hop/{n:\\d+}", self._hop)

    @property
    def total(self) -> int:
        return sum(self.hits.values())

    @web.middleware
    async def _count(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                     ) -> web.StreamResponse:
        self.hits[request.path] += 1
        response = await handler(request)
        response.force_close()
        return response

    async def _cat(self, request: web.Request) -> web.Response:
        return web.Response(body=tiny_png(), content_type="image/png")

    async def _blob(self, request: web.Request) -> web.Response:
        return web.Response(body=tiny_png(), content_type="application/octet-stream")

    async def _redirect(self, request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": request.query["to"]})

    async def _hop(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        return web.Response(status=302, headers={"Location": f"/hop/{n - 1}" if n > 1 else "/cat.png"})


async def start_image_host(host: str = "127.0.0.1", port: int = 0,
                           ) -> tuple[ImageHost, str, Callable[[], Awaitable[None]]]:
    """Serve a new :class:`ImageHost` on ``host`` at ``port`` (0: a free one); return it, its base URL and its
    stop."""
    fake = ImageHost()
    runner = web.AppRunner(fake.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    port = runner.addresses[0][1]
    return fake, f"http://{host}:{port}", runner.cleanup
