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

import json
import time

import aiohttp
from aiohttp import web

from oneapi.channel_types import ChannelType
from oneapi.errors import OneAPIError
from oneapi.http.request import REQUEST_ID
from oneapi.proxy.adaptors import anthropic
from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.adaptors.common import compact_json
from oneapi.proxy.errors import RelayError, UpstreamError
from oneapi.proxy.failures import NETWORK_ERRORS, conceal_address, network_failure
from oneapi.proxy.inbound import access, messages_answer, messages_request, native
from oneapi.proxy.inbound.messages_answer import EventStream
from oneapi.proxy.inbound.messages_native import NativeMessages
from oneapi.proxy.inbound.stream import TranslatedStream
from oneapi.proxy.relay import RELAY, Attempt, Job, read_body, run
from oneapi.proxy.sse import parse_json
from oneapi.proxy.upstream import read_limited, send
from oneapi.redaction import redactor
from oneapi.wire.channel import RouteChannel

MESSAGES, COUNT_TOKENS = "/v1/messages", "/v1/messages/count_tokens"


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


async def handle_messages(request: web.Request) -> web.StreamResponse:
    started = time.monotonic()
    caller = await access.caller(request, _api_key(request), error_response)
    body = await read_body(request)
    parsed = messages_request.parse(body)
    access.check_served(request, caller, parsed.model)
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
        if channel.type == ChannelType.ANTHROPIC:
            return self._native
        if self._translation.untranslatable:
            raise messages_request.invalid(self._translation.untranslatable)
        return None

    def stream_response(self, job: Job) -> web.StreamResponse:
        model = job.model
        events = EventStream(model, job.prompt_tokens(model), lambda text: job.relay.tokenizer.count_text(text, model))
        return TranslatedStream(events, self._headers)

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
        answered = await native.forward(job, state, response, anthropic.ADAPTOR, self._headers, _broken)
        self._forwarded = True
        return answered


def _broken(message: str) -> bytes:
    return messages_answer.sse("error", {"error": {"type": "api_error", "message": message}})


async def handle_count_tokens(request: web.Request) -> web.StreamResponse:
    caller = await access.caller(request, _api_key(request), error_response)
    body = await read_body(request)
    parsed = messages_request.parse(body, count_tokens=True)
    access.check_served(request, caller, parsed.model)
    relay = request.app[RELAY]
    channel = relay.routes.channel(caller.pinned_channel) if caller.pinned_channel is not None \
        else relay.routes.pick(caller.user.group, parsed.model)
    if channel is not None and channel.type == ChannelType.ANTHROPIC:
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
    counting = NativeMessages(parsed.data, body, COUNT_TOKENS, request.headers.get("anthropic-version", ""),
                              request.headers.get("anthropic-beta", ""))
    upstream_model = channel.upstream_model(parsed.model)
    call = counting.build(channel, RelayRequest(
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
