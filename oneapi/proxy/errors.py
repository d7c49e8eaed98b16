"""Relay errors and their two JSON shapes (SPEC 1.3).

* The short shape, for middleware refusals (token checks, no channel):
  ``{"error": {"message": "<msg> (request id: <rid>)", "type": "one_api_error", "param": null, "code": ...}}``
  — One API left out ``param`` and ``code``; OpenAI's schema requires both (null where there is none).
* The full shape, for everything the relay itself reports, upstream errors included:
  ``{"error": {"message", "type", "param", "code"}}``; an upstream's own error object is passed on, the
  fields it lacks (``type``, ``param``, ``code``) added.

The error values the adaptors raise (``RelayError``, ``UpstreamError``, ``upstream_error``) live in
``oneapi/wire/errors.py``, which loads no aiohttp; they are imported here so that the relay has one place to
import its errors from, and this module keeps only their rendering as an aiohttp answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from oneapi.errors import OneAPIError
from oneapi.redaction import redactor
from oneapi.services.token_limits import TokenRateLimitedError
from oneapi.wire.errors import RelayError, UpstreamError, upstream_error

__all__ = ["ERROR_RENDERER", "RelayError", "Renderer", "TokenRefusedError", "UpstreamError", "error_response",
           "upstream_error"]

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
