"""Forwarding a native channel's answer to a client of the same API: the bytes as they arrive, billed from them.

An inbound format whose request reached a channel of its own protocol (Anthropic's Messages on an Anthropic
channel, Gemini's generateContent on a Gemini channel) forwards the answer unchanged, stream or not. The
channel's translating adaptor only *reads* it, on the side: its parser gives the usage to bill (and the text
delivered, counted when the answer breaks off or gives no usage) and recognises an error the provider put in
a 200 answer. A non-200 answer is the adaptor's error, raised for the relay's retry loop like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aiohttp
from aiohttp import web

from oneapi.proxy.adaptors.base import TranslatingAdaptor
from oneapi.proxy.errors import RelayError, UpstreamError
from oneapi.proxy.failures import UNREADABLE, category, detail, network_failure, unreadable
from oneapi.proxy.job import SSE_HEADERS, Attempt, Job
from oneapi.proxy.settlement import choice_text, settle
from oneapi.proxy.upstream import read_limited

log = logging.getLogger("oneapi.relay")

NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
BrokenStream = Callable[[str], bytes]  # the format's in-stream error event for a message


async def forward(job: Job, state: Attempt, response: aiohttp.ClientResponse, reader: TranslatingAdaptor,
                  headers: dict[str, str], broken: BrokenStream) -> web.StreamResponse:
    """The answer of ``response`` forwarded and settled; ``reader`` is the channel's adaptor."""
    if response.status not in (200, 201):
        raise reader.error(response.status, await read_limited(response))
    if job.stream and "application/json" in response.headers.get("Content-Type", ""):
        raise reader.error(500, await read_limited(response))  # an error page instead of a stream
    if job.stream:
        return await _forward_stream(job, state, response, reader, headers, broken)
    return await _forward_json(job, state, response, reader, headers)


async def _forward_json(job: Job, state: Attempt, response: aiohttp.ClientResponse, reader: TranslatingAdaptor,
                        headers: dict[str, str]) -> web.Response:
    try:
        body = await response.read()
    except NETWORK_ERRORS as exc:
        raise network_failure(state.channel.id, "reading the upstream answer", exc) from None
    try:
        answer, usage = reader.parse_response(state.request, body)
    except UpstreamError:
        raise
    except UNREADABLE as exc:
        raise unreadable(state.channel.id, "answer", exc) from None

    def text() -> str:
        return choice_text(answer.get("choices"), "message")

    counted = (job.prompt_tokens(state.upstream_model), job.relay.tokenizer.count_text(text(), state.upstream_model))
    settle(job, state, *((usage.prompt_tokens, usage.completion_tokens) if usage else counted), delivered=text)
    return web.Response(body=body, status=200, content_type="application/json", charset="utf-8", headers=headers)


async def _forward_stream(job: Job, state: Attempt, response: aiohttp.ClientResponse, reader: TranslatingAdaptor,
                          headers: dict[str, str], broken: BrokenStream) -> web.StreamResponse:
    translator = reader.stream_translator(state.request)
    out = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    out.enable_chunked_encoding()
    delivered: list[str] = []
    reading = True       # False once the reader met an error event or an event it could not read
    failed = False       # the upstream reported an error in the stream
    client_gone = False

    def follow(data: bytes) -> None:
        nonlocal reading, failed
        if not reading:
            return
        try:
            chunks = translator.feed(data)
        except UpstreamError:
            reading, failed = False, True
            return
        except UNREADABLE:
            reading = False
            return
        delivered.extend(choice_text(c.get("choices"), "delta") for c in chunks)

    def bill() -> None:
        usage = translator.usage if reading and not client_gone else None
        prompt = job.prompt_tokens(state.upstream_model)
        numbers = (usage.prompt_tokens, usage.completion_tokens) if usage else \
            (prompt, job.relay.tokenizer.count_text("".join(delivered), state.upstream_model))
        settle(job, state, *numbers, delivered=lambda: "".join(delivered))

    try:
        async for data in response.content.iter_any():
            if not out.prepared:
                await out.prepare(job.request)
            follow(data)
            try:
                await out.write(data)
            except (ConnectionError, RuntimeError):
                client_gone = True
                response.close()  # nobody reads the rest: stop the upstream generating it
                break
        if reading and not client_gone:
            try:
                delivered.extend(choice_text(c.get("choices"), "delta") for c in translator.finish())
            except UpstreamError:
                failed = True
            except UNREADABLE:
                reading = False
    except NETWORK_ERRORS as exc:
        if not out.prepared:
            raise network_failure(state.channel.id, "upstream stream", exc) from None
        log.warning("stream from channel #%d broke: %s", state.channel.id, detail(exc))
        with contextlib.suppress(ConnectionError, RuntimeError):
            await out.write(broken(f"upstream stream broke on channel #{state.channel.id}: {category(exc)}"))
        reading = False
    except asyncio.CancelledError:
        response.close()
        if out.prepared:
            client_gone = True
            bill()
        raise
    if not out.prepared:
        raise RelayError("upstream answered 200 without any stream event", status=500, code="empty_stream_response")
    if failed and not "".join(delivered):
        return out  # an error event before anything was said: nothing to charge (the caller refunds)
    bill()
    if not client_gone:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await out.write_eof()
    return out
