"""The text relay: chat, completions, edits, embeddings and moderations (SPEC 1.4), for OpenAI-protocol
channels.

One request: authenticate (``auth.py``) → the token's own rate limits (``services/token_limits.py``) → parse and
check the body once → for each attempt: pick a channel, price it, reserve quota, send → forward the answer (bytes
as they arrive for streams) → settle from the upstream's usage (tokens counted only when it gives none), count
the billed tokens in the token's TPM window and queue the consume log. Every exit — success,
upstream error, network error, timeout, client gone, exception, cancellation — settles or refunds the
reservation exactly once (One API skipped refunds on some paths; SPEC 5.3's quirk is fixed here).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import aiohttp
from aiohttp import web

from oneapi.errors import InvalidInputError, OneAPIError
from oneapi.http import body
from oneapi.http.request import CLIENT_IP, REQUEST_ID
from oneapi.proxy import capabilities, media, translate
from oneapi.proxy.adaptors import unserved_reason
from oneapi.proxy.adaptors.base import (
    Adaptor,
    Mode,
    RelayRequest,
    TranslatingAdaptor,
)
from oneapi.proxy.answer_headers import passed_headers
from oneapi.proxy.auth import authenticate, check_model
from oneapi.proxy.errors import RelayError, TokenRefusedError, UpstreamError
from oneapi.proxy.exchange import build_call, refusal, send_call, translating, with_credential
from oneapi.proxy.failures import NETWORK_ERRORS, conceal_address, network_failure
from oneapi.proxy.health import is_retryable
from oneapi.proxy.job import Attempt, Job
from oneapi.proxy.output_budget import OutputBudget
from oneapi.proxy.settlement import GENERATIVE_MODES, answers_requested, choice_text, settle, usage_numbers
from oneapi.proxy.sse import parse_json
from oneapi.proxy.state import Relay
from oneapi.proxy.stream_filters import PassThrough, Translating
from oneapi.proxy.streaming import deliver_stream
from oneapi.proxy.user_content import inline_images
from oneapi.services import pricing
from oneapi.services.ledger import Reservation
from oneapi.wire.channel import RouteChannel
from oneapi.wire.model_limits import limits_for

log = logging.getLogger("oneapi.relay")

RELAY = web.AppKey("relay", Relay)
MAX_TOKENS_LIMIT = 1 << 30
MODERATION_BODY_DEFAULT, MODERATION_ROUTING_DEFAULT = "text-moderation-latest", "text-moderation-stable"
_DEFAULTED = "\0oneapi-default-model"  # marks a defaulted model; removed before anything is sent


def invalid(message: str) -> RelayError:
    return RelayError(message, status=400, code="invalid_text_request")


# -- parsing ---------------------------------------------------------------------------------------


def _int_field(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"field {name} must be an integer")
    if not 0 <= value <= MAX_TOKENS_LIMIT:
        raise invalid(f"field {name} must be between 0 and {MAX_TOKENS_LIMIT}")
    return value


def parse_text_body(body: bytes, mode: Mode, path_model: str = "") -> dict[str, Any]:
    """The request as a dict, checked as One API's validators do; errors are 400 invalid_text_request."""
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise invalid("request body is not valid JSON") from None
    except RecursionError:  # nesting no decoder can follow: 100,000 brackets
        raise invalid("request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise invalid("request body must be a JSON object")
    model = data.get("model", path_model or None)
    if mode == "moderations" and model is None:
        model = data["model"] = MODERATION_BODY_DEFAULT
        data[_DEFAULTED] = True
    if not isinstance(model, str) or not model.strip():
        raise invalid("field model is required")
    if "model" not in data:
        data["model"] = model
    stream = data.get("stream", False)
    if stream is None:  # OpenAI documents stream as nullable; One API reads null as false
        stream = data["stream"] = False
    if not isinstance(stream, bool):
        raise invalid("field stream must be true or false")
    if stream and mode not in ("chat", "completions"):
        raise invalid(f"stream is not supported for {mode}")
    required = {"chat": "messages", "completions": "prompt", "moderations": "input", "edits": "instruction",
                "embeddings": "input"}[mode]
    if data.get(required) in (None, "", []):
        raise invalid(f"field {required} is required")
    if mode == "chat":
        messages = data["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise invalid("field messages must be a list of message objects")
        if not all(isinstance(m.get("role"), str) for m in messages):
            raise invalid("every message needs a role")
    _int_field(data, "max_tokens")
    _int_field(data, "max_completion_tokens")
    n = data.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 128):
        raise invalid("field n must be an integer between 1 and 128")
    return data


async def read_body(request: web.Request) -> bytes:
    """The request body, decoded by its Content-Encoding (``http.body``); a body too large is 413, one that is
    not what its encoding says 400, both in OpenAI's error shape."""
    try:
        return await body.read_body(request)
    except body.BodyTooLargeError as exc:
        raise RelayError(exc.message, status=413, code="request_body_too_large") from None
    except InvalidInputError as exc:
        raise RelayError(exc.message, status=400, code=exc.code) from None


# -- the pipeline ----------------------------------------------------------------------------------


async def handle_text(request: web.Request, mode: Mode) -> web.StreamResponse:
    relay = request.app[RELAY]
    started = time.monotonic()
    caller = await authenticate(request, relay, request.get(CLIENT_IP) or request.remote or "")
    await relay.services.token_limits.admit(caller.token)  # the token's RPM/TPM: 429 with Retry-After
    body = await read_body(request)
    data = parse_text_body(body, mode, request.match_info.get("model", ""))
    # SPEC 1.1: a moderation without a model is routed as text-moderation-stable, sent as -latest.
    model = MODERATION_ROUTING_DEFAULT if data.pop(_DEFAULTED, False) else str(data["model"])
    check_model(caller, model)
    stream = bool(data.get("stream"))
    options = data.get("stream_options")
    job = Job(relay=relay, request=request, caller=caller, mode=mode, body=body, data=data, model=model,
              stream=stream, include_usage=isinstance(options, dict) and options.get("include_usage") is True,
              max_tokens=_int_field(data, "max_tokens") or _int_field(data, "max_completion_tokens"),
              started=started, request_id=request[REQUEST_ID])
    return await run(job)


async def handle_media(request: web.Request, mode: Mode) -> web.StreamResponse:
    """images/generations, audio/speech, audio/transcriptions, audio/translations."""
    relay = request.app[RELAY]
    started = time.monotonic()
    caller = await authenticate(request, relay, request.get(CLIENT_IP) or request.remote or "")
    await relay.services.token_limits.admit(caller.token)  # the token's RPM/TPM: 429 with Retry-After
    body = await read_body(request)
    form = None
    if mode == "images":
        data = media.parse_image_body(body)
    elif mode == "speech":
        data = media.parse_speech_body(body)
    else:
        form = media.parse_form(body, request.headers.get("Content-Type", ""))
        if not any(p.filename is not None for p in form):
            raise media.bad("field file is required", "invalid_request")
        data = {"model": media.form_value(form, "model", "whisper-1"),
                "response_format": media.form_value(form, "response_format", "json")}
    model = str(data["model"])
    check_model(caller, model)
    job = Job(relay=relay, request=request, caller=caller, mode=mode, body=body, data=data, model=model,
              stream=False, include_usage=False, max_tokens=0, started=started, request_id=request[REQUEST_ID],
              form=form)
    return await run(job)


def choose(relay: Relay, job: Job, failed: list[int]) -> RouteChannel | None:
    if job.caller.pinned_channel is not None:
        return relay.routes.channel(job.caller.pinned_channel)
    group = job.caller.user.group
    # Never the channel that just failed while another exists; a lone channel may be tried again.
    return (relay.routes.pick(group, job.model, exclude=failed)
            or (relay.routes.pick(group, job.model, exclude=failed[-1:]) if failed else None)
            or (relay.routes.pick(group, job.model) if failed else None))


async def run(job: Job) -> web.StreamResponse:
    relay = job.relay
    retries = 0 if job.caller.pinned_channel is not None else max(0, relay.options.get_int("RetryTimes"))
    failed: list[int] = []
    refused: set[int] = set()  # channels whose adaptor cannot serve this request (capabilities.py)
    last_error: OneAPIError | None = None
    tries = 0
    while tries <= retries:
        channel = choose(relay, job, failed)
        if channel is None or channel.id in refused:
            if last_error is not None:
                break
            raise no_channel(relay, job)
        adaptor = relay.adaptor_for(channel.type)
        problem = capabilities.refusal(adaptor, job.mode, job.data) if adaptor is not None else None
        if problem is not None:  # not a try: another channel of the group may serve it
            refused.add(channel.id)
            failed.append(channel.id)
            last_error = problem
            continue
        tries += 1
        try:
            return await attempt(job, channel)
        except UpstreamError as exc:
            conceal_address(exc, channel)
            last_error = exc
            failed.append(channel.id)
            await relay.channel_failed(channel.id, exc.http_status, exc)
            if not is_retryable(exc.http_status):
                raise
        except RelayError as exc:
            if exc.code not in ("do_request_failed", "channel_type_not_supported", "mode_not_supported"):
                raise
            last_error = exc
            failed.append(channel.id)
            if exc.code == "do_request_failed":
                await relay.channel_failed(channel.id, 500, exc)
    assert last_error is not None
    raise last_error  # a final 429 keeps the provider's message and retry headers (One API said "saturated")


def no_channel(relay: Relay, job: Job) -> TokenRefusedError:
    """No channel to try. 404 model_not_found when no channel serves the model to the user's group at all (SDKs
    do not retry a 404; they retry a 503 several times); 503 when its channels exist but none is enabled now."""
    group, model = job.caller.user.group, job.model
    if not relay.routes.is_listed(group, model):
        return TokenRefusedError(f"The model `{model}` does not exist or is not available to group {group} "
                                 f"(当前分组 {group} 下对于模型 {model} 无可用渠道)", status=404,
                                 code="model_not_found", param="model", error_type="invalid_request_error")
    return TokenRefusedError(f"no available channel for model {model} in group {group} right now: its channels "
                             f"are disabled (当前分组 {group} 下对于模型 {model} 无可用渠道)", status=503,
                             code="no_available_channel")


async def attempt(job: Job, channel: RouteChannel) -> web.StreamResponse:
    """One try on one channel. Raises UpstreamError / RelayError(do_request_failed) for the retry loop, with
    the reservation already refunded."""
    relay = job.relay
    native = job.inbound.native_adaptor(channel) if job.inbound is not None else None
    adaptor = native or relay.adaptor_for(channel.type)
    if adaptor is None:
        raise RelayError(f"channel #{channel.id}: {unserved_reason(channel.type)}", status=501,
                         code="channel_type_not_supported")
    upstream_model = channel.upstream_model(job.model)
    price = pricing.price_for(relay.prices(), upstream_model, channel.type, job.caller.user.group)
    if not price.known:
        log.info("model %s has no ratio: charging the unknown-model ratio %s", upstream_model, price.model_ratio)
    reader = translating(adaptor)
    if reader is not None and reader.inline_images and job.mode == "chat" and job.images is None:
        job.images = await inline_images(relay, job.data.get("messages"))  # a bad image is the client's error
    amount, output = reserve_amount(job, price, upstream_model, channel.system_prompt if job.mode == "chat" else "")
    reservation = await relay.ledger.acquire(job.caller.user, job.caller.token, amount)

    async def exchange(credential: str) -> web.StreamResponse:
        state = prepare(job, channel, adaptor, upstream_model, price, reservation, credential)
        state.native = native is not None
        if output is not None:
            state.budget = OutputBudget(output, lambda text: relay.tokenizer.count_text(text, upstream_model))
        return await exchange_once(job, state, reader)

    try:
        return await with_credential(relay, channel, adaptor, exchange)
    finally:
        relay.ledger.refund(reservation)  # no-op when settled


def prepare(job: Job, channel: RouteChannel, adaptor: Adaptor | TranslatingAdaptor, upstream_model: str,
            price: pricing.Price, reservation: Reservation, credential: str) -> Attempt:
    """The adaptor's upstream call for this job on this channel."""
    system_prompt = channel.system_prompt if job.mode == "chat" else ""
    body, content_type = job.body, job.request.headers.get("Content-Type", "application/json")
    if job.form is not None and upstream_model != job.model:
        body, content_type = media.encode_form(media.with_model(job.form, upstream_model))
    # An inbound format's request is an OpenAI chat request once translated: its own path and query stay home.
    path, query = ("/v1/chat/completions", "") if job.inbound is not None else \
        (job.request.path, job.request.query_string)
    request = RelayRequest(
        mode=job.mode, path=path, query=query, body=body,
        json=None if job.form is not None else job.data, model=job.model, upstream_model=upstream_model,
        stream=job.stream, content_type=content_type, accept=job.request.headers.get("Accept", ""),
        include_usage=job.include_usage, system_prompt=system_prompt, images=job.images or {},
        credential=credential)
    call = build_call(adaptor, channel, request)
    return Attempt(channel, upstream_model, price, reservation, call, bool(system_prompt), request)


async def exchange_once(job: Job, state: Attempt, reader: TranslatingAdaptor | None) -> web.StreamResponse:
    """Send the call and deliver the answer (or raise the upstream's error)."""
    response = await send_call(job.relay, state.channel, state.call, stream=job.stream)
    try:
        if state.native and job.inbound is not None:
            return await job.inbound.deliver_native(job, state, response)
        if response.status not in (200, 201):
            raise await refusal(reader, response)
        if reader is not None:
            if job.stream:
                return await deliver_stream(job, state, response,
                                            Translating(reader.stream_translator(state.request), state.budget))
            return await translate.deliver_json(job, state, response, reader)
        if job.stream and "application/json" in response.headers.get("Content-Type", ""):
            # An error in a 200 JSON answer to a stream request is answered 500 (One API passes the 200 on,
            # which SDKs read as an empty stream); the same as an error object in a 200 non-stream body.
            raise await refusal(None, response, status=500)
        if job.stream:
            return await deliver_stream(job, state, response, PassThrough(state.call, state.budget),
                                        passed_headers(response.headers))
        if job.mode in ("speech", "transcriptions", "translations"):
            return await deliver_audio(job, state, response)
        return await deliver_json(job, state, response)
    finally:
        response.release()


def reserve_amount(job: Job, price: pricing.Price, upstream_model: str,
                   system_prompt: str = "") -> tuple[int, int | None]:
    """What to hold before calling the upstream: the estimate for text, the exact price for images and
    speech (known up front), PreConsumedQuota × ratio for transcriptions. Second: under PreConsumeMaxOutput,
    the completion tokens the hold pays for (the request's max_tokens, else the model's maximum output), so
    that the answer's worst case is covered before the call; else None."""
    data, options = job.data, job.relay.options
    if job.mode == "images":
        return pricing.image_quota(price, upstream_model, str(data.get("size", "1024x1024")),
                                   str(data.get("quality", "standard")), int(data.get("n", 1))), None
    if job.mode == "speech":
        return pricing.tts_quota(price, str(data["input"])), None
    if job.mode in ("transcriptions", "translations"):
        return int(options.get_int("PreConsumedQuota") * price.ratio), None
    prompt = job.prompt_tokens(upstream_model)
    if job.mode in GENERATIVE_MODES and options.get_bool("PreConsumeMaxOutput"):
        # Everything the upstream will count as prompt that oneapi can count: the channel's system prompt and
        # the tool definitions too, so that the reservation covers the prompt as well as it can.
        tokenizer = job.relay.tokenizer
        prompt += tokenizer.count_text(system_prompt, upstream_model) if system_prompt else 0
        extras = [data[k] for k in ("tools", "functions", "response_format") if data.get(k)]
        prompt += tokenizer.count_text(json.dumps(extras, ensure_ascii=False), upstream_model) if extras else 0
        most = limits_for(upstream_model).reservable_output
        output = (min(job.max_tokens, most) if job.max_tokens else most) * answers_requested(data)
        return pricing.text_quota(price, prompt, output), output
    return pricing.pre_consume_quota(price, options.get_int("PreConsumedQuota"), prompt, job.max_tokens), None


# -- answers ---------------------------------------------------------------------------------------


async def deliver_json(job: Job, state: Attempt, response: aiohttp.ClientResponse) -> web.Response:
    try:
        body = await response.read()
    except NETWORK_ERRORS as exc:
        raise network_failure(state.channel.id, "reading the upstream answer", exc) from None
    data = parse_json(body)
    if not isinstance(data, dict):
        raise RelayError("upstream answered with a body that is not JSON", status=500,
                         code="unmarshal_response_body_failed")
    error = data.get("error")
    if isinstance(error, dict) and error.get("type"):
        raise UpstreamError(500, error)
    if job.mode == "images":  # priced per image, known before the call
        settle(job, state, 0, 0, quota=state.reservation.amount)
        return web.Response(body=body, status=response.status, content_type="application/json", charset="utf-8",
                            headers=passed_headers(response.headers))
    prompt = job.prompt_tokens(state.upstream_model)
    numbers = usage_numbers(data.get("usage"), prompt)

    def answer_text() -> str:
        return choice_text(data.get("choices"), "message")

    if numbers is None:
        numbers = (prompt, job.relay.tokenizer.count_text(answer_text(), state.upstream_model))
    settle(job, state, *numbers, delivered=answer_text)
    return web.Response(body=body, status=response.status, content_type="application/json", charset="utf-8",
                        headers=passed_headers(response.headers))


async def deliver_audio(job: Job, state: Attempt, response: aiohttp.ClientResponse) -> web.StreamResponse:
    content_type = response.headers.get("Content-Type", "application/octet-stream")
    if job.mode == "speech":  # audio bytes, forwarded as they arrive; the price was fixed by the input length
        settle(job, state, 0, 0, quota=state.reservation.amount)
        out = web.StreamResponse(status=response.status, headers={"Content-Type": content_type})
        await out.prepare(job.request)
        try:
            async for chunk in response.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
        except (ConnectionError, RuntimeError, *NETWORK_ERRORS):
            response.close()
        return out
    try:
        body = await response.read()
    except NETWORK_ERRORS as exc:
        raise network_failure(state.channel.id, "reading the upstream answer", exc) from None
    text = media.transcript_text(str(job.data.get("response_format") or "json"), body)
    tokens = job.relay.tokenizer.count_text(text, state.upstream_model)
    settle(job, state, tokens, 0, quota=pricing.whisper_quota(state.price, tokens))
    return web.Response(body=body, status=response.status, headers={"Content-Type": content_type})
