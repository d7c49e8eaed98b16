"""The Proxy channel's pure part (oneapi/proxy/adaptors/proxy.py): the upstream URL, the headers sent and the
headers returned."""

from __future__ import annotations

import pytest

from oneapi.proxy.adaptors.proxy import answer_headers, build
from oneapi.proxy.errors import UpstreamError
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel


def channel(base: str = "https://upstream.example/api/", key: str = "Bearer sk-up") -> RouteChannel:
    return route_channel({"id": 9, "type": 43, "name": "p", "key": key, "base_url": base, "status": 1,
                                  "models": "", "group": "default"})


def test_url_method_body_and_headers() -> None:
    headers = [("Authorization", "Bearer sk-oneapi-token"), ("Host", "oneapi.example"), ("Content-Length", "2"),
               ("Accept-Encoding", "gzip"), ("Connection", "keep-alive"), ("Cookie", "session=x"),
               ("Content-Type", "application/json"), ("X-Trace", "t1"), ("Transfer-Encoding", "chunked")]
    call = build(channel(), "PUT", "v2/items/a b", "x=1&y=2", headers, b"{}")
    assert (call.method, call.url, call.body) == ("PUT", "https://upstream.example/api/v2/items/a%20b?x=1&y=2", b"{}")
    assert call.headers == {"Content-Type": "application/json", "X-Trace": "t1", "Authorization": "Bearer sk-up"}


def test_a_channel_without_base_url() -> None:
    with pytest.raises(UpstreamError) as raised:
        build(channel(base=""), "GET", "x", "", [], b"")
    assert raised.value.code == "channel_config_invalid"


def test_answer_headers() -> None:
    headers = [("Content-Type", "text/event-stream"), ("Content-Length", "10"), ("Content-Encoding", "gzip"),
               ("Set-Cookie", "a=b"), ("Transfer-Encoding", "chunked"), ("X-Request-Id", "r1"), ("Connection", "close")]
    assert answer_headers(headers) == [("Content-Type", "text/event-stream"), ("X-Request-Id", "r1")]
