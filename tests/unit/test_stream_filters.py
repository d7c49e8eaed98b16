"""The stream filters, without a server: bytes in, the client's bytes out, and what billing reads on the side."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oneapi.proxy.adaptors import gemini
from oneapi.proxy.adaptors.anthropic import ADAPTOR
from oneapi.proxy.adaptors.base import RelayRequest, UpstreamCall, Usage
from oneapi.proxy.failures import UNREADABLE
from oneapi.proxy.output_budget import OutputBudget
from oneapi.proxy.stream_filters import Forwarding, PassThrough, StreamFilter, Translating, may_carry_usage


def chunk(content: str | None = None, *, usage: dict[str, int] | None = None, choices: bool = True) -> bytes:
    body: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
                            if choices else []}
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
WORDS = lambda text: len(text.split())  # noqa: E731 -- a budget that counts words keeps the tests readable


def feed_all(flow: StreamFilter, data: bytes, cut_every: int = 5) -> bytes:
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


def test_openai_streams_end_with_the_error_or_the_usage_chunk_then_done_once() -> None:
    translated = Translating(ADAPTOR.stream_translator(request()))
    feed_all(translated, START + TEXT)
    done = b"data: [DONE]\n\n"
    with_usage = translated.ending(None, Usage(9, 4), "chat")
    assert with_usage.endswith(done)
    assert events(with_usage.removesuffix(done))[-1]["usage"]["completion_tokens"] == 4
    failed = translated.ending({"message": "broke"}, Usage(9, 4), "chat")
    assert failed.endswith(done) and events(failed.removesuffix(done)) == [{"error": {"message": "broke"}}]
    forwarded = PassThrough(UpstreamCall("POST", "http://x"))
    feed_all(forwarded, chunk("Hi") + b"data: [DONE]\n")
    assert forwarded.ending(None, Usage(1, 1), "chat") == b"\n"  # its own [DONE] went out: no second one


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


# -- Forwarding: a native channel's stream to a client of its own API ---------------------------------------

def broken(message: str) -> bytes:
    return claude("error", error={"type": "api_error", "message": message})


STOP = claude("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 4}) \
    + claude("message_stop")
OVERLOADED = claude("error", error={"type": "overloaded_error", "message": "Overloaded"})


def test_forwarding_passes_the_providers_events_on_and_ends_the_providers_way() -> None:
    flow = Forwarding(ADAPTOR.stream_translator(request()), broken)
    assert not flow.eager and not flow.committed and not flow.answered  # an error now is the retry loop's
    stream = START + TEXT + STOP
    assert feed_all(flow, stream) == stream
    assert flow.committed and flow.answered and flow.text() == "Bonjour"
    assert flow.reported_usage(0) == (9, 4)
    assert flow.ending(None, Usage(9, 4), "chat") == b""  # no data: [DONE], no usage chunk of OpenAI's


def test_forwarding_a_gemini_stream_reads_its_usage_metadata() -> None:
    reader = gemini.ADAPTOR.stream_translator(request())
    first = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}}],
             "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1}}
    last = {"candidates": [{"content": {"role": "model", "parts": [{"text": " there"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2}}
    stream = b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in (first, last))
    flow = Forwarding(reader, broken)
    assert feed_all(flow, stream, cut_every=7) == stream
    assert flow.text() == "Hello there" and flow.reported_usage(0) == (5, 2)


def test_forwarding_an_error_event_before_any_content_is_not_an_answer() -> None:
    flow = Forwarding(ADAPTOR.stream_translator(request()), broken)
    assert feed_all(flow, START + OVERLOADED) == START + OVERLOADED  # the client gets the provider's error
    assert flow.committed and not flow.answered  # nothing charged
    assert flow.ending({"message": "x"}, None, "chat") == b""  # the provider's error event ended the stream


def test_forwarding_an_error_event_after_content_bills_what_was_said() -> None:
    flow = Forwarding(ADAPTOR.stream_translator(request()), broken)
    feed_all(flow, START + TEXT + OVERLOADED + TEXT)
    assert flow.answered and flow.text() == "Bonjour"  # the reading stopped at the error
    assert flow.reported_usage(0) is None  # counted


def test_forwarding_an_unreadable_event_stops_the_reading_not_the_bytes() -> None:
    flow = Forwarding(Unreadable(), broken)
    assert flow.feed(b"first") == b"first" and flow.feed(b"second") == b"second" and flow.feed(b"third") == b"third"
    assert flow.finish() == b""
    assert flow.answered and flow.text() == "Bonjour" and flow.reported_usage(0) is None


def test_forwarding_ends_a_broken_stream_with_the_formats_error_event() -> None:
    flow = Forwarding(ADAPTOR.stream_translator(request()), broken)
    flow.feed(START + TEXT)
    assert flow.ending({"message": "upstream stream broke"}, None, "chat") == broken("upstream stream broke")


@pytest.mark.parametrize(("payload", "carries"), [
    (b'{"usage":null}', False),
    (b'{"choices":[],"usage":  null }', False),
    (b'{"usage":{"prompt_tokens":1}}', True),
    (b'{"usage" :\n {}}', True),
    (b'{"usage":0}', True),  # decoded, then read as no usage, as before
    (b'{"choices":[{"delta":{"content":"\\"usage\\": 5"}}]}', False),  # the word inside a string
    (b'{"choices":[{"delta":{"content":"usage"}}]}', False),  # the word as a value
    (b'{"choices":[{"delta":{"content":"usage"}}],"usage":{"total_tokens":3}}', True),
])
def test_a_chunk_is_decoded_when_its_bytes_may_hold_a_usage(payload: bytes, carries: bool) -> None:
    assert may_carry_usage(payload) is carries


def test_pass_through_reads_the_text_only_when_no_usage_came() -> None:
    """Chunks are kept undecoded while usage may still come; the text is exactly the chunks' when it does not."""
    tricky = '"usage": {"prompt_tokens": 1}'  # content that spells a usage key, escaped in the JSON
    stream = chunk("Hello") + chunk(tricky) + chunk(" world") + b"data: [DONE]\n\n"
    flow = PassThrough(UpstreamCall("POST", "http://x"))
    assert feed_all(flow, stream) == stream
    assert flow.reported_usage(5) is None and flow.answered
    assert flow.text() == "Hello" + tricky + " world"
    assert flow.text() == "Hello" + tricky + " world"  # read once, kept


def test_pass_through_with_null_usage_in_every_chunk_bills_from_the_last() -> None:
    """OpenAI with include_usage: "usage": null in each chunk, the numbers in a last chunk without choices."""
    def with_null(content: str) -> bytes:
        return chunk(content).replace(b'"model": "m",', b'"model": "m", "usage": null,')

    stream = with_null("a") + with_null("b") + chunk(choices=False, usage=USAGE) + b"data: [DONE]\n\n"
    flow = PassThrough(UpstreamCall("POST", "http://x", stream_usage_requested=True))
    assert feed_all(flow, stream, cut_every=7) == with_null("a") + with_null("b") + b"data: [DONE]\n\n"
    assert flow.reported_usage(0) == (7, 3) and flow.text() == "ab"
