"""Proxy (channel type 43): One API's ``/v1/oneapi/proxy/{channel}/{path}`` pass-through to the channel's own
API. Pure: what to send upstream and which answer headers to pass back; the handler in
:mod:`oneapi.proxy.channel_proxy` does the I/O.

As One API does it (relay/adaptor/proxy): the upstream URL is the channel's base URL + the rest of the path and
the query; the method and body are the client's; the client's headers are copied except the hop-by-hop ones,
``Host``, ``Content-Length`` and ``Accept-Encoding``, and ``Authorization`` becomes the channel key as it is
(write ``Bearer sk-...`` in the key when the upstream wants a bearer token). The answer's status, headers and
body come back unchanged (hop-by-hop headers and the framing ones aside).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from oneapi.proxy.adaptors.base import UpstreamCall
from oneapi.proxy.adaptors.common import openai_error
from oneapi.wire.channel import RouteChannel

# Headers that describe one connection (RFC 9110 7.6.1) or the framing aiohttp sets itself: never forwarded.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                         "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"})
_NOT_SENT = _HOP_BY_HOP | {"accept-encoding", "authorization", "cookie"}
_NOT_RETURNED = _HOP_BY_HOP | {"content-encoding", "set-cookie"}


def build(channel: RouteChannel, method: str, path: str, query: str, headers: Iterable[tuple[str, str]],
          body: bytes) -> UpstreamCall:
    """The upstream request for ``{method} /v1/oneapi/proxy/{channel}/{path}?{query}``."""
    base = channel.base_url.rstrip("/")
    if not base:
        raise openai_error(500, f"proxy channel #{channel.id} has no base URL to send requests to", "one_api_error",
                           "channel_config_invalid")
    sent = {name: value for name, value in headers if name.lower() not in _NOT_SENT}
    sent["Authorization"] = channel.key
    url = f"{base}/{quote(path, safe='/-._~!$&()*+,;=:@%')}" + (f"?{query}" if query else "")
    return UpstreamCall(method, url, sent, body)


def answer_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream answer's headers to pass back to the client."""
    return [(name, value) for name, value in headers if name.lower() not in _NOT_RETURNED]
