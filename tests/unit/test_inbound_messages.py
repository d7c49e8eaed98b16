"""Anthropic's Messages format inbound (oneapi/proxy/inbound/messages_*.py): the pure translations, against
golden data.

``golden/messages_inbound/request_*.json``: a Messages request (``messages``) and the OpenAI chat request it
becomes (``openai``), with what cannot be translated (``untranslatable``). ``answer_*.json``: an OpenAI
``chat.completion`` and the Messages answer it becomes (``anthropic``). ``stream_*.sse``: OpenAI event streams as
the relay writes them; ``stream_*.json``: the exact Anthropic events (``[name, data]``) they become, at every cut.
Set ``ONEAPI_UPDATE_GOLDEN=1`` to rewrite the expected halves after a deliberate change (then review the diff).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from oneapi.proxy.adaptors.anthropic import API_VERSION
from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.errors import RelayError
from oneapi.proxy.inbound import messages_answer, messages_request
from oneapi.proxy.inbound.messages_answer import EventStream
from oneapi.proxy.inbound.messages_native import NativeMessages
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel
from tests.fakes.anthropic_upstream import validate

GOLDEN = Path(__file__).parent / "golden" / "messages_inbound"
UPDATE = os.environ.get("ONEAPI_UPDATE_GOLDEN") == "1"


def cases(prefix: str, suffix: str = ".json") -> list[Path]:
    return sorted(GOLDEN.glob(f"{prefix}_*{suffix}"))


def check_golden(path: Path, key: str, actual: Any, case: dict[str, Any]) -> None:
    if UPDATE:
        case[key] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
        return
    assert actual == case[key], f"{path.name}: run with ONEAPI_UPDATE_GOLDEN=1 to regenerate, then review"


def parse(data: Any, *, count_tokens: bool = False) -> messages_request.MessagesRequest:
    return messages_request.parse(json.dumps(data).encode(), count_tokens=count_tokens)


# -- requests --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", cases("request"), ids=lambda p: p.stem)
def test_request_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    translation = messages_request.openai_request(parse(case["messages"]))
    check_golden(path, "openai", translation.request, case)
    check_golden(path, "untranslatable", translation.untranslatable, case)


@pytest.mark.parametrize("path", cases("request"), ids=lambda p: p.stem)
def test_every_golden_request_is_one_anthropic_accepts(path: Path) -> None:
    """The inputs are real Messages requests: the Anthropic fake, which checks what the API checks, takes them
    (the model aside: the fake serves claude models only)."""
    case = json.loads(path.read_text())
    if "fake_refuses" in case:
        pytest.skip(case["fake_refuses"])
    validate({**case["messages"], "model": "claude-sonnet-4-5"})


def test_the_translation_is_an_openai_request_the_openai_fake_accepts() -> None:
    from tests.fakes.openai_upstream import _validate_messages

    for path in cases("request"):
        translated = messages_request.openai_request(parse(json.loads(path.read_text())["messages"])).request
        _validate_messages(translated)


@pytest.mark.parametrize(("body", "message"), [
    ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model: Field required"),
    ({"model": "", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model: Input should be"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens: Field required"),
    ({"model": "m", "max_tokens": True, "messages": [{"role": "user", "content": "x"}]}, "valid integer"),
    ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}, "between 1 and"),
    ({"model": "m", "max_tokens": 5}, "messages: Field required"),
    ({"model": "m", "max_tokens": 5, "messages": []}, "at least one message"),
    ({"model": "m", "max_tokens": 5, "messages": ["hi"]}, "messages.0: Input should be an object"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"text": "x"}]}]}, "with a type"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
     "messages.0.content.0.text"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64"}}]}]}, "source.data: Field required"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "n", "input": "x"}]}]}, "tool_use block"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]},
     "tool_use_id: Field required"),
    ({"model": "m", "max_tokens": 5, "system": 5, "messages": [{"role": "user", "content": "x"}]}, "system:"),
    ({"model": "m", "max_tokens": 5, "stream": 1, "messages": [{"role": "user", "content": "x"}]}, "stream:"),
    ({"model": "m", "max_tokens": 5, "temperature": "hot", "messages": [{"role": "user", "content": "x"}]},
     "temperature:"),
    ({"model": "m", "max_tokens": 5, "stop_sequences": "END", "messages": [{"role": "user", "content": "x"}]},
     "stop_sequences:"),
    ({"model": "m", "max_tokens": 5, "metadata": [], "messages": [{"role": "user", "content": "x"}]}, "metadata:"),
    ({"model": "m", "max_tokens": 5, "tools": {}, "messages": [{"role": "user", "content": "x"}]}, "tools:"),
    ({"model": "m", "max_tokens": 5, "tools": [{"name": "t"}], "messages": [{"role": "user", "content": "x"}]},
     "tools.0.input_schema"),
    ({"model": "m", "max_tokens": 5, "tool_choice": {"type": "some"}, "messages": [{"role": "user", "content": "x"}]},
     "tool_choice:"),
    ({"model": "m", "max_tokens": 5, "tool_choice": {"type": "tool"}, "messages": [{"role": "user", "content": "x"}]},
     "tool_choice.name"),
])
def test_bad_requests_are_invalid_request_errors(body: Any, message: str) -> None:
    with pytest.raises(RelayError) as caught:
        parse(body)
    assert caught.value.http_status == 400 and caught.value.type == "invalid_request_error"
    assert message in caught.value.message


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'"x"', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000])
def test_bodies_that_are_not_json_objects(body: bytes) -> None:
    with pytest.raises(RelayError) as caught:
        messages_request.parse(body)
    assert caught.value.http_status == 400


def test_count_tokens_takes_no_max_tokens_and_never_streams() -> None:
    parsed = parse({"model": "m", "stream": "anything", "messages": [{"role": "user", "content": "x"}]},
                   count_tokens=True)
    assert (parsed.max_tokens, parsed.stream) == (0, False)
    assert "max_tokens" not in messages_request.openai_request(parsed).request


# -- answers ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", cases("answer"), ids=lambda p: p.stem)
def test_answer_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    check_golden(path, "anthropic", messages_answer.message(case["openai"], "the-model"), case)


def test_answers_read_by_the_anthropic_sdk() -> None:
    """Every golden answer is a Message the anthropic SDK's own model accepts."""
    from anthropic.types import Message

    for path in cases("answer"):
        answer = json.loads(path.read_text())["anthropic"]
        assert Message.model_validate(answer).model_dump(mode="json", exclude_unset=True) == answer


# -- streams ---------------------------------------------------------------------------------------------------

def events(data: bytes) -> list[list[Any]]:
    """Anthropic's SSE bytes as [name, data] pairs, checking the framing on the way."""
    out = []
    for block in data.decode().split("\n\n")[:-1]:
        name_line, data_line = block.split("\n")
        name = name_line.removeprefix("event: ")
        payload = json.loads(data_line.removeprefix("data: "))
        assert payload["type"] == name
        out.append([name, payload])
    assert data.endswith(b"\n\n") or not data
    return out


def translate(pieces: list[bytes]) -> tuple[bytes, EventStream]:
    stream = EventStream("the-model", 7, lambda text: len(text.split()))
    out = b"".join(stream.feed(piece) for piece in pieces)
    return out + stream.finish(), stream


def splits(data: bytes) -> list[list[bytes]]:
    return [[data], [data[i:i + 1] for i in range(len(data))]] + [[data[:i], data[i:]] for i in range(1, len(data))]


@pytest.mark.parametrize("path", cases("stream", ".sse"), ids=lambda p: p.stem)
def test_stream_golden_at_every_split(path: Path) -> None:
    data = path.read_bytes()
    expected_path = path.with_suffix(".json")
    whole, _ = translate([data])
    result = events(whole)
    if UPDATE:
        expected_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    assert result == json.loads(expected_path.read_text())
    for variant in (data, data.replace(b"\n", b"\r\n")):
        for pieces in splits(variant):
            assert translate(pieces)[0] == whole


@pytest.mark.parametrize("path", cases("stream", ".sse"), ids=lambda p: p.stem)
def test_streams_accumulate_in_the_anthropic_sdk(path: Path) -> None:
    """The SDK's own accumulator builds a message from every golden stream (the event sequence is one it
    understands: blocks opened before their deltas, indices in order)."""
    from anthropic.lib.streaming._messages import accumulate_event
    from anthropic.types import RawMessageStreamEvent
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    snapshot = None
    buffers: dict[int, bytes] = {}
    for name, payload in events(translate([path.read_bytes()])[0]):
        if name in ("ping", "error"):
            continue
        snapshot = accumulate_event(event=adapter.validate_python(payload), current_snapshot=snapshot,
                                    json_bufs=buffers)
    assert snapshot is not None and snapshot.role == "assistant"
    if path.stem == "stream_tools":
        assert [(b.type, getattr(b, "input", None)) for b in snapshot.content] == [
            ("text", None), ("tool_use", {"city": "Paris"}), ("tool_use", {})]


def test_streamed_usage_stands_in_for_a_missing_one() -> None:
    whole, _ = translate([(GOLDEN / "stream_no_usage_no_done.sse").read_bytes()])
    delta = next(e for e in events(whole) if e[0] == "message_delta")[1]
    assert delta["usage"] == {"input_tokens": 7, "output_tokens": 3}  # the prompt as counted, words as counted
    assert delta["delta"]["stop_reason"] == "max_tokens"


def test_nothing_is_said_after_an_error() -> None:
    stream = EventStream("m", 1, len)
    assert stream.error({"message": "boom", "type": "overloaded_error"}).startswith(b"event: error\n")
    assert stream.chunk({"choices": [{"delta": {"content": "x"}}]}) == b"" and stream.finish() == b""


def test_a_fragment_of_a_closed_tool_call_is_counted_as_dropped() -> None:
    stream = EventStream("m", 1, len)
    call = {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f"}}]}}]}
    other = {"choices": [{"delta": {"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g"}}]}}]}
    late = {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]}
    for chunk in (call, other, late):
        stream.chunk(chunk)
    assert stream.dropped == 1


# -- errors ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "error_type", "expected"), [
    (400, "invalid_text_request", (400, "invalid_request_error")),
    (401, "one_api_error", (401, "authentication_error")),
    (403, "one_api_error", (403, "permission_error")),
    (404, "not_found_error", (404, "not_found_error")),
    (413, "one_api_error", (413, "request_too_large")),
    (429, "insufficient_quota", (429, "rate_limit_error")),
    (500, "one_api_error", (500, "api_error")),
    (501, "one_api_error", (500, "api_error")),
    (503, "one_api_error", (529, "overloaded_error")),
    (529, "overloaded_error", (529, "overloaded_error")),
    (422, "one_api_error", (400, "invalid_request_error")),
    (500, "overloaded_error", (500, "overloaded_error")),  # an Anthropic channel's own type is kept
])
def test_error_shape(status: int, error_type: str, expected: tuple[int, str]) -> None:
    answered, body = messages_answer.error_body(status, error_type, "what happened", "req-1")
    assert (answered, body["error"]["type"]) == expected
    assert body == {"type": "error", "error": {"type": expected[1], "message": "what happened"}, "request_id": "req-1"}


# -- the native adaptor ----------------------------------------------------------------------------------------

def claude(base: str = "", system_prompt: str = "", mapping: str = "") -> tuple[RouteChannel, str]:
    return route_channel({"id": 3, "type": 14, "name": "claude", "key": "sk-ant-upstream", "base_url": base,
                                  "status": 1, "models": "claude-a", "group": "default", "model_mapping": mapping,
                                  "system_prompt": system_prompt}), system_prompt


def relay_request(data: dict[str, Any], upstream_model: str, system_prompt: str = "") -> RelayRequest:
    return RelayRequest(mode="chat", path="/v1/chat/completions", query="", body=b"", json={}, model=data["model"],
                        upstream_model=upstream_model, stream=bool(data.get("stream")),
                        content_type="application/json", accept="", system_prompt=system_prompt)


def test_native_body_is_forwarded_byte_for_byte() -> None:
    body = b'{"model":"claude-a",  "max_tokens": 5, "messages":[{"role":"user","content":"\\u00e9"}]}'
    data = json.loads(body)
    channel, _ = claude()
    call = NativeMessages(data, body, "/v1/messages").build(channel, relay_request(data, "claude-a"))
    assert call.body is body
    assert call.url == "https://api.anthropic.com/v1/messages"
    assert call.headers == {"Content-Type": "application/json", "Accept": "application/json",
                            "x-api-key": "sk-ant-upstream", "anthropic-version": API_VERSION}


def test_native_body_changes_only_for_the_channel() -> None:
    data = {"model": "claude-a", "max_tokens": 5, "stream": True, "system": "mine",
            "messages": [{"role": "user", "content": "x"}]}
    channel, prompt = claude("http://proxy.test", system_prompt="the channel's")
    native = NativeMessages(data, json.dumps(data).encode(), "/v1/messages/count_tokens", "2025-01-01", "beta-x")
    call = native.build(channel, relay_request(data, "claude-b", prompt))
    assert json.loads(call.body) == {**data, "model": "claude-b", "system": "the channel's"}
    assert call.url == "http://proxy.test/v1/messages/count_tokens"
    assert call.headers["anthropic-version"] == "2025-01-01" and call.headers["anthropic-beta"] == "beta-x"
    assert call.headers["Accept"] == "text/event-stream"
