"""``/v1`` and the OpenAI billing-compat routes (SPEC 1.1), CORS, and errors in OpenAI's shapes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from oneapi.errors import OneAPIError
from oneapi.http.request import (
    CLIENT_IP,
    REQUEST_ID,
    REQUEST_ID_HEADER,
    invalid_url,
    payload_problem,
    unreadable_body,
)
from oneapi.proxy import channel_proxy
from oneapi.proxy.adaptors.base import Mode
from oneapi.proxy.answer_headers import GZIP_MIN_SIZE, accepts_gzip
from oneapi.proxy.auth import Caller, authenticate
from oneapi.proxy.errors import ERROR_RENDERER, Renderer, TokenRefusedError, error_response
from oneapi.proxy.inbound import gemini, messages
from oneapi.proxy.relay import RELAY, handle_media, handle_text
from oneapi.proxy.state import Relay
from oneapi.proxy.upstream import session_ctx
from oneapi.redaction import redactor
from oneapi.services import catalog

log = logging.getLogger("oneapi.relay")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOT_IMPLEMENTED = {"error": {"message": "API not implemented", "type": "one_api_error", "param": "",
                             "code": "api_not_implemented"}}


def is_relay_path(path: str) -> bool:
    return path.startswith("/v1") or path.startswith("/dashboard/")


def _cors(request: web.Request, response: web.StreamResponse) -> None:
    if not response.prepared:
        _add_cors(request, response)


def _add_cors(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.headers.get("Origin")
    if not origin:
        return
    response.headers["Access-Control-Allow-Origin"] = origin  # "all origins, credentials allowed"
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers["Vary"] = "Origin"


async def _stamp_prepared(request: web.Request, response: web.StreamResponse) -> None:
    """Request id and CORS on answers a handler sends itself (SSE, audio): the middlewares only see them
    after their headers are gone. (Headers are still writable here although ``response.prepared`` is true.)"""
    if not is_relay_path(request.path):
        return
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers.setdefault(REQUEST_ID_HEADER, request_id)
        response.headers.setdefault("x-request-id", request_id)  # what SDKs read (openai-python's request_id)
    _add_cors(request, response)


@web.middleware
async def relay_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS on every relay route and OpenAI-shaped errors; nothing escapes as a traceback."""
    if not is_relay_path(request.path):
        return await handler(request)
    if request.method == "OPTIONS":
        response: web.StreamResponse = web.Response(status=204, headers={
            "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "*"),
            "Access-Control-Max-Age": "86400"})
        _cors(request, response)
        return response

    def render(exc: OneAPIError, request_id: str) -> web.Response:
        """The error in the shape of the API the route speaks: OpenAI's, unless its handler set another."""
        renderer: Renderer = request.get(ERROR_RENDERER, error_response)
        return renderer(exc, request_id)

    try:
        response = await handler(request)
    except OneAPIError as exc:
        _count_error(request, exc.http_status, exc.detail)
        response = render(exc, request.get(REQUEST_ID, ""))
    except web.HTTPRequestEntityTooLarge:
        response = render(OneAPIError("request body is too large", status=413,
                                      code="request_body_too_large"), request.get(REQUEST_ID, ""))
    except RequestPayloadError as exc:  # e.g. a Content-Encoding: gzip body that is not gzip: the client's fault
        response = unreadable_body(render(OneAPIError(
            f"request body could not be read: {payload_problem(exc)}", status=400, code="invalid_request"),
            request.get(REQUEST_ID, "")))
    except RecursionError:  # a body nested deeper than anything behind this door can walk
        response = render(OneAPIError("request body is nested too deeply", status=400,
                                      code="invalid_request"), request.get(REQUEST_ID, ""))
    except web.HTTPNotFound:
        response = invalid_url(request)
    except web.HTTPMethodNotAllowed:
        response = invalid_url(request, 405)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        _count_error(request, 500)
        response = render(OneAPIError("internal error; see the server log"), request.get(REQUEST_ID, ""))
    _cors(request, response)
    _compress(request, response)
    return response


def _compress(request: web.Request, response: web.StreamResponse) -> None:
    """gzip a JSON answer of some size for a client that accepts it; streams (SSE) and audio never."""
    if (isinstance(response, web.Response) and not response.prepared and response.content_type == "application/json"
            and isinstance(response.body, bytes) and len(response.body) >= GZIP_MIN_SIZE
            and accepts_gzip(request.headers.get("Accept-Encoding", ""))):
        response.enable_compression(web.ContentCoding.gzip)


def _count_error(request: web.Request, status: int, detail: str = "") -> None:
    """Failed relay calls feed the dashboard's error rate and the live event stream (with the detail the
    client was not given, masked: the TUI shows it to the operator)."""
    relay = request.app.get(RELAY)
    if relay is not None and request.method == "POST":
        relay.services.stats.record_error()
        relay.services.events.publish("relay_error", {"path": request.path, "status": status,
                                                      "request_id": request.get(REQUEST_ID, ""),
                                                      "detail": redactor.mask(detail)})


async def not_implemented(request: web.Request) -> web.Response:
    return web.json_response(NOT_IMPLEMENTED, status=501)


async def _caller(request: web.Request) -> tuple[Relay, Caller]:
    relay = request.app[RELAY]
    return relay, await authenticate(request, relay, request.get(CLIENT_IP) or request.remote or "")


async def list_models(request: web.Request) -> web.Response:
    """The models this token may use: its own list, else what enabled channels serve its user's group."""
    relay, caller = await _caller(request)
    names = sorted(caller.token.models) if caller.token.models is not None \
        else relay.routes.models_for_group(caller.user.group)
    data = [catalog.find_model(name) or _custom_model(name) for name in names]
    return web.json_response({"object": "list", "data": data})


def _custom_model(name: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": catalog.MODEL_CREATED, "owned_by": catalog.CUSTOM_OWNER,
            "permission": [], "root": name, "parent": None}


async def get_model(request: web.Request) -> web.Response:
    """A built-in model, or one this token may use (as ``/v1/models`` lists it); else 404 model_not_found (One
    API answered 200 with the error object, which SDKs read as a model without an id)."""
    relay, caller = await _caller(request)
    name = request.match_info["model"]
    found = catalog.find_model(name)
    if found is None and (name in caller.token.models if caller.token.models is not None
                          else relay.routes.has_route(caller.user.group, name)):
        found = _custom_model(name)
    if found is None:
        raise TokenRefusedError(f"The model '{name}' does not exist", status=404, code="model_not_found",
                                param="model", error_type="invalid_request_error")
    return web.json_response(found)


async def billing_subscription(request: web.Request) -> web.Response:
    relay, caller = await _caller(request)
    opts = relay.options
    token, user = caller.token, caller.user
    if opts.get_bool("DisplayTokenStatEnabled"):
        amount = 1e8 if token.unlimited else float(token.remain_quota + token.used_quota)
        expires = token.expired_time if token.expired_time != -1 else 0
    else:
        amount, expires = float(user.quota + user.used_quota), 0
    if opts.get_bool("DisplayInCurrencyEnabled") and amount != 1e8:
        amount /= opts.get_float("QuotaPerUnit")
    return web.json_response({"object": "billing_subscription", "has_payment_method": True,
                              "soft_limit_usd": amount, "hard_limit_usd": amount, "system_hard_limit_usd": amount,
                              "access_until": expires})


async def billing_usage(request: web.Request) -> web.Response:
    relay, caller = await _caller(request)
    opts = relay.options
    amount = float(caller.token.used_quota if opts.get_bool("DisplayTokenStatEnabled") else caller.user.used_quota)
    if opts.get_bool("DisplayInCurrencyEnabled"):  # as One API: raw quota × 100 when not shown in currency
        amount /= opts.get_float("QuotaPerUnit")
    return web.json_response({"object": "list", "total_usage": amount * 100})


def add_relay(app: web.Application, relay: Relay) -> None:
    app[RELAY] = relay
    app.cleanup_ctx.append(session_ctx(relay))
    app.on_response_prepare.append(_stamp_prepared)
    r = app.router
    r.add_get("/v1/models", list_models)
    r.add_get("/v1/models/{model}", get_model)
    r.add_delete("/v1/models/{model}", not_implemented)
    text: tuple[tuple[str, Mode], ...] = (
        ("/v1/chat/completions", "chat"), ("/v1/completions", "completions"), ("/v1/edits", "edits"),
        ("/v1/embeddings", "embeddings"), ("/v1/engines/{model}/embeddings", "embeddings"),
        ("/v1/moderations", "moderations"))
    for path, mode in text:
        r.add_post(path, partial(handle_text, mode=mode))
    media: tuple[tuple[str, Mode], ...] = (
        ("/v1/images/generations", "images"), ("/v1/audio/speech", "speech"),
        ("/v1/audio/transcriptions", "transcriptions"), ("/v1/audio/translations", "translations"))
    for path, mode in media:
        r.add_post(path, partial(handle_media, mode=mode))
    messages.add_routes(app)  # Anthropic's Messages API and Gemini's generateContent (oneapi.proxy.inbound)
    gemini.add_routes(app)
    channel_proxy.add_routes(app)
    for prefix in ("", "/v1"):
        r.add_get(prefix + "/dashboard/billing/subscription", billing_subscription)
        r.add_get(prefix + "/dashboard/billing/usage", billing_usage)
    for path in ("/v1/images/edits", "/v1/images/variations", "/v1/files", "/v1/files/{id}",
                 "/v1/files/{id}/content", "/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs/{id}",
                 "/v1/fine_tuning/jobs/{id}/cancel", "/v1/fine_tuning/jobs/{id}/events",
                 "/v1/assistants", "/v1/assistants/{tail:.*}", "/v1/threads", "/v1/threads/{tail:.*}"):
        r.add_route("*", path, not_implemented)
