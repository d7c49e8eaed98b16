"""``POST /v1/messages`` and ``/v1/messages/count_tokens``: Anthropic's Messages API in front of every channel.

The key is a oneapi token, in ``x-api-key`` (what Anthropic's SDKs send) or ``Authorization: Bearer``. The
request is checked as Anthropic checks it (``messages_request``), then takes the relay's one path as a chat
request (:mod:`oneapi.proxy.inbound`): an Anthropic channel gets the client's body and its answer is forwarded
byte for byte, usage read from ``usage`` / ``message_start`` and ``message_delta`` for billing; any other
channel gets the OpenAI translation and its answer comes back translated (``messages_answer``). Every error of
these routes, the token's refusals included, is answered in Anthropic's shape with Anthropic's status codes.

``count_tokens`` is free, as Anthropic's is: it passes the token checks, is forwarded to an Anthropic channel
when one serves the model (its count is exact), and is otherwise counted here with the tokenizer over the
translated request (the prompt as oneapi would bill it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import aiohttp
from aiohttp import web

from oneapi.api.middleware import CLIENT_IP, REQUEST_ID
from oneapi.errors import OneAPIError
from oneapi.proxy.adaptors import anthropic
from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.adaptors.common import compact_json
from oneapi.proxy.auth import Caller, authenticate, check_model
from oneapi.proxy.errors import ERROR_RENDERER, RelayError, UpstreamError
from oneapi.proxy.failures import category, conceal_address, detail, network_failure
from oneapi.proxy.inbound import messages_answer, messages_request
from oneapi.proxy.inbound.messages_answer import EventStream
from oneapi.proxy.inbound.messages_native import ANTHROPIC, NativeMessages
from oneapi.proxy.relay import RELAY, SSE_HEADERS, Attempt, Job, choice_text, read_body, run, settle
from oneapi.proxy.sse import parse_json
from oneapi.proxy.translate import UNREADABLE, unreadable
from oneapi.proxy.upstream import read_limited, send
from oneapi.redaction import redactor
from oneapi.services.routing import RouteChannel

log = logging.getLogger("oneapi.relay")

MESSAGES, COUNT_TOKENS = "/v1/messages", "/v1/messages/count_tokens"
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


def error_response(exc: OneAPIError, request_id: str) -> web.Response:
    """``exc`` in Anthropic's error shape, masked as every relay error is."""
    message = redactor.mask(exc.message)
    status, body = messages_answer.error_body(exc.http_status, exc.type, message, request_id)
    response = web.json_response(body, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))
    if request_id:
        response.headers["request-id"] = request_id  # where Anthropic's SDKs read a request's id
    return response


def _api_key(request: web.Request) -> str:
    return request.headers.get("x-api-key") or request.headers.get("Authorization") or ""


async def _caller(request: web.Request) -> Caller:
    request[ERROR_RENDERER] = error_response
    relay = request.app[RELAY]
    return await authenticate(request, relay, request.get(CLIENT_IP) or request.remote or "", _api_key(request))


def _check_served(request: web.Request, caller: Caller, model: str) -> None:
    """A model no channel of the caller's group serves is Anthropic's 404 ``not_found_error`` (not a retryable
    overload: there is nothing to wait for)."""
    check_model(caller, model)
    group = caller.user.group
    if caller.pinned_channel is None and not request.app[RELAY].routes.has_route(group, model):
        raise RelayError(f"model: {model} is not served in group {group}", status=404, code="model_not_found",
                         error_type="not_found_error")


async def handle_messages(request: web.Request) -> web.StreamResponse:
    started = time.monotonic()
    caller = await _caller(request)
    body = await read_body(request)
    parsed = messages_request.parse(body)
    _check_served(request, caller, parsed.model)
    translation = messages_request.openai_request(parsed)
    inbound = MessagesInbound(parsed, translation, NativeMessages(
        parsed.data, body, MESSAGES, request.headers.get("anthropic-version", ""),
        request.headers.get("anthropic-beta", "")), request[REQUEST_ID])
    data = translation.request
    job = Job(relay=request.app[RELAY], request=request, caller=caller, mode="chat", body=compact_json(data),
              data=data, model=parsed.model, stream=parsed.stream, include_usage=parsed.stream,
              max_tokens=parsed.max_tokens, started=started, request_id=request[REQUEST_ID], inbound=inbound)
    return inbound.answer(await run(job))


class MessagesInbound:
    """The Messages format of one request (:class:`oneapi.proxy.inbound.Inbound`)."""

    def __init__(self, parsed: messages_request.MessagesRequest, translation: messages_request.Translation,
                 native: NativeMessages, request_id: str) -> None:
        self._parsed = parsed
        self._translation = translation
        self._native = native
        self._headers = {"request-id": request_id}  # where Anthropic's SDKs read a request's id
        self._forwarded = False  # the answer came from an Anthropic channel as it is

    def native_adaptor(self, channel: RouteChannel) -> NativeMessages | None:
        if channel.type == ANTHROPIC:
            return self._native
        if self._translation.untranslatable:
            raise messages_request.invalid(self._translation.untranslatable)
        return None

    def stream_response(self, job: Job) -> web.StreamResponse:
        model = job.model
        events = EventStream(model, job.prompt_tokens(model), lambda text: job.relay.tokenizer.count_text(text, model))
        return EventStreamResponse(events, self._headers)

    def answer(self, response: web.StreamResponse) -> web.StreamResponse:
        """The relay's answer for the client: a stream or a forwarded answer as it is, a translated JSON answer
        as a Messages answer."""
        if response.prepared:
            return response
        response.headers.update(self._headers)
        if self._forwarded or not isinstance(response, web.Response):
            return response
        answer = parse_json(response.body) if isinstance(response.body, bytes) else None
        if not isinstance(answer, dict):
            raise RelayError("the upstream's answer could not be translated", status=500,
                             code="unmarshal_response_body_failed")
        model = answer.get("model") if isinstance(answer.get("model"), str) else self._parsed.model
        return web.json_response(messages_answer.message(answer, str(model)), headers=self._headers,
                                 dumps=lambda v: json.dumps(v, ensure_ascii=False))

    async def deliver_native(self, job: Job, state: Attempt, response: aiohttp.ClientResponse) -> web.StreamResponse:
        if response.status not in (200, 201):
            raise anthropic.ADAPTOR.error(response.status, await read_limited(response))
        if job.stream and "application/json" in response.headers.get("Content-Type", ""):
            raise anthropic.ADAPTOR.error(500, await read_limited(response))
        answered = await (_forward_stream(job, state, response, self._headers) if job.stream
                          else _forward_json(job, state, response))
        self._forwarded = True
        return answered


async def _forward_json(job: Job, state: Attempt, response: aiohttp.ClientResponse) -> web.Response:
    try:
        body = await response.read()
    except NETWORK_ERRORS as exc:
        raise network_failure(state.channel.id, "reading the upstream answer", exc) from None
    try:  # the adaptor's reading gives the usage (cache tokens included) and raises an error found in a 200
        answer, usage = anthropic.ADAPTOR.parse_response(state.request, body)
    except UpstreamError:
        raise
    except UNREADABLE as exc:
        raise unreadable(state, "answer", exc) from None

    def text() -> str:
        return choice_text(answer.get("choices"), "message")

    counted = (job.prompt_tokens(state.upstream_model), job.relay.tokenizer.count_text(text(), state.upstream_model))
    settle(job, state, *((usage.prompt_tokens, usage.completion_tokens) if usage else counted), delivered=text)
    return web.Response(body=body, status=200, content_type="application/json", charset="utf-8")


async def _forward_stream(job: Job, state: Attempt, response: aiohttp.ClientResponse,
                          headers: dict[str, str]) -> web.StreamResponse:
    """The upstream's events as they arrive; the adaptor's stream reader follows them for usage and text."""
    reader = anthropic.ADAPTOR.stream_translator(state.request)
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
            chunks = reader.feed(data)
        except UpstreamError:
            reading, failed = False, True
            return
        except UNREADABLE:
            reading = False
            return
        delivered.extend(choice_text(c.get("choices"), "delta") for c in chunks)

    def bill() -> None:
        usage = reader.usage if reading and not client_gone else None
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
    except NETWORK_ERRORS as exc:
        if not out.prepared:
            raise network_failure(state.channel.id, "upstream stream", exc) from None
        log.warning("stream from channel #%d broke: %s", state.channel.id, detail(exc))
        await _write_quietly(out, messages_answer.sse("error", {"error": {
            "type": "api_error", "message": f"upstream stream broke on channel #{state.channel.id}: {category(exc)}"}}))
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


async def _write_quietly(out: web.StreamResponse, data: bytes) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await out.write(data)


class EventStreamResponse(web.StreamResponse):
    """The SSE answer of a translated stream: the relay writes OpenAI's events (bytes cut anywhere, ``data:
    [DONE]``, ``{"error": ...}`` events), the client reads Anthropic's (:class:`EventStream`)."""

    def __init__(self, events: EventStream, headers: dict[str, str]) -> None:
        super().__init__(status=200, headers={**SSE_HEADERS, **headers})
        self._events = events

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        translated = self._events.feed(bytes(data))
        if translated:
            await super().write(translated)

    async def write_eof(self, data: bytes = b"") -> None:
        translated = (self._events.feed(data) if data else b"") + self._events.finish()
        if translated:
            await super().write(translated)
        await super().write_eof()


async def handle_count_tokens(request: web.Request) -> web.StreamResponse:
    caller = await _caller(request)
    body = await read_body(request)
    parsed = messages_request.parse(body, count_tokens=True)
    _check_served(request, caller, parsed.model)
    relay = request.app[RELAY]
    channel = relay.routes.channel(caller.pinned_channel) if caller.pinned_channel is not None \
        else relay.routes.pick(caller.user.group, parsed.model)
    if channel is not None and channel.type == ANTHROPIC:
        return await _forward_count(request, channel, parsed, body)
    data = messages_request.openai_request(parsed).request
    tokenizer = relay.tokenizer
    count = tokenizer.count_messages(data["messages"], parsed.model)
    if data.get("tools"):
        count += tokenizer.count_text(json.dumps(data["tools"], ensure_ascii=False), parsed.model)
    return web.json_response({"input_tokens": count})


async def _forward_count(request: web.Request, channel: RouteChannel, parsed: messages_request.MessagesRequest,
                         body: bytes) -> web.Response:
    relay = request.app[RELAY]
    native = NativeMessages(parsed.data, body, COUNT_TOKENS, request.headers.get("anthropic-version", ""),
                            request.headers.get("anthropic-beta", ""))
    upstream_model = channel.upstream_model(parsed.model)
    call = native.build(channel, RelayRequest(
        mode="chat", path=COUNT_TOKENS, query="", body=body, json=parsed.data, model=parsed.model,
        upstream_model=upstream_model, stream=False, content_type="application/json", accept="application/json"))
    try:
        response = await send(relay, call, stream=False)
        try:
            answer = await read_limited(response)
            status = response.status
        finally:
            response.release()
    except NETWORK_ERRORS as exc:
        raise network_failure(channel.id, "upstream request", exc) from None
    if status != 200:
        error = anthropic.ADAPTOR.error(status, answer)
        if isinstance(error, UpstreamError):
            conceal_address(error, channel)
        raise error
    return web.Response(body=answer, content_type="application/json", charset="utf-8")


def add_routes(app: web.Application) -> None:
    app.router.add_post(MESSAGES, handle_messages)
    app.router.add_post(COUNT_TOKENS, handle_count_tokens)
