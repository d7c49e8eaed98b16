"""Network failures toward an upstream, told two ways.

The client learns which channel failed and how, in a stable word (``connection_refused``, ``timeout``, ...):
never the URL, the host or port, or an exception's text, which carry internal addresses and, for Baidu's token
endpoint or Gemini's ``?key=``, credentials. The operator gets the whole story, in the error's ``detail`` that
the relay logs and publishes as an event (masked there like every log line). An upstream's own error is passed
on, with the channel's address (:func:`conceal_address`) and every known credential (``redaction``) taken out.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from oneapi.proxy.errors import RelayError, UpstreamError
from oneapi.wire.channel import RouteChannel

# (exception class, category): the first match wins, so narrower classes come first.
_CATEGORIES: tuple[tuple[type[BaseException], str], ...] = (
    (aiohttp.ClientProxyConnectionError, "proxy_unreachable"),
    (aiohttp.ClientHttpProxyError, "proxy_refused"),
    (aiohttp.ClientConnectorCertificateError, "tls_certificate_rejected"),
    (aiohttp.ClientSSLError, "tls_failed"),
    (ssl.SSLError, "tls_failed"),
    (aiohttp.ClientConnectorDNSError, "name_not_resolved"),
    (socket.gaierror, "name_not_resolved"),
    (aiohttp.ConnectionTimeoutError, "connect_timeout"),
    (aiohttp.ServerTimeoutError, "timeout"),
    (asyncio.TimeoutError, "timeout"),
    (aiohttp.ServerDisconnectedError, "disconnected"),
    (aiohttp.ClientPayloadError, "broken_answer"),
    (aiohttp.ClientResponseError, "not_http"),  # what aiohttp raises for an answer that is not HTTP
    (aiohttp.InvalidURL, "bad_channel_url"),
    (ConnectionRefusedError, "connection_refused"),
    (ConnectionResetError, "connection_reset"),
    (aiohttp.ClientConnectorError, "connect_failed"),
)


def category(exc: BaseException) -> str:
    """A stable word for what went wrong, from the exception and what it wraps."""
    seen: BaseException | None = exc
    while seen is not None:
        for kind, word in _CATEGORIES:
            if isinstance(seen, kind):
                if word == "connect_failed" and isinstance(seen, aiohttp.ClientConnectorError):
                    inner = seen.os_error
                    if isinstance(inner, ConnectionRefusedError):
                        return "connection_refused"
                    if isinstance(inner, socket.gaierror):
                        return "name_not_resolved"
                return word
        seen = seen.__cause__ or seen.__context__
    return "network_error"


def detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def network_failure(channel_id: int, stage: str, exc: BaseException, code: str = "do_request_failed") -> RelayError:
    """The client-facing error for a failure while ``stage`` on this channel; the detail is the operator's."""
    word = category(exc)
    error = RelayError(f"{stage} failed on channel #{channel_id}: {word}", status=500, code=code)
    error.detail = f"channel #{channel_id}: {stage} failed: {detail(exc)}"
    return error


def conceal_address(error: UpstreamError, channel: RouteChannel) -> None:
    """An upstream's own words may name its address (a proxy echoing the URL it was called at); a base URL
    the operator chose can be internal, so the client reads the channel's number in its place."""
    parts = urlsplit(channel.base_url or "")
    names = [name for name in (parts.netloc, parts.hostname) if name and len(name) >= 4]
    if not names:
        return
    stand_in = f"[channel #{channel.id} upstream]"

    def hide(value: Any) -> Any:
        if isinstance(value, str):
            for name in names:
                value = value.replace(name, stand_in)
            return value
        if isinstance(value, dict):
            return {k: hide(v) for k, v in value.items()}
        if isinstance(value, list):
            return [hide(v) for v in value]
        return value

    error.error = hide(error.error)
    error.message = hide(error.message)


# What failing to reach or read an upstream raises (aiohttp's errors, a timeout, the socket's own).
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
# What reading a provider's answer raises when the answer is not what its protocol says (RecursionError: JSON
# nested beyond what can be decoded): the provider's fault, answered like One API's unmarshal errors.
UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, RecursionError)


def unreadable(channel_id: int, what: str, exc: BaseException) -> RelayError:
    """The provider's answer is not what its protocol says: the client is told which channel; the parser's
    own words (which may quote the answer) are the operator's."""
    error = RelayError(f"could not read the provider's {what} on channel #{channel_id}", status=500,
                       code="unmarshal_response_body_failed")
    error.detail = f"channel #{channel_id}: unreadable {what}: {detail(exc)}"
    return error
