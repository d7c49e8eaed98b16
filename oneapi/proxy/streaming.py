"""The one loop that delivers a streamed answer: every channel's stream, forwarded or translated, and an inbound
format's stream forwarded natively.

The loop owns what is the same for all of them: writing each piece as soon as the filter (``stream_filters``)
gives it, stopping the upstream when the client leaves or the output budget is spent, settling exactly once
(from the upstream's usage, else from the text delivered; nothing when nothing was answered), and ending the
client's stream with what the filter says ends it (OpenAI's: the error event or the ``include_usage`` chunk,
and ``data: [DONE]``; a forwarded provider's: its own last event, or the format's error event).

The filter decides how the stream opens: an eager one (pass-through) opens it at once, so a failure before the
first event becomes an error event in the 200 stream; a lazy one (translators, native forwarding) opens it with
the first piece, so that a failure before it is raised like any upstream error — refunded, retried on another
channel, counted for auto-disable.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from aiohttp import web

from oneapi.proxy.adaptors.base import Usage
from oneapi.proxy.errors import RelayError, UpstreamError
from oneapi.proxy.failures import (
    NETWORK_ERRORS,
    UNREADABLE,
    category,
    conceal_address,
    detail,
    network_failure,
    unreadable,
)
from oneapi.proxy.job import Attempt, Job
from oneapi.proxy.settlement import settle
from oneapi.proxy.stream_filters import StreamFilter
from oneapi.redaction import redactor

log = logging.getLogger("oneapi.relay")

CLIENT_GONE = (ConnectionError, RuntimeError)  # what writing to a client that left raises


def interrupted(message: str) -> dict[str, Any]:
    return {"message": message, "type": "one_api_error", "param": "", "code": "stream_interrupted"}


def bill(job: Job, state: Attempt, flow: StreamFilter, *, reported: bool) -> Usage:
    """Settle the answer: from the upstream's usage when ``reported`` may be trusted (the stream ended as the
    upstream meant it to), else from the text delivered. Returns the tokens it was settled from."""
    prompt = job.prompt_tokens(state.upstream_model)
    numbers = flow.reported_usage(prompt) if reported else None
    if numbers is None:
        numbers = (prompt, job.relay.tokenizer.count_text(flow.text(), state.upstream_model))
    settle(job, state, *numbers, delivered=flow.text)
    return Usage(*numbers)


async def deliver_stream(job: Job, state: Attempt, response: aiohttp.ClientResponse, flow: StreamFilter,
                         headers: dict[str, str] | None = None, *,
                         out: web.StreamResponse | None = None) -> web.StreamResponse:
    """Deliver ``response``'s stream through ``flow`` to the client and settle it; ``headers`` are the
    upstream's passed on to the client. ``out`` is the client's stream when ``flow`` writes the client's own
    format (native forwarding); by default the job's, which takes OpenAI's events."""
    out = out if out is not None else job.open_stream(headers)
    out.enable_chunked_encoding()
    if flow.eager:
        await out.prepare(job.request)

    async def write(data: bytes) -> bool:
        """False when the client is gone."""
        if not data:
            return True
        try:
            if not out.prepared:
                await out.prepare(job.request)
            await out.write(data)
        except CLIENT_GONE:
            return False
        return True

    failure: dict[str, Any] | None = None
    client_gone = False
    billed: Usage | None = None
    try:
        async for data in response.content.iter_any():
            if not await write(flow.feed(data)):
                client_gone = True
                response.close()  # stop the upstream generating (and billing) an answer nobody reads
                break
            if flow.cut:
                response.close()  # the rest of the answer would not be paid for
                break
        if not client_gone and not flow.cut and not await write(flow.finish()):
            client_gone = True
    except NETWORK_ERRORS as exc:
        if not flow.committed:
            raise network_failure(state.channel.id, "upstream stream", exc) from None
        log.warning("stream from channel #%d broke: %s", state.channel.id, detail(exc))
        failure = interrupted(f"upstream stream broke on channel #{state.channel.id}: {category(exc)}")
    except UpstreamError as exc:  # the provider reported an error inside the stream
        if not flow.committed:
            raise
        conceal_address(exc, state.channel)
        failure = redactor.mask_value(exc.to_openai()["error"])
    except UNREADABLE as exc:  # a provider event that could not be read: the provider's fault
        response.close()
        if not flow.committed:
            raise unreadable(state.channel.id, "stream", exc) from None
        log.warning("stream from channel #%d: an event could not be read: %s", state.channel.id, detail(exc))
        failure = interrupted(f"channel #{state.channel.id} sent an event oneapi could not read")
    except asyncio.CancelledError:
        # The client left and the server cancelled this handler (aiohttp's handler_cancellation): the part
        # already delivered is billed exactly as when a write fails; nothing answered, nothing charged.
        response.close()
        if flow.answered:
            bill(job, state, flow, reported=False)
        raise
    except Exception:  # oneapi's own fault: the client's stream still ends properly and what it got is billed
        log.exception("stream from channel #%d could not be relayed", state.channel.id)
        response.close()
        failure = interrupted(f"the stream from channel #{state.channel.id} could not be relayed")
    if not flow.answered:
        response.close()
        if client_gone:  # left before anything was answered: nothing to charge (the caller refunds)
            return out
        if not flow.committed:
            # Not one chunk: nothing answered, nothing charged (the caller refunds), the error is the caller's.
            raise RelayError("upstream answered 200 without any stream event", status=500,
                             code="empty_stream_response")
        # Not a stream at all (an HTML page, an empty body, a connection cut before the first event), or a
        # forwarded provider's error event before any content: nothing is charged and the client's stream ends
        # with an error event instead of silence (the provider's own, when it sent one).
        failure = failure or interrupted(f"channel #{state.channel.id} answered 200 without any stream event")
    else:
        billed = bill(job, state, flow, reported=not client_gone and not flow.cut)
    if client_gone:
        return out
    try:
        if not out.prepared:  # not even the first chunk fitted what was reserved: an empty, cut answer
            await out.prepare(job.request)
        ending = flow.ending(failure, billed if job.include_usage else None, job.mode)
        if ending:
            await out.write(ending)
        await out.write_eof()
    except CLIENT_GONE:
        pass
    return out

