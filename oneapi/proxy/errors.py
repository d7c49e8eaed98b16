"""Relay errors and their two JSON shapes (SPEC 1.3).

* The short shape, for middleware refusals (token checks, no channel):
  ``{"error": {"message": "<msg> (request id: <rid>)", "type": "one_api_error", "param": null, "code": ...}}``
  — One API left out ``param`` and ``code``; OpenAI's schema requires both (null where there is none).
* The full shape, for everything the relay itself reports, upstream errors included:
  ``{"error": {"message", "type", "param", "code"}}``; an upstream's own error object is passed on, the
  fields it lacks (``type``, ``param``, ``code``) added.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from oneapi.errors import OneAPIError
from oneapi.redaction import redactor
from oneapi.services.token_limits import TokenRateLimitedError

# The request key under which a route that answers in another API's error shape (``/v1/messages``: Anthropic's;
# Gemini's ``generateContent``: Google's) puts its renderer, used by the relay middleware instead of
# :func:`error_response`.
ERROR_RENDERER = "oneapi.error_renderer"
Renderer = Callable[[OneAPIError, str], web.Response]


class TokenRefusedError(OneAPIError):
    """A refusal before any upstream is involved (token checks, no channel, an unknown model); answered in the
    short shape: the message with the request id, ``param`` and ``code`` null unless given."""

    error_type = "one_api_error"
    default_code = ""


class RelayError(OneAPIError):
    """An error of the relay itself, in the full shape (type one_api_error, a string code)."""

    error_type = "one_api_error"


class UpstreamError(RelayError):
    """The upstream answered with an error. ``error`` is the object passed to the client; ``headers`` the
    upstream's retry and rate-limit headers passed with it (``answer_headers.rate_limit_headers``)."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        message = str(error.get("message") or f"bad response status code {status}")
        super().__init__(message, status=status, code=str(error.get("code") or ""),
                         error_type=str(error.get("type") or "upstream_error"), param=str(error.get("param") or ""))
        self.error = error
        self.headers: dict[str, str] = {}


    def to_openai(self) -> dict[str, Any]:
        return {"error": self.error}


_MESSAGE_KEYS = ("message", "msg", "err", "error_msg")


def upstream_error(status: int, body: bytes) -> UpstreamError:
    """SPEC 1.3: a JSON body with ``error.message`` replaces the default error entirely; otherwise the first
    message found in the usual places, else ``bad response status code <n>``."""
    default = {"message": f"bad response status code {status}", "type": "upstream_error",
               "param": str(status), "code": "bad_response_status_code"}
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return UpstreamError(status, err)
        errors = data.get("errors")  # Cloudflare's envelope: {"success": false, "errors": [{"code", "message"}]}
        for candidate in (data, err if isinstance(err, dict) else None, data.get("header"),
                          errors[0] if isinstance(errors, list) and errors else None,
                          (data.get("response") or {}).get("error") if isinstance(data.get("response"), dict)
                          else None):
            if isinstance(candidate, dict):
                for key in _MESSAGE_KEYS:
                    if isinstance(candidate.get(key), str) and candidate[key]:
                        return UpstreamError(status, {**default, "message": candidate[key]})
        if isinstance(err, str) and err:
            return UpstreamError(status, {**default, "message": err})
    return UpstreamError(status, default)


def _with_request_id(message: str, request_id: str) -> str:
    return f"{message} (request id: {request_id})" if request_id else message


def error_response(exc: OneAPIError, request_id: str) -> web.Response:
    """The client's answer for ``exc``. Every text in it is masked: an upstream's error object is passed on,
    and an upstream that echoes the ``Authorization`` it got would otherwise hand its key to the client."""
    if isinstance(exc, TokenRefusedError):
        body: dict[str, Any] = {"error": {"message": _with_request_id(redactor.mask(exc.message), request_id),
                                          "type": exc.type, "param": exc.param or None, "code": exc.code or None}}
    else:
        inner = redactor.mask_value(exc.to_openai()["error"])
        inner["message"] = _with_request_id(str(inner.get("message") or ""), request_id)
        # An upstream's error object may lack fields OpenAI's schema requires (an OpenAI-compatible vendor's
        # {"error": {"message": ...}}): completed, never replaced.
        inner.setdefault("type", "upstream_error")
        for key in ("param", "code"):
            inner.setdefault(key, None)
        body = {"error": inner}
    headers = exc.headers if isinstance(exc, UpstreamError) else None
    response = web.json_response(body, status=exc.http_status, headers=headers,
                                 dumps=lambda v: json.dumps(v, ensure_ascii=False))
    if isinstance(exc, TokenRateLimitedError):  # whole seconds: what the OpenAI SDKs read to back off
        response.headers["Retry-After"] = str(exc.retry_after)
    return response
