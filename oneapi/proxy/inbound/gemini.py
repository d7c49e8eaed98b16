"""``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``: Gemini's API in front of every
channel (the google-genai SDK, Gemini CLI).

The key is a oneapi token, in ``x-goog-api-key`` (what google-genai sends), ``?key=`` or ``Authorization:
Bearer``. The request is checked as Gemini checks it (``gemini_request``), then takes the relay's one path as
a chat request (:mod:`oneapi.proxy.inbound`): a Gemini channel gets the client's body and its answer is
forwarded byte for byte, usage read from ``usageMetadata`` for billing; any other channel gets the OpenAI
translation and its answer comes back translated (``gemini_answer``). Streams are served as SSE (``?alt=sse``,
what the SDKs ask for); the JSON-array stream Gemini sends without it is answered 400. Every error of these
routes is answered in Google's shape ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import json
import time
from typing import cast

import aiohttp
from aiohttp import web

from oneapi.api.middleware import REQUEST_ID
from oneapi.errors import OneAPIError
from oneapi.proxy.adaptors.base import TranslatingAdaptor
from oneapi.proxy.adaptors.common import compact_json
from oneapi.proxy.errors import RelayError
from oneapi.proxy.inbound import access, gemini_answer, gemini_request, native
from oneapi.proxy.inbound.gemini_native import GEMINI, NativeGenerate
from oneapi.proxy.inbound.stream import TranslatedStream
from oneapi.proxy.relay import RELAY, Attempt, Job, read_body, run
from oneapi.proxy.sse import parse_json
from oneapi.redaction import redactor
from oneapi.services.routing import RouteChannel

VERSIONS = ("v1beta", "v1")
ACTIONS = {"generateContent": False, "streamGenerateContent": True}


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
        raise RelayError(f"models/{model}:{action} is not a method this server serves: use generateContent or "
                         "streamGenerateContent", status=404, code="NOT_FOUND")
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
        if channel.type == GEMINI:
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
        reader = cast(TranslatingAdaptor, job.relay.adaptor_for(GEMINI))  # the server's, with GEMINI_VERSION
        answered = await native.forward(job, state, response, reader, {}, _broken)
        self._forwarded = True
        return answered


def _broken(message: str) -> bytes:
    return gemini_answer.sse(gemini_answer.error_body(500, message)[1])


def add_routes(app: web.Application) -> None:
    for version in VERSIONS:  # the SDKs' default is v1beta; a Gemini channel gets the client's version
        app.router.add_post(f"/{version}/models/{{target}}", handle_generate)
