"""The stream filters, without a server: bytes in, the client's bytes out, and what billing reads on the side."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oneapi.proxy.adaptors.anthropic import ADAPTOR
from oneapi.proxy.adaptors.base import RelayRequest, UpstreamCall
from oneapi.proxy.failures import UNREADABLE
from oneapi.proxy.output_budget import OutputBudget
from oneapi.proxy.stream_filters import PassThrough, Translating


def chunk(content: str | None = None, *, usage: dict[str, int] | None = None, choices: bool = True) -> bytes:
    body: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
                            if choices else []}
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
WORDS = lambda text: len(text.split())  # noqa: E731 -- a budget that counts words keeps the tests readable


def feed_all(flow: PassThrough | Translating, data: bytes, cut_every: int = 5) -> bytes:
    out = b""
    for i in range(0, len(data), cut_every):  # bytes cut anywhere, as the network delivers them
        out += flow.feed(data[i:i + cut_every])
    return out + flow.finish()


def test_pass_through_forwards_bytes_unchanged_and_reads_text_and_usage() -> None:
    stream = chunk("Hello") + chunk(" world") + chunk(choices=False, usage=USAGE) + b"data: [DONE]\n\n"
    flow = PassThrough(UpstreamCall("POST", "http://x"))
    assert feed_all(flow, stream) == stream
    assert flow.text() == "Hello world" and flow.answered and flow.saw_done and not flow.cut
    assert flow.reported_usage(99) == (7, 3)
    assert flow.closing() == b""


def test_pass_through_drops_the_usage_chunk_only_oneapi_asked_for() -> None:
    stream = chunk("Hi") + chunk(choices=False, usage=USAGE) + b"data: [DONE]\n\n"
    flow = PassThrough(UpstreamCall("POST", "http://x", stream_usage_requested=True))
    assert feed_all(flow, stream) == chunk("Hi") + b"data: [DONE]\n\n"
    assert flow.reported_usage(0) == (7, 3)  # still billed from it


def test_pass_through_cuts_at_the_budget_and_keeps_the_last_chunk_sent() -> None:
    stream = chunk("one two") + chunk("three four") + chunk("five")
    flow = PassThrough(UpstreamCall("POST", "http://x"), OutputBudget(3, WORDS))
    out = feed_all(flow, stream, cut_every=len(stream))
    assert out == chunk("one two") and flow.cut and flow.text() == "one two"
    assert flow.last is not None and flow.last["choices"][0]["delta"]["content"] == "one two"


def test_an_error_page_is_not_an_answer_and_a_stream_without_its_blank_line_is_closed() -> None:
    page = PassThrough(UpstreamCall("POST", "http://x"))
    assert feed_all(page, b"<html>busy</html>") == b"<html>busy</html>"
    assert not page.answered
    open_ended = PassThrough(UpstreamCall("POST", "http://x"))
    feed_all(open_ended, chunk("x").rstrip(b"\n") + b"\n")
    assert open_ended.answered and open_ended.closing() == b"\n"


def request() -> RelayRequest:
    data = {"model": "claude-x", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    return RelayRequest(mode="chat", path="/v1/chat/completions", query="", body=json.dumps(data).encode(),
                        json=data, model="claude-x", upstream_model="claude-x", stream=True,
                        content_type="application/json", accept="", include_usage=False)


def claude(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


START = claude("message_start", message={"id": "msg_1", "model": "claude-x", "content": [],
                                         "usage": {"input_tokens": 9, "output_tokens": 1}})
TEXT = claude("content_block_delta", index=0, delta={"type": "text_delta", "text": "Bonjour"})


def events(out: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in out.split(b"\n") if line.startswith(b"data: ")]


def test_translating_makes_openai_events_and_reads_the_providers_usage() -> None:
    flow = Translating(ADAPTOR.stream_translator(request()))
    assert not flow.eager and flow.adds_usage_chunk
    stream = START + TEXT + claude("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 4}) \
        + claude("message_stop")
    out = feed_all(flow, stream)
    assert [e["object"] for e in events(out)] == ["chat.completion.chunk"] * len(events(out))
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events(out)) == "Bonjour"
    assert flow.text() == "Bonjour" and flow.answered and not flow.saw_done  # [DONE] is the loop's
    assert flow.reported_usage(0) == (9, 4)


class Unreadable:
    """A translator whose provider's second event cannot be read (what a real one raises: ValueError et al.)."""

    usage = None

    def __init__(self) -> None:
        self.fed = 0

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self.fed += 1
        if self.fed > 1:
            raise ValueError("not JSON")
        return [{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "Bonjour"}, "finish_reason": None}]}]

    def finish(self) -> list[dict[str, Any]]:
        return []


def test_translating_raises_on_an_event_it_cannot_read_after_what_it_delivered() -> None:
    flow = Translating(Unreadable())
    assert events(flow.feed(b"first"))
    with pytest.raises(UNREADABLE):
        flow.feed(b"second")
    assert flow.answered and flow.text() == "Bonjour"  # what the loop bills before it ends the stream
