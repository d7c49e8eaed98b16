"""The errors an adaptor raises, as values (SPEC 1.3): :class:`RelayError` for what the relay refuses itself,
:class:`UpstreamError` for an upstream's error answer in OpenAI's shape, and :func:`upstream_error` to read one
from an upstream's body. Rendering them as an HTTP answer is the relay's job (``proxy/errors.py``); here they
are plain exceptions of the one tree (``oneapi/errors.py``), so a translator can raise them without aiohttp.
"""

from __future__ import annotations

import json
from typing import Any

from oneapi.errors import OneAPIError


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
