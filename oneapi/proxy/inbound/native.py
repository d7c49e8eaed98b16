"""Forwarding a native channel's answer to a client of the same API: the bytes as they arrive, billed from them.

An inbound format whose request reached a channel of its own protocol (Anthropic's Messages on an Anthropic
channel, Gemini's generateContent on a Gemini channel) forwards the answer unchanged, stream or not. The
channel's translating adaptor only *reads* it, on the side: its parser gives the usage to bill (and the text
delivered, counted when the answer breaks off or gives no usage) and recognises an error the provider put in
a 200 answer. A non-200 answer is the adaptor's error, raised for the relay's retry loop like any other.

A stream goes through the relay's one delivery loop (``streaming``) with the ``Forwarding`` filter, which
passes the provider's events on and ends the stream the provider's way; a JSON answer is settled here.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from aiohttp import web

from oneapi.proxy.adaptors.base import TranslatingAdaptor
from oneapi.proxy.job import SSE_HEADERS, Attempt, Job
from oneapi.proxy.settlement import choice_text, settle
from oneapi.proxy.stream_filters import Forwarding
from oneapi.proxy.streaming import deliver_stream
from oneapi.proxy.translate import read_answer
from oneapi.proxy.upstream import read_limited

BrokenStream = Callable[[str], bytes]  # the format's in-stream error event for a message


async def forward(job: Job, state: Attempt, response: aiohttp.ClientResponse, reader: TranslatingAdaptor,
                  headers: dict[str, str], broken: BrokenStream) -> web.StreamResponse:
    """The answer of ``response`` forwarded and settled; ``reader`` is the channel's adaptor."""
    if response.status not in (200, 201):
        raise reader.error(response.status, await read_limited(response))
    if job.stream and "application/json" in response.headers.get("Content-Type", ""):
        raise reader.error(500, await read_limited(response))  # an error page instead of a stream
    if job.stream:
        # The client's stream is a plain SSE one: the provider's events are already in the client's format.
        out = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
        return await deliver_stream(job, state, response, Forwarding(reader.stream_translator(state.request), broken),
                                    out=out)
    return await _forward_json(job, state, response, reader, headers)


async def _forward_json(job: Job, state: Attempt, response: aiohttp.ClientResponse, reader: TranslatingAdaptor,
                        headers: dict[str, str]) -> web.Response:
    body, answer, usage = await read_answer(state, response, reader)

    def text() -> str:
        return choice_text(answer.get("choices"), "message")

    counted = (job.prompt_tokens(state.upstream_model), job.relay.tokenizer.count_text(text(), state.upstream_model))
    settle(job, state, *((usage.prompt_tokens, usage.completion_tokens) if usage else counted), delivered=text)
    return web.Response(body=body, status=200, content_type="application/json", charset="utf-8", headers=headers)
