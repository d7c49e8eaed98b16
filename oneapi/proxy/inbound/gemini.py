"""``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent`` and ``:countTokens``: Gemini's API
in front of every channel (the google-genai SDK, Gemini CLI).

The key is a oneapi token, in ``x-goog-api-key`` (what google-genai sends), ``?key=`` or ``Authorization:
Bearer``. The request is checked as Gemini checks it (``gemini_request``), then takes the relay's one path as
a chat request (:mod:`oneapi.proxy.inbound`): a Gemini channel gets the client's body and its answer is
forwarded byte for byte, usage read from ``usageMetadata`` for billing; any other channel gets the OpenAI
translation and its answer comes back translated (``gemini_answer``). Streams are served as SSE (``?alt=sse``,
what the SDKs ask for); the JSON-array stream Gemini sends without it is answered 400. Every error of these
routes is answered in Google's shape ``{"error": {"code", "message", "status"}}``.

``countTokens`` is free, as Gemini's is: it passes the token checks, is forwarded to a Gemini channel when one
serves the model, and is otherwise counted here with the tokenizer over the translated request.
"""

from __future__ import annotations

import json
import time
from typing import cast

import aiohttp
from aiohttp import web

from oneapi.channel_types import ChannelType
from oneapi.errors import OneAPIError
from oneapi.http.request import REQUEST_ID
from oneapi.proxy.adaptors import gemini as gemini_adaptor
from oneapi.proxy.adaptors.base import TranslatingAdaptor, UpstreamCall
from oneapi.proxy.adaptors.common import compact_json
from oneapi.proxy.adaptors.openai import base_url
from oneapi.proxy.auth import Caller
from oneapi.proxy.errors import RelayError
from oneapi.proxy.failures import NETWORK_ERRORS, conceal_address, network_failure
from oneapi.proxy.inbound import access, gemini_answer, gemini_request, native
from oneapi.proxy.inbound.gemini_native import NativeGenerate
from oneapi.proxy.inbound.stream import TranslatedStream
from oneapi.proxy.relay import RELAY, Attempt, Job, read_body, run
from oneapi.proxy.sse import parse_json
from oneapi.proxy.upstream import read_limited, send
from oneapi.redaction import redactor
from oneapi.wire.channel import RouteChannel

VERSIONS = ("v1beta", "v1")
ACTIONS = {"generateContent": False, "streamGenerateContent": True, "countTokens": False}


def error_response(exc: OneAPIError, request_id: str) -> web.Response:
    status, body = gemini_answer.error_body(exc.http_status, redactor.mask(exc.message))
    return web.json_response(body, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _api_key(request: web.Request) -> str:
    return request.headers.get("x-goog-api-key") or request.query.get("key") or \
        request.headers.get("Authorization") or ""


async def handle_generate(request: web.Request) -> web.StreamResponse:
    started = time.monotonic()
    caller = await access.caller(request, _api_key(request), error_response)
    model, _, action = request.match_info["target"].partition(":")
    if action not in ACTIONS:
        raise RelayError(f"models/{model}:{action} is not a method this server serves: use generateContent, "
                         "streamGenerateContent or countTokens", status=404, code="NOT_FOUND")
    if action == "countTokens":
        return await _count_tokens(request, caller, model)
    stream = ACTIONS[action]
    if stream and request.query.get("alt") != "sse":
        raise gemini_request.invalid("streamGenerateContent is served as server-sent events only: add ?alt=sse")
    body = await read_body(request)
    parsed = gemini_request.parse(body, model, stream=stream)
    access.check_served(request, caller, model)
    translation = gemini_request.openai_request(parsed)
    inbound = GeminiInbound(parsed, translation, NativeGenerate(parsed.data, body, request.path.split("/")[1]))
    data = translation.request
    job = Job(relay=request.app[RELAY], request=request, caller=caller, mode="chat", body=compact_json(data),
              data=data, model=model, stream=stream, include_usage=stream, max_tokens=parsed.max_tokens,
              started=started, request_id=request[REQUEST_ID], inbound=inbound)
    return inbound.answer(await run(job))


class GeminiInbound:
    """Gemini's generateContent format of one request (:class:`oneapi.proxy.inbound.Inbound`)."""

    def __init__(self, parsed: gemini_request.GenerateRequest, translation: gemini_request.Translation,
                 native: NativeGenerate) -> None:
        self._parsed = parsed
        self._translation = translation
        self._native = native
        self._forwarded = False

    def native_adaptor(self, channel: RouteChannel) -> NativeGenerate | None:
        if channel.type == ChannelType.GEMINI:
            return self._native
        if self._translation.untranslatable:
            raise gemini_request.invalid(self._translation.untranslatable)
        return None

    def stream_response(self, job: Job) -> web.StreamResponse:
        model = job.model
        events = gemini_answer.EventStream(model, job.prompt_tokens(model),
                                           lambda text: job.relay.tokenizer.count_text(text, model))
        return TranslatedStream(events)

    def answer(self, response: web.StreamResponse) -> web.StreamResponse:
        if response.prepared or self._forwarded or not isinstance(response, web.Response):
            return response
        answer = parse_json(response.body) if isinstance(response.body, bytes) else None
        if not isinstance(answer, dict):
            raise RelayError("the upstream's answer could not be translated", status=500,
                             code="unmarshal_response_body_failed")
        model = answer.get("model") if isinstance(answer.get("model"), str) else self._parsed.model
        return web.json_response(gemini_answer.response(answer, str(model)),
                                 dumps=lambda v: json.dumps(v, ensure_ascii=False))

    async def deliver_native(self, job: Job, state: Attempt, response: aiohttp.ClientResponse) -> web.StreamResponse:
        # the server's Gemini adaptor, built with GEMINI_VERSION
        reader = cast(TranslatingAdaptor, job.relay.adaptor_for(ChannelType.GEMINI))
        answered = await native.forward(job, state, response, reader, {}, _broken)
        self._forwarded = True
        return answered


async def _count_tokens(request: web.Request, caller: Caller, model: str) -> web.Response:
    """Free, as Gemini's is: forwarded to a Gemini channel serving the model (its count is exact), else counted
    here over the translated request (the prompt as oneapi would bill it)."""
    body = await read_body(request)
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise gemini_request.invalid("Invalid JSON payload received.") from None
    if not isinstance(data, dict):
        raise gemini_request.invalid("Invalid JSON payload received: the request must be a JSON object.")
    inner = data.get("generateContentRequest", data.get("generate_content_request"))
    parsed = gemini_request.parse(json.dumps(inner if isinstance(inner, dict) else data).encode(), model,
                                  stream=False)
    access.check_served(request, caller, model)
    relay = request.app[RELAY]
    channel = relay.routes.channel(caller.pinned_channel) if caller.pinned_channel is not None \
        else relay.routes.pick(caller.user.group, model)
    if channel is not None and channel.type == ChannelType.GEMINI:
        return await _forward_count(request, channel, model, body)
    translated = gemini_request.openai_request(parsed).request
    count = relay.tokenizer.count_messages(translated["messages"], model)
    if translated.get("tools"):
        count += relay.tokenizer.count_text(json.dumps(translated["tools"], ensure_ascii=False), model)
    return web.json_response({"totalTokens": count})


async def _forward_count(request: web.Request, channel: RouteChannel, model: str, body: bytes) -> web.Response:
    relay = request.app[RELAY]
    version = request.path.split("/")[1]
    upstream = channel.upstream_model(model).removeprefix("models/")
    call = UpstreamCall("POST", f"{base_url(channel).rstrip('/')}/{version}/models/{upstream}:countTokens",
                        {"Content-Type": "application/json", "x-goog-api-key": channel.key}, body)
    try:
        response = await send(relay, call, stream=False)
        try:
            answer, status = await read_limited(response), response.status
        finally:
            response.release()
    except NETWORK_ERRORS as exc:
        raise network_failure(channel.id, "upstream request", exc) from None
    if status != 200:
        error = gemini_adaptor.google_error(status, answer)
        conceal_address(error, channel)
        raise error
    return web.Response(body=answer, content_type="application/json", charset="utf-8")


def _broken(message: str) -> bytes:
    return gemini_answer.sse(gemini_answer.error_body(500, message)[1])


def add_routes(app: web.Application) -> None:
    for version in VERSIONS:  # the SDKs' default is v1beta; a Gemini channel gets the client's version
        app.router.add_post(f"/{version}/models/{{target}}", handle_generate)
