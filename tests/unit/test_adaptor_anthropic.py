"""The Anthropic adaptor (oneapi/proxy/adaptors/anthropic.py), table-driven against golden JSON.

``golden/anthropic/request_*.json``: an OpenAI request (``openai``; optional ``images`` the relay fetched and the
channel's ``system_prompt``) and the Messages API body it must become (``anthropic``).
``response_*.json``: an Anthropic answer and the OpenAI ``chat.completion`` it must become (``created`` = 0).
``stream_*.sse``: recorded event streams; ``stream_*.json``: the exact chunks (``created`` = 0) and usage.
Set ``ONEAPI_UPDATE_GOLDEN=1`` to rewrite the expected halves after a deliberate change (then review the diff).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.anthropic import ADAPTOR, ANSWER_TOOL, API_VERSION, ClaudeStream, request_body
from oneapi.proxy.adaptors.base import InlineImage, RelayRequest, Usage
from oneapi.proxy.errors import RelayError, UpstreamError
from oneapi.proxy.health import is_retryable, should_disable
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel
from tests.fakes.anthropic_upstream import validate
from tests.openai_schema import assert_valid

GOLDEN = Path(__file__).parent / "golden" / "anthropic"
UPDATE = os.environ.get("ONEAPI_UPDATE_GOLDEN") == "1"


def channel(base: str = "", key: str = "sk-ant-upstream") -> RouteChannel:
    return route_channel({"id": 3, "type": 14, "name": "claude", "key": key, "base_url": base,
                                  "status": 1, "models": "claude-3-5-sonnet-20241022", "group": "default"})


def relay_request(data: dict[str, Any], *, images: dict[str, Any] | None = None, system_prompt: str = "",
                  upstream_model: str | None = None) -> RelayRequest:
    return RelayRequest(mode="chat", path="/v1/chat/completions", query="", body=json.dumps(data).encode(),
                        json=data, model=str(data["model"]), upstream_model=upstream_model or str(data["model"]),
                        stream=bool(data.get("stream")), content_type="application/json", accept="",
                        include_usage=bool((data.get("stream_options") or {}).get("include_usage")),
                        system_prompt=system_prompt,
                        images={url: InlineImage(**img) for url, img in (images or {}).items()})


def cases(prefix: str, suffix: str = ".json") -> list[Path]:
    return sorted(GOLDEN.glob(f"{prefix}_*{suffix}"))


def check_golden(path: Path, key: str, actual: Any, case: dict[str, Any]) -> None:
    if UPDATE:
        case[key] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
        return
    assert actual == case[key], f"{path.name}: run with ONEAPI_UPDATE_GOLDEN=1 to regenerate, then review"


def without_created(obj: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(obj.pop("created"), int)
    return {**obj, "created": 0}


# -- requests --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", cases("request"), ids=lambda p: p.stem)
def test_request_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    request = relay_request(case["openai"], images=case.get("images"), system_prompt=case.get("system_prompt", ""))
    call = ADAPTOR.build(channel("http://claude.test"), request)
    body = json.loads(call.body)
    assert body == request_body(request)
    check_golden(path, "anthropic", body, case)


def test_build_url_and_headers() -> None:
    request = relay_request({"model": "claude-3-haiku-20240307", "messages": [{"role": "user", "content": "x"}]})
    call = ADAPTOR.build(channel(), request)
    assert (call.method, call.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert call.headers == {"Content-Type": "application/json", "Accept": "application/json",
                            "x-api-key": "sk-ant-upstream", "anthropic-version": API_VERSION}
    assert API_VERSION == "2023-06-01"
    assert ADAPTOR.build(channel("http://127.0.0.1:9/"), request).url == "http://127.0.0.1:9/v1/messages"
    streaming = relay_request({"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    assert ADAPTOR.build(channel(), streaming).headers["Accept"] == "text/event-stream"


def test_registry_and_capabilities() -> None:
    assert adaptor_for(14) is ADAPTOR
    assert (ADAPTOR.name, ADAPTOR.passthrough, ADAPTOR.inline_images) == ("anthropic", False, True)


def test_the_mapped_model_is_sent() -> None:
    request = relay_request({"model": "claude", "messages": [{"role": "user", "content": "x"}]},
                            upstream_model="claude-3-opus-20240229")
    assert request_body(request)["model"] == "claude-3-opus-20240229"


@pytest.mark.parametrize(("openai", "anthropic"), [
    ({}, None),
    ({"tool_choice": "auto"}, {"type": "auto"}),
    ({"tool_choice": "none"}, {"type": "none"}),
    ({"tool_choice": "required"}, {"type": "any"}),
    ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, {"type": "tool", "name": "f"}),
    ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
    ({"tool_choice": "required", "parallel_tool_calls": False}, {"type": "any", "disable_parallel_tool_use": True}),
    ({"tool_choice": "none", "parallel_tool_calls": False}, {"type": "none"}),
    ({"parallel_tool_calls": True}, None),
    ({"function_call": "none"}, {"type": "none"}),
    ({"function_call": {"name": "f"}}, {"type": "tool", "name": "f"}),
])
def test_tool_choice(openai: dict[str, Any], anthropic: dict[str, Any] | None) -> None:
    data = {"model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}], **openai}
    body = request_body(relay_request(data))
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]
    assert body.get("tool_choice") == anthropic


def test_tool_choice_is_not_sent_without_tools() -> None:
    body = request_body(relay_request({"model": "m", "tool_choice": "required", "tools": [],
                                       "messages": [{"role": "user", "content": "x"}]}))
    assert "tools" not in body and "tool_choice" not in body


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, 4096), ({"max_tokens": 12}, 12), ({"max_completion_tokens": 34}, 34),
    ({"max_tokens": 0, "max_completion_tokens": 5}, 5), ({"max_tokens": 0}, 4096),
])
def test_max_tokens(fields: dict[str, Any], expected: int) -> None:
    body = request_body(relay_request({"model": "m", "messages": [{"role": "user", "content": "x"}], **fields}))
    assert body["max_tokens"] == expected  # "m" is no model the catalogue knows: 4096, which every Claude accepts


@pytest.mark.parametrize(("model", "expected"), [
    ("claude-3-haiku-20240307", 4096), ("claude-3-5-sonnet-20241022", 8192),
    ("claude-3-7-sonnet-20250219", 64_000),  # 128k needs a beta header oneapi does not send
    ("claude-sonnet-4-20250514", 64_000), ("claude-opus-4-1-20250805", 32_000), ("claude-opus-4-5", 64_000),
    ("claude-haiku-4-5", 64_000),
])
def test_without_max_tokens_the_models_whole_output_is_allowed(model: str, expected: int) -> None:
    body = request_body(relay_request({"model": model, "messages": [{"role": "user", "content": "x"}]}))
    assert body["max_tokens"] == expected
    assert request_body(relay_request({"model": "alias", "messages": [{"role": "user", "content": "x"}]},
                                      upstream_model=model))["max_tokens"] == expected  # the mapped name counts


def test_only_documented_top_level_fields_are_sent() -> None:
    documented = {"model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
                  "temperature", "top_k", "top_p", "tools", "tool_choice"}
    for path in cases("request"):
        sent = json.loads(path.read_text())["anthropic"]
        assert set(sent) <= documented, path.name


@pytest.mark.parametrize("path", cases("request"), ids=lambda p: p.stem)
def test_every_golden_body_passes_the_fakes_checks(path: Path) -> None:
    """The fake refuses what the real API refuses (alternation, empty text, tool pairing, unknown fields...)."""
    validate(json.loads(path.read_text())["anthropic"])


def test_a_turn_emptied_by_tool_pairing_keeps_the_alternation() -> None:
    data = {"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"},
                                       {"role": "tool", "content": ""}, {"role": "assistant", "content": "b"}]}
    body = request_body(relay_request(data))
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    validate(body)


@pytest.mark.parametrize("mode", ["embeddings", "completions"])
def test_other_modes_are_refused_so_another_channel_may_serve_them(mode: Any) -> None:
    data = {"model": "claude-3-haiku-20240307", "input": "x", "prompt": "x"}
    request = RelayRequest(mode=mode, path=f"/v1/{mode}", query="", body=b"{}", json=data, model="m",
                           upstream_model="m", stream=False, content_type="application/json", accept="")
    with pytest.raises(RelayError) as caught:
        ADAPTOR.build(channel(), request)
    assert (caught.value.http_status, caught.value.code) == (501, "channel_type_not_supported")


# -- answers ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", cases("response"), ids=lambda p: p.stem)
def test_response_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    request = relay_request({"model": "claude-x", "messages": [{"role": "user", "content": "x"}]})
    answer, usage = ADAPTOR.parse_response(request, json.dumps(case["anthropic"]).encode())
    answer = without_created(answer)
    check_golden(path, "openai", answer, case)
    assert usage is not None and answer["usage"]["prompt_tokens"] == usage.prompt_tokens
    assert answer["usage"]["completion_tokens"] == usage.completion_tokens


def test_response_usage_adds_cache_tokens() -> None:
    case = json.loads((GOLDEN / "response_stop_sequence_and_cache.json").read_text())
    request = relay_request({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    _, usage = ADAPTOR.parse_response(request, json.dumps(case["anthropic"]).encode())
    assert usage == Usage(10 + 1000 + 200, 7)


def test_response_without_usage_leaves_counting_to_the_relay() -> None:
    request = relay_request({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    answer, usage = ADAPTOR.parse_response(request, json.dumps(
        {"id": "msg_1", "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn"}).encode())
    assert usage is None and "usage" not in answer
    assert answer["model"] == "m" and answer["choices"][0]["message"]["content"] == "hi"


@pytest.mark.parametrize(("body", "status", "kind"), [
    ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, 529, "overloaded_error"),
    ({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}, 400, "invalid_request_error"),
    ({"error": {"type": "something_new", "message": "?"}}, 500, "something_new"),
])
def test_an_error_inside_a_200_answer_raises(body: dict[str, Any], status: int, kind: str) -> None:
    request = relay_request({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(UpstreamError) as caught:
        ADAPTOR.parse_response(request, json.dumps(body).encode())
    assert caught.value.http_status == status
    assert caught.value.to_openai()["error"]["type"] == kind == caught.value.to_openai()["error"]["code"]


def test_unreadable_answers_raise_value_errors() -> None:
    request = relay_request({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    for body in (b"not json", b"[1, 2]"):
        with pytest.raises(ValueError):
            ADAPTOR.parse_response(request, body)


# -- streams ---------------------------------------------------------------------------------------------------

def translate(pieces: list[bytes], model: str = "claude-x") -> tuple[list[dict[str, Any]], ClaudeStream]:
    translator = ADAPTOR.stream_translator(relay_request({"model": model, "stream": True, "messages": []}))
    out: list[dict[str, Any]] = []
    for piece in pieces:
        out += translator.feed(piece)
    out += translator.finish()
    return [without_created(c) for c in out], translator


def splits(data: bytes) -> list[list[bytes]]:
    """The whole stream, one byte at a time, and every way of cutting it in two (mid-line, mid-CRLF and
    mid-UTF-8 sequence included)."""
    return [[data], [data[i:i + 1] for i in range(len(data))]] + [[data[:i], data[i:]] for i in range(1, len(data))]


@pytest.mark.parametrize("path", cases("stream", ".sse"), ids=lambda p: p.stem)
def test_stream_golden_at_every_split(path: Path) -> None:
    data = path.read_bytes()
    expected_path = path.with_suffix(".json")
    chunks, translator = translate([data])
    assert translator.usage is not None
    result = {"chunks": chunks, "usage": [translator.usage.prompt_tokens, translator.usage.completion_tokens]}
    if UPDATE:
        expected_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    expected = json.loads(expected_path.read_text())
    assert result == expected
    for variant in (data, data.replace(b"\n", b"\r\n")):
        for pieces in splits(variant):
            again, translator = translate(pieces)
            assert again == expected["chunks"]
            assert translator.usage == Usage(*expected["usage"])


def test_stream_chunk_contract() -> None:
    for path in cases("stream", ".sse"):
        chunks, _ = translate([path.read_bytes()])
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
        assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])  # null, not ""
        assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "tool_calls")
        assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-msg_")
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_streamed_tool_arguments_accumulate_to_json() -> None:
    chunks, _ = translate([(GOLDEN / "stream_tools.sse").read_bytes()])
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for call in c["choices"][0]["delta"].get("tool_calls", []):
            entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
            entry["id"] += call.get("id", "")
            entry["name"] += call.get("function", {}).get("name", "")
            entry["arguments"] += call["function"]["arguments"]
    assert {i: (e["id"], e["name"], json.loads(e["arguments"])) for i, e in calls.items()} == {
        0: ("toolu_01W", "get_weather", {"city": "Paris"}), 1: ("toolu_01T", "get_time", {"tz": "UTC"})}


def event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


START = event("message_start", message={"id": "msg_1", "model": "claude-x", "content": [],
                                        "usage": {"input_tokens": 9, "output_tokens": 1}})


def test_output_tokens_are_the_last_cumulative_count_not_a_sum() -> None:
    deltas = [event("message_delta", delta={"stop_reason": None}, usage={"output_tokens": 5}),
              event("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 12})]
    chunks, translator = translate([START, *deltas, event("message_stop")])
    assert translator.usage == Usage(9, 12)  # One API reported 1 + 5 + 12
    assert [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks] == [
        ({"role": "assistant"}, "stop")]


def test_usage_is_unknown_until_message_delta() -> None:
    _, translator = translate([START, event("content_block_start", index=0,
                                            content_block={"type": "text", "text": "partial"})])
    assert translator.usage is None  # a broken stream: the relay counts what was delivered


def test_an_error_event_raises_with_the_anthropic_type() -> None:
    translator = ADAPTOR.stream_translator(relay_request({"model": "m", "stream": True, "messages": []}))
    assert translator.feed(START) == []  # nothing is sent before the first content
    with pytest.raises(UpstreamError) as caught:
        translator.feed(event("error", error={"type": "overloaded_error", "message": "Overloaded"}))
    assert caught.value.http_status == 529
    assert caught.value.to_openai() == {"error": {"message": "Overloaded", "type": "overloaded_error",
                                                  "param": "", "code": "overloaded_error"}}


def test_chunks_read_before_an_error_event_are_handed_over_first() -> None:
    translator = ADAPTOR.stream_translator(relay_request({"model": "m", "stream": True, "messages": []}))
    text = event("content_block_delta", index=0, delta={"type": "text_delta", "text": "partial"})
    error = event("error", error={"type": "api_error", "message": "Internal server error"})
    chunks = translator.feed(START + text + error)
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": "partial"}]
    with pytest.raises(UpstreamError) as caught:
        translator.finish()
    assert caught.value.http_status == 500 and caught.value.type == "api_error"


def test_data_only_streams_and_comments_are_understood() -> None:
    data = (b": a comment\n" + START.replace(b"event: message_start\n", b"")
            + b'data:{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n'
            + b"event: message_delta\ndata: {\"type\": \"message_delta\", \"delta\": {\"stop_reason\": "
            + b"\"max_tokens\"}, \"usage\": {\"output_tokens\": 3}}")  # no final blank line: flushed by finish()
    chunks, translator = translate([data])
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": "hi"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length" and translator.usage == Usage(9, 3)


# -- errors ----------------------------------------------------------------------------------------------------

def anthropic_error(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message},
                       "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}).encode()


@pytest.mark.parametrize(("status", "body", "expected", "retry", "disable"), [
    (400, anthropic_error("invalid_request_error", "messages: roles must alternate"),
     {"message": "messages: roles must alternate", "type": "invalid_request_error", "param": "",
      "code": "invalid_request_error"}, False, False),
    (401, anthropic_error("authentication_error", "invalid x-api-key"),
     {"message": "invalid x-api-key", "type": "authentication_error", "param": "", "code": "authentication_error"},
     True, True),
    (403, anthropic_error("permission_error", "no access"),
     {"message": "no access", "type": "permission_error", "param": "", "code": "permission_error"}, True, True),
    (429, anthropic_error("rate_limit_error", "slow down"),
     {"message": "slow down", "type": "rate_limit_error", "param": "", "code": "rate_limit_error"}, True, False),
    (529, anthropic_error("overloaded_error", "Overloaded"),
     {"message": "Overloaded", "type": "overloaded_error", "param": "", "code": "overloaded_error"}, True, False),
    (500, anthropic_error("api_error", "Internal server error"),
     {"message": "Internal server error", "type": "api_error", "param": "", "code": "api_error"}, True, False),
    (502, b"<html>Bad Gateway</html>",
     {"message": "bad response status code 502", "type": "upstream_error", "param": "502",
      "code": "bad_response_status_code"}, True, False),
])
def test_error_mapping(status: int, body: bytes, expected: dict[str, Any], retry: bool, disable: bool) -> None:
    error = ADAPTOR.error(status, body)
    assert isinstance(error, UpstreamError)
    assert error.http_status == status and error.to_openai() == {"error": expected}
    assert is_retryable(error.http_status) is retry
    assert (should_disable(error.http_status, error) is not None) is disable


# -- structured output (response_format → a forced tool whose input is the answer) -----------------------------

JSON_SCHEMA: Any = {"type": "json_schema", "json_schema": {"name": "City", "schema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_response_format_without_client_tools_forces_the_answer_tool() -> None:
    body = request_body(relay_request({"model": "claude-3-haiku-20240307", "response_format": JSON_SCHEMA,
                                       "tool_choice": "none",
                                       "messages": [{"role": "user", "content": "x"}]}))
    assert body["tools"] == [{"name": ANSWER_TOOL, "description": "Give the answer (City) as this tool's input.",
                              "input_schema": JSON_SCHEMA["json_schema"]["schema"]}]
    assert body["tool_choice"] == {"type": "tool", "name": ANSWER_TOOL, "disable_parallel_tool_use": True}
    validate(body)
    plain = request_body(relay_request({"model": "m", "response_format": {"type": "text"},
                                        "messages": [{"role": "user", "content": "x"}]}))
    assert "tools" not in plain and "tool_choice" not in plain


def test_a_structured_answer_is_the_tools_input_as_content() -> None:
    request = relay_request({"model": "claude-x", "response_format": JSON_SCHEMA, "messages": []})
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "stop_reason": "tool_use",
            "content": [{"type": "text", "text": "Here it is:"},
                        {"type": "tool_use", "id": "toolu_1", "name": ANSWER_TOOL, "input": {"city": "Paris"}}],
            "usage": {"input_tokens": 5, "output_tokens": 7}}
    answer, _ = ADAPTOR.parse_response(request, json.dumps(body).encode())
    choice = answer["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"city": "Paris"}
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"
    assert_valid(answer)
    # Without a response_format, a tool of that name is an ordinary tool call.
    plain, _ = ADAPTOR.parse_response(relay_request({"model": "claude-x", "messages": []}), json.dumps(body).encode())
    assert plain["choices"][0]["finish_reason"] == "tool_calls" and plain["choices"][0]["message"]["tool_calls"]


def test_a_structured_stream_streams_the_tools_input_as_content() -> None:
    translator = ADAPTOR.stream_translator(relay_request(
        {"model": "claude-x", "stream": True, "response_format": JSON_SCHEMA, "messages": []}))
    events = [START,
              event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
              event("content_block_delta", index=0, delta={"type": "text_delta", "text": "Sure:"}),
              event("content_block_start", index=1,
                    content_block={"type": "tool_use", "id": "toolu_1", "name": ANSWER_TOOL, "input": {}}),
              event("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": ""}),
              event("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": '{"city": '}),
              event("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": '"Paris"}'}),
              event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 6})]
    chunks = [c for piece in events for c in translator.feed(piece)] + translator.finish()
    for c in chunks:
        assert_valid(c)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert json.loads(text) == {"city": "Paris"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks)
