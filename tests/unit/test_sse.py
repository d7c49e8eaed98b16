"""The incremental SSE line splitter and payload helpers (oneapi/proxy/sse.py): pure, table-style."""

from __future__ import annotations

import json

import pytest

from oneapi.proxy.sse import DONE, DONE_EVENT, LineSplitter, data_payload, event, parse_json


def feed_all(splitter: LineSplitter, pieces: list[bytes]) -> list[bytes]:
    lines: list[bytes] = []
    for piece in pieces:
        lines += splitter.feed(piece)
    return lines + splitter.flush()


@pytest.mark.parametrize(("pieces", "lines"), [
    ([b"data: a\n\ndata: b\n\n"], [b"data: a", b"", b"data: b", b""]),
    ([b"data: a\r\n\r\ndata: b\r\n\r\n"], [b"data: a", b"", b"data: b", b""]),  # CRLF (Gemini's alt=sse)
    ([b"data: a\r\n\r\n", b"data: b\n\n"], [b"data: a", b"", b"data: b", b""]),  # mixed endings
    ([b"da", b"ta: {\"x\"", b": 1}\n", b"\n"], [b'data: {"x": 1}', b""]),  # one line in three feeds
    ([b"data: a\r", b"\n\r", b"\n"], [b"data: a", b""]),  # CR and LF in different feeds
    ([b"", b"data: a\n", b""], [b"data: a"]),  # empty feeds are harmless
    ([b"event: x\ndata: y\nid: 1\n\n"], [b"event: x", b"data: y", b"id: 1", b""]),
    ([b"data: no newline at the end"], [b"data: no newline at the end"]),  # flushed at EOF
    ([b"data: tail\r"], [b"data: tail"]),  # a trailing CR is not part of the line
    ([b"data: a\n", b"   "], [b"data: a"]),  # a whitespace-only tail is dropped at EOF
    (["data: 你好\n".encode()[:8], "data: 你好\n".encode()[8:]], ["data: 你好".encode()]),  # split mid-UTF-8
])
def test_lines(pieces: list[bytes], lines: list[bytes]) -> None:
    assert feed_all(LineSplitter(), pieces) == lines


def test_incomplete_line_is_held_until_its_end_arrives() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"data: {\"a\":") == []
    assert splitter.feed(b" 1}") == []
    assert splitter.feed(b"\n\ndata: [DO") == [b'data: {"a": 1}', b""]
    assert splitter.feed(b"NE]\n\n") == [b"data: [DONE]", b""]
    assert splitter.flush() == []


def test_runaway_line_is_handed_over_instead_of_buffered_without_limit() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"x" * 8) == []  # at the limit: still waiting for its end
    assert splitter.feed(b"y") == [b"x" * 8 + b"y"]  # past it: handed over as it is
    assert splitter.feed(b"zz\n") == [b"zz"]  # the rest of that line comes out on its own
    assert splitter.feed(b"ok\n") == [b"ok"]
    assert splitter.flush() == []


def test_runaway_check_applies_to_the_incomplete_tail_only() -> None:
    splitter = LineSplitter(max_line=4)
    long_complete = b"a" * 20
    assert splitter.feed(long_complete + b"\nbb") == [long_complete]  # complete lines of any length pass
    assert splitter.flush() == [b"bb"]


def test_flush_empties_the_buffer() -> None:
    splitter = LineSplitter()
    splitter.feed(b"data: x")
    assert splitter.flush() == [b"data: x"]
    assert splitter.flush() == []
    assert splitter.feed(b"\n") == [b""]


@pytest.mark.parametrize(("line", "payload"), [
    (b"data: {}", b"{}"),
    (b"data:{}", b"{}"),  # the space is optional
    (b"data:  x", b" x"),  # only one space is removed
    (b"data: [DONE]", DONE),
    (b"data:", b""),
    (b"event: message", None),
    (b": keep-alive comment", None),
    (b"", None),
    (b" data: x", None),
])
def test_data_payload(line: bytes, payload: bytes | None) -> None:
    assert data_payload(line) == payload


@pytest.mark.parametrize(("payload", "value"), [
    (b'{"a": [1, 2]}', {"a": [1, 2]}),
    (b"[1]", [1]),
    (b"not json", None),
    (b"{", None),
    (b"\xff\xfe", None),
    (b"", None),
])
def test_parse_json(payload: bytes, value: object) -> None:
    assert parse_json(payload) == value


def test_event_is_one_compact_utf8_data_line() -> None:
    out = event({"a": "你好", "b": [1, None]})
    assert out.startswith(b"data: ") and out.endswith(b"\n\n") and out.count(b"\n") == 2
    assert json.loads(out[6:]) == {"a": "你好", "b": [1, None]}
    assert "你好".encode() in out  # not \u-escaped
    assert b", " not in out and b": " not in out[6:]
    assert DONE_EVENT == b"data: [DONE]\n\n"
