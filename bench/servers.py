"""The two reference servers of the benchmark, each run as its own process.

* ``upstream PORT``: a minimal fake OpenAI chat endpoint that answers from precomputed bytes (so it costs as
  little as possible and the same for every target), non-stream and as a 20-chunk stream.
* ``passthrough PORT UPSTREAM_URL``: the least a Python relay can do — a bare aiohttp server that forwards the
  request body to the upstream with one shared ClientSession and streams the answer back.
* ``slow PORT CHUNKS GAP_MS EXPECT HOLD_S``: the upstream of ``python -m bench.streams``: its streams are a
  realistic LLM answer, CHUNKS content chunks GAP_MS apart. Each stream sends its role chunk at once, then holds
  until EXPECT streams are open (or HOLD_S seconds have passed), so that all of them are open together however
  long the relay in front takes to open them; the chunks then follow on a fixed schedule (chunk i at start + i *
  GAP_MS, not GAP_MS after the previous write), so the upstream's own lateness does not add up.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
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


class Gate:
    """Holds streams until ``expect`` of them have arrived; then all go, and the next round starts afresh."""

    def __init__(self, expect: int, hold: float) -> None:
        self.expect = expect
        self.hold = hold
        self.arrived = 0
        self.event = asyncio.Event()

    async def wait(self) -> None:
        event = self.event
        self.arrived += 1
        if self.arrived >= self.expect:
            self._next_round()
        try:
            await asyncio.wait_for(event.wait(), self.hold)
        except TimeoutError:  # some never came: go anyway, and do not hold the next round's streams with them
            if self.event is event:
                self._next_round()

    def _next_round(self) -> None:
        self.event.set()
        self.event = asyncio.Event()
        self.arrived = 0


def slow_upstream_app(chunks: int, gap: float, gate: Gate) -> web.Application:
    async def slow_chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            return web.Response(body=_ANSWER, content_type="application/json")
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        await out.write(_CHUNKS[0])
        await gate.wait()
        start = time.monotonic()
        for i in range(1, chunks + 1):
            await asyncio.sleep(max(0.0, start + i * gap - time.monotonic()))
            await out.write(_CHUNKS[1])
        await out.write(_END)
        if (body.get("stream_options") or {}).get("include_usage"):
            await out.write(_USAGE_CHUNK)
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out

    app = web.Application()
    app.router.add_post("/v1/chat/completions", slow_chat)
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
    if kind == "slow":
        chunks, gap_ms, expect, hold = int(argv[2]), float(argv[3]), int(argv[4]), float(argv[5])
        app = slow_upstream_app(chunks, gap_ms / 1000, Gate(expect, hold))
    else:
        app = upstream_app() if kind == "upstream" else passthrough_app(argv[2])
    # A deep backlog: bench.streams opens thousands of connections at once.
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=4096)


if __name__ == "__main__":
    main(sys.argv[1:])
