"""Answers from providers with their own protocol: the adaptor translates, this module delivers and bills.

Streams: provider bytes → the adaptor's StreamTranslator → OpenAI chunks, written as SSE as soon as they are
produced; the usage chunk is added only when the client asked for it; ``data: [DONE]`` always ends the stream.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from oneapi.proxy.adaptors.base import TranslatingAdaptor, Usage
from oneapi.proxy.adaptors.common import usage_chunk, usage_object
from oneapi.proxy.errors import RelayError, UpstreamError
from oneapi.proxy.failures import category, conceal_address, detail, network_failure
from oneapi.proxy.output_budget import length_chunk
from oneapi.proxy.sse import DONE_EVENT, event
from oneapi.redaction import redactor

if TYPE_CHECKING:
    from oneapi.proxy.relay import Attempt, Job

log = logging.getLogger("oneapi.relay")

NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
# What reading a provider's answer raises when the answer is not what its protocol says (RecursionError: JSON
# nested beyond what can be decoded): the provider's fault, answered like One API's unmarshal errors.
UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, RecursionError)


def unreadable(state: Attempt, what: str, exc: BaseException) -> RelayError:
    """The provider's answer is not what its protocol says: the client is told which channel; the parser's
    own words (which may quote the answer) are the operator's."""
    error = RelayError(f"could not read the provider's {what} on channel #{state.channel.id}", status=500,
                       code="unmarshal_response_body_failed")
    error.detail = f"channel #{state.channel.id}: unreadable {what}: {detail(exc)}"
    return error


def _text_of(obj: dict[str, Any], key: str) -> str:
    from oneapi.proxy.relay import choice_text

    return choice_text(obj.get("choices"), key)


async def deliver_json(job: Job, state: Attempt, response: aiohttp.ClientResponse,
                       adaptor: TranslatingAdaptor) -> web.Response:
    from oneapi.proxy.relay import settle

    try:
        body = await response.read()
    except NETWORK_ERRORS as exc:
        raise network_failure(state.channel.id, "reading the upstream answer", exc) from None
    try:
        answer, usage = adaptor.parse_response(state.request, body)
    except UpstreamError:
        raise
    except UNREADABLE as exc:
        raise unreadable(state, "answer", exc) from None
    if job.mode == "images":  # priced per image before the call (Replicate's), as OpenAI's image answers are
        settle(job, state, 0, 0, quota=state.reservation.amount)
        return web.json_response(answer)
    prompt = job.prompt_tokens(state.upstream_model)
    if usage is None:  # the provider gave none: count, bill, and tell the client what was counted
        completion = job.relay.tokenizer.count_text(_text_of(answer, "message"), state.upstream_model)
        usage = Usage(prompt, completion)
        answer["usage"] = (usage_object(usage) if job.mode != "embeddings"
                           else {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens})
    settle(job, state, usage.prompt_tokens, usage.completion_tokens, delivered=lambda: _text_of(answer, "message"))
    return web.json_response(answer)


async def deliver_stream(job: Job, state: Attempt, response: aiohttp.ClientResponse,
                         adaptor: TranslatingAdaptor) -> web.StreamResponse:
    """The SSE answer opens only when the provider's first chunk is translated: an error before that (Spark's
    header.code, an error event first thing) is raised like any upstream error — refunded, retried elsewhere,
    counted for auto-disable — instead of reaching the client as a 200 stream."""
    from oneapi.proxy.relay import settle

    translator = adaptor.stream_translator(state.request)
    out = job.open_stream()
    out.enable_chunked_encoding()
    delivered: list[str] = []
    failure: dict[str, Any] | None = None
    client_gone = False
    cut = False  # PreConsumeMaxOutput: the answer reached what its reservation pays for
    last: dict[str, Any] | None = None

    async def send(chunks: list[dict[str, Any]]) -> bool:
        nonlocal last, cut
        for chunk in chunks:
            text = _text_of(chunk, "delta")
            if state.budget is not None and not state.budget.admit(text):
                cut = True
                return True
            if not out.prepared:
                try:
                    await out.prepare(job.request)
                except (ConnectionError, RuntimeError):  # the client left before the first chunk
                    return False
            delivered.append(text)
            last = chunk
            try:
                await out.write(event(chunk))
            except (ConnectionError, RuntimeError):
                return False
        return True

    try:
        async for data in response.content.iter_any():
            if not await send(translator.feed(data)):
                client_gone = True
                response.close()
                break
            if cut:
                response.close()  # the rest of the answer would not be paid for
                break
        if not client_gone and not cut and not await send(translator.finish()):
            client_gone = True
    except NETWORK_ERRORS as exc:
        if last is None:
            raise network_failure(state.channel.id, "upstream stream", exc) from None
        log.warning("stream from channel #%d broke: %s", state.channel.id, detail(exc))
        failure = {"message": f"upstream stream broke on channel #{state.channel.id}: {category(exc)}",
                   "type": "one_api_error", "param": "", "code": "stream_interrupted"}
    except UpstreamError as exc:  # the provider reported an error inside the stream
        if last is None:
            raise
        conceal_address(exc, state.channel)
        failure = redactor.mask_value(exc.to_openai()["error"])
    except UNREADABLE as exc:  # a provider event we could not read
        if last is None:
            raise unreadable(state, "stream", exc) from None
        log.warning("stream from channel #%d: an event could not be read: %s", state.channel.id, detail(exc))
        failure = {"message": f"channel #{state.channel.id} sent an event oneapi could not read",
                   "type": "one_api_error", "param": "", "code": "stream_interrupted"}
    except asyncio.CancelledError:  # the client left and the server cancelled us: bill what was delivered
        response.close()
        if last is not None:
            settle(job, state, job.prompt_tokens(state.upstream_model),
                   job.relay.tokenizer.count_text("".join(delivered), state.upstream_model),
                   delivered=lambda: "".join(delivered))
        raise
    if last is None and cut:  # not even the first chunk fits what was reserved: an empty, cut answer
        try:
            await out.prepare(job.request)
        except (ConnectionError, RuntimeError):
            client_gone = True
    elif last is None:
        if client_gone:  # left before anything was answered: nothing to charge (the caller refunds)
            response.close()
            return out
        # Not one chunk: nothing answered, nothing charged (the caller refunds), and the error is the caller's.
        raise RelayError("upstream answered 200 without any stream event", status=500,
                         code="empty_stream_response")
    prompt = job.prompt_tokens(state.upstream_model)
    usage = None if client_gone or cut else translator.usage
    if usage is None:
        usage = Usage(prompt, job.relay.tokenizer.count_text("".join(delivered), state.upstream_model))
    settle(job, state, usage.prompt_tokens, usage.completion_tokens, delivered=lambda: "".join(delivered))
    if client_gone:
        return out
    try:
        if cut:
            await out.write(event(length_chunk(last, job.mode)))
        if failure is not None:
            await out.write(event({"error": failure}))
        elif job.include_usage and last is not None:
            await out.write(event(usage_chunk(str(last.get("id", "")), str(last.get("model", "")), usage)))
        await out.write(DONE_EVENT)
        await out.write_eof()
    except (ConnectionError, RuntimeError):
        pass
    return out
