"""The two reference servers of the benchmark, each run as its own process.

* ``upstream PORT``: a minimal fake OpenAI chat endpoint that answers from precomputed bytes (so it costs as
  little as possible and the same for every target), non-stream and as a 20-chunk stream.
* ``passthrough PORT UPSTREAM_URL``: the least a Python relay can do — a bare aiohttp server that forwards the
  request body to the upstream with one shared ClientSession and streams the answer back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

STREAM_CHUNKS = 20
_USAGE = {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}
_ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * 20}, "finish_reason": "stop"}],
    "usage": _USAGE}).encode()


def _chunk(delta: dict[str, object], finish: str | None = None, usage: bool = False) -> bytes:
    body: dict[str, object] = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
                               "model": "gpt-4o-mini",
                               "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        body["usage"] = _USAGE
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_CHUNKS = [_chunk({"role": "assistant", "content": ""})] + [_chunk({"content": "word "})
                                                           for _ in range(STREAM_CHUNKS)]
_END = _chunk({}, "stop")
_USAGE_CHUNK = _chunk({}, usage=True)


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if not body.get("stream"):
        return web.Response(body=_ANSWER, content_type="application/json")
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    for chunk in _CHUNKS:
        await out.write(chunk)
    await out.write(_END)
    if (body.get("stream_options") or {}).get("include_usage"):
        await out.write(_USAGE_CHUNK)
    await out.write(b"data: [DONE]\n\n")
    await out.write_eof()
    return out


def upstream_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def passthrough_app(upstream: str) -> web.Application:
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        app[session_key] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await app[session_key].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with request.app[session_key].post(upstream + request.path, data=body,
                                                 headers={"Content-Type": "application/json"}) as resp:
            out = web.StreamResponse(status=resp.status,
                                     headers={"Content-Type": resp.headers.get("Content-Type", "")})
            await out.prepare(request)
            async for chunk in resp.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
            return out

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/v1/chat/completions", forward)
    return app


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    app = upstream_app() if kind == "upstream" else passthrough_app(argv[2])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(sys.argv[1:])
