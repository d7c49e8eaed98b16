"""The Gemini adaptor (oneapi/proxy/adaptors/gemini.py): requests, answers, streams, embeddings and errors.

Golden cases live in ``tests/unit/golden/gemini/*.json``: an input (``openai`` request, ``gemini`` answer or raw
``sse`` text) and the ``expected`` translation. Generated ids and timestamps are normalised (``chatcmpl-*``,
``call_*``, ``created: 0``) after checking their shape. ``ONEAPI_UPDATE_GOLDEN=1`` rewrites the ``expected``
sections from the code — review the diff before keeping it.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from oneapi.proxy.adaptors import gemini
from oneapi.proxy.adaptors.base import InlineImage, Mode, RelayRequest
from oneapi.proxy.adaptors.gemini import (
    GeminiAdaptor,
    GeminiStream,
    clean_schema,
    generation_config,
    make_adaptor,
    model_needs_v1beta,
)
from oneapi.proxy.errors import UpstreamError
from oneapi.proxy.health import is_retryable, should_disable
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel

GOLDEN = Path(__file__).parent / "golden" / "gemini"
UPDATE = os.environ.get("ONEAPI_UPDATE_GOLDEN") == "1"


def channel(config: dict[str, Any] | None = None, base: str = "https://gl.example") -> RouteChannel:
    return route_channel({"id": 3, "type": 24, "name": "g", "key": "AIza-key", "base_url": base,
                                  "status": 1, "models": "gemini-pro", "group": "default",
                                  "config": json.dumps(config or {})})


def request(body: dict[str, Any], *, mode: Mode = "chat", model: str | None = None, upstream: str | None = None,
            system_prompt: str = "", images: dict[str, InlineImage] | None = None) -> RelayRequest:
    model = model or str(body.get("model"))
    return RelayRequest(mode=mode, path="/v1/chat/completions" if mode == "chat" else "/v1/embeddings", query="",
                        body=json.dumps(body).encode(), json=body, model=model, upstream_model=upstream or model,
                        stream=bool(body.get("stream")), content_type="application/json", accept="",
                        system_prompt=system_prompt, images=images or {})


def normalise(value: Any) -> Any:
    """Replace generated ids and timestamps by fixed markers (after checking their shape)."""
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "id" and isinstance(item, str) and item.startswith(("chatcmpl-", "call_")):
            prefix = "chatcmpl-" if item.startswith("chatcmpl-") else "call_"
            assert len(item) == len(prefix) + 32, item
            out[key] = prefix + "*"
        elif key == "created":
            assert isinstance(item, int) and item > 1_600_000_000
            out[key] = 0
        else:
            out[key] = normalise(item)
    return out


def cases(prefix: str) -> list[Path]:
    return sorted(GOLDEN.glob(f"{prefix}_*.json"))


def check_golden(path: Path, case: dict[str, Any], actual: Any) -> None:
    actual = json.loads(json.dumps(normalise(actual)))
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
    assert actual == case["expected"], f"{path.name}: {case['description']}"


# -- golden: requests, answers, streams --------------------------------------------------------------

@pytest.mark.parametrize("path", cases("request"), ids=lambda p: p.stem)
def test_request_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    adaptor = GeminiAdaptor(**case["adaptor"]) if "adaptor" in case else make_adaptor("v1", "BLOCK_NONE")
    images = {url: InlineImage(mime, data) for url, (mime, data) in case.get("images", {}).items()}
    relay_request = request(case["openai"], mode=case.get("mode", "chat"), model=case["model"],
                            upstream=case.get("upstream_model"), system_prompt=case.get("system_prompt", ""),
                            images=images)
    call = adaptor.build(channel(case.get("channel_config")), relay_request)
    assert call.method == "POST"
    assert call.headers["x-goog-api-key"] == "AIza-key" and call.headers["Content-Type"] == "application/json"
    assert "Authorization" not in call.headers
    check_golden(path, case, {"url": call.url, "body": json.loads(call.body)})


@pytest.mark.parametrize("path", cases("response"), ids=lambda p: p.stem)
def test_response_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    openai_body = case.get("openai", {"model": "gemini-2.5-flash", "messages": []})
    relay_request = request(openai_body, mode=case.get("mode", "chat"))
    answer, usage = gemini.ADAPTOR.parse_response(relay_request, json.dumps(case["gemini"]).encode())
    check_golden(path, case, {"answer": answer,
                              "usage": None if usage is None else [usage.prompt_tokens, usage.completion_tokens]})


def run_stream(data: bytes, pieces: list[int] | None = None) -> tuple[list[dict[str, Any]], GeminiStream]:
    translator = gemini.ADAPTOR.stream_translator(request({"model": "gemini-2.0-flash", "stream": True,
                                                           "messages": []}))
    chunks: list[dict[str, Any]] = []
    cuts = [0, *(pieces or []), len(data)]
    for start, end in itertools.pairwise(cuts):
        chunks += translator.feed(data[start:end])
    chunks += translator.finish()
    return chunks, translator


@pytest.mark.parametrize("path", cases("stream"), ids=lambda p: p.stem)
def test_stream_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    chunks, translator = run_stream(case["sse"].encode())
    assert len({c["id"] for c in chunks}) == 1  # one id for the whole stream (One API made one per chunk)
    usage = translator.usage
    check_golden(path, case, {"chunks": chunks,
                              "usage": None if usage is None else [usage.prompt_tokens, usage.completion_tokens]})


def test_stream_split_anywhere_gives_the_same_chunks() -> None:
    data = json.loads((GOLDEN / "stream_text.json").read_text())["sse"].encode()
    whole = normalise(run_stream(data)[0])
    for cut in range(1, len(data)):
        assert normalise(run_stream(data, [cut])[0]) == whole, cut
    bytewise, translator = run_stream(data, list(range(1, len(data))))
    assert normalise(bytewise) == whole and translator.usage == gemini.Usage(7, 3)


def test_stream_lf_only_and_multiline_data_and_json_array() -> None:
    event = {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
             "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}}
    text = json.dumps(event, indent=1)
    lf = "".join(f"data: {line}\n" for line in text.splitlines()) + "\n"
    array = json.dumps([event]).encode()  # streamGenerateContent without alt=sse
    for data in (lf.encode(), array):
        chunks, translator = run_stream(data)
        assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": "hi"}, {}]
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and translator.usage == gemini.Usage(1, 1)


def test_stream_errors_and_blocks_raise() -> None:
    error = b'data: {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}\r\n\r\n'
    with pytest.raises(UpstreamError) as overloaded:
        run_stream(error)
    assert overloaded.value.http_status == 503 and overloaded.value.error["type"] == "UNAVAILABLE"
    blocked = b'data: {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}\r\n\r\n'
    with pytest.raises(UpstreamError) as refused:
        run_stream(blocked)
    assert refused.value.http_status == 400 and refused.value.error["code"] == "PROHIBITED_CONTENT"


def test_prompt_only_usage_counts_only_when_the_stream_ends_cleanly() -> None:
    event = b'data: {"candidates": [{"content": {"parts": [{"text": "partial"}]}}], ' \
            b'"usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}\r\n\r\n'
    translator = gemini.ADAPTOR.stream_translator(request({"model": "gemini-2.0-flash", "messages": []}))
    translator.feed(event)
    assert translator.usage is None  # a stream that breaks here is billed from what was delivered
    translator.finish()
    assert translator.usage == gemini.Usage(7, 0)


def test_an_empty_stream_gives_no_chunks() -> None:
    chunks, translator = run_stream(b": keep-alive\r\n\r\n")  # the relay reports the empty answer
    assert chunks == [] and translator.usage is None


# -- building: versions, config, tool choice, schemas ------------------------------------------------

@pytest.mark.parametrize(("model", "needs"), [
    ("gemini-pro", False), ("gemini-1.0-pro", False), ("gemini-pro-vision", False), ("text-embedding-004", False),
    ("gemini-1.5-flash", True), ("gemini-1.5-pro-002", True), ("gemini-2.0-flash", True), ("gemini-2.5-pro", True),
    ("gemini-3-pro-preview", True), ("gemini-exp-1206", True), ("gemini-embedding-001", True), ("gemma-3-27b-it", True),
])
def test_model_needs_v1beta(model: str, needs: bool) -> None:
    assert model_needs_v1beta(model) is needs


@pytest.mark.parametrize(("configured", "config", "body", "version"), [
    ("v1", {}, {}, "v1"),
    ("v1beta", {}, {}, "v1beta"),
    ("v1", {"api_version": "v1beta"}, {}, "v1beta"),
    ("v1", {}, {"tools": [{"type": "function", "function": {"name": "f"}}]}, "v1beta"),
    ("v1", {}, {"response_format": {"type": "json_object"}}, "v1beta"),
    ("v1", {}, {"response_format": {"type": "text"}}, "v1"),
    ("v1", {"api_version": "v1"}, {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]},
     "v1"),
])
def test_version_choice(configured: str, config: dict[str, Any], body: dict[str, Any], version: str) -> None:
    data = {"model": "gemini-pro", "messages": [{"role": "user", "content": "hi"}], **body}
    call = make_adaptor(configured, "OFF").build(channel(config), request(data))
    assert call.url == f"https://gl.example/{version}/models/gemini-pro:generateContent"
    sent = json.loads(call.body)
    assert "systemInstruction" not in sent or version == "v1beta"
    assert {s["threshold"] for s in sent["safetySettings"]} == {"OFF"} and len(sent["safetySettings"]) == 5


def test_default_base_url_and_module_adaptor() -> None:
    call = gemini.ADAPTOR.build(channel(base=""), request({"model": "gemini-pro", "messages": [
        {"role": "user", "content": "hi"}]}))
    assert call.url == "https://generativelanguage.googleapis.com/v1/models/gemini-pro:generateContent"
    assert gemini.ADAPTOR.version == "v1" and gemini.ADAPTOR.safety == "BLOCK_NONE"
    assert gemini.ADAPTOR.inline_images is True and gemini.ADAPTOR.passthrough is False


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"mode": "AUTO"}), ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ({"name": "f"}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    (None, None),
])
def test_tool_choice(choice: Any, expected: dict[str, Any] | None) -> None:
    data: dict[str, Any] = {"model": "gemini-2.0-flash", "messages": [{"role": "user", "content": "x"}],
                            "tools": [{"type": "function", "function": {"name": "f", "parameters": {
                                "type": "object", "properties": {"a": {"type": "string"}}}}}]}
    if choice is not None:
        data["tool_choice"] = choice
    sent = json.loads(gemini.ADAPTOR.build(channel(), request(data)).body)
    assert sent.get("toolConfig") == (None if expected is None else {"functionCallingConfig": expected})


def test_generation_config_ignores_what_gemini_lacks() -> None:
    loose = {"type": "json_schema", "json_schema": {"name": "any", "schema": {"type": "object",
                                                                              "additionalProperties": True}}}
    assert generation_config({"response_format": loose}) == {"responseMimeType": "application/json"}
    assert generation_config({"temperature": True, "max_tokens": 0, "stop": [None, ""], "n": 0,
                              "presence_penalty": 1, "logit_bias": {"1": 2}, "user": "u"}) == {}
    assert generation_config({"max_tokens": 10, "max_completion_tokens": 20}) == {"maxOutputTokens": 20}


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False, "strict": True,
      "$schema": "x", "title": "T"}, {"type": "object", "properties": {"a": {"type": "string"}}}),
    ({"type": ["integer", "null"], "minimum": 0}, {"type": "integer", "nullable": True, "minimum": 0}),
    ({"const": "x"}, {"enum": ["x"]}),
    ({"type": "integer", "enum": [1, 2], "description": "d"}, {"type": "integer", "description": "d (one of: 1, 2)"}),
    ({"type": "string", "format": "uri"}, {"type": "string"}),
    ({"type": "number", "format": "double"}, {"type": "number", "format": "double"}),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, {"anyOf": [{"type": "string"}, {"type": "integer"}]}),
    ({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}, {"properties": {"b": {"type": "number"}}}],
      "required": ["a", "b"]},
     {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
    ({"$ref": "#/definitions/Self", "definitions": {"Self": {"type": "object", "properties": {
        "child": {"$ref": "#/definitions/Self"}}}}}, None),  # recursive: cut off, never loops
    ("not a schema", {}),
])
def test_clean_schema(schema: Any, expected: dict[str, Any] | None) -> None:
    cleaned = clean_schema(schema)
    if expected is None:
        assert cleaned["type"] == "object" and "$ref" not in json.dumps(cleaned)
    else:
        assert cleaned == expected


def test_tool_without_properties_has_no_parameters() -> None:
    data = {"model": "gemini-2.0-flash", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "now", "parameters": {"type": "object",
                                                                                       "properties": {}}}},
                      {"type": "function", "function": {"name": "bare"}}]}
    sent = json.loads(gemini.ADAPTOR.build(channel(), request(data)).body)
    assert sent["tools"] == [{"functionDeclarations": [{"name": "now"}, {"name": "bare"}]}]


def test_only_system_messages_become_a_user_turn() -> None:
    sent = json.loads(gemini.ADAPTOR.build(channel(), request({"model": "gemini-2.0-flash", "messages": [
        {"role": "system", "content": "Say hi"}]})).body)
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "Say hi"}]}] and "systemInstruction" not in sent


def test_unfetched_image_and_unsupported_modes_are_refused() -> None:
    data = {"model": "gemini-2.0-flash", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}]}]}
    with pytest.raises(ValueError, match="not fetched"):
        gemini.ADAPTOR.build(channel(), request(data))
    with pytest.raises(ValueError, match="token arrays"):
        gemini.ADAPTOR.build(channel(), request({"model": "text-embedding-004", "input": [[1, 2]]},
                                                mode="embeddings"))
    with pytest.raises(ValueError, match="chat and embeddings"):
        gemini.ADAPTOR.build(channel(), request({"model": "gemini-pro", "prompt": "x"}, mode="completions"))


def test_embeddings_url_by_model_and_base64_round_trip() -> None:
    call = gemini.ADAPTOR.build(channel(), request({"model": "gemini-embedding-001", "input": "x"},
                                                   mode="embeddings"))
    assert call.url == "https://gl.example/v1beta/models/gemini-embedding-001:batchEmbedContents"
    relay_request = request({"model": "text-embedding-004", "input": ["a", "b"], "encoding_format": "base64"},
                            mode="embeddings")
    answer, usage = gemini.ADAPTOR.parse_response(relay_request, json.dumps(
        {"embeddings": [{"values": [0.5, 1.5]}, {"values": [-2.0, 0.25]}]}).encode())
    decoded = [list(struct.unpack("<2f", base64.b64decode(d["embedding"]))) for d in answer["data"]]
    assert decoded == [[0.5, 1.5], [-2.0, 0.25]] and [d["index"] for d in answer["data"]] == [0, 1]
    assert usage is None


# -- answers and errors ------------------------------------------------------------------------------

def test_no_candidates_is_an_error() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}
    with pytest.raises(UpstreamError) as refused:
        gemini.ADAPTOR.parse_response(request({"model": "gemini-pro"}), json.dumps(blocked).encode())
    assert refused.value.http_status == 400 and "SAFETY" in refused.value.message
    assert not is_retryable(refused.value.http_status)
    with pytest.raises(UpstreamError) as empty:
        gemini.ADAPTOR.parse_response(request({"model": "gemini-pro"}), b"{}")
    assert empty.value.http_status == 500 and empty.value.message == "No candidates returned"
    with pytest.raises(ValueError):
        gemini.ADAPTOR.parse_response(request({"model": "gemini-pro"}), b"<html>")


def google(code: int, message: str, status: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status, "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "X"}]}}).encode()


@pytest.mark.parametrize(("status", "body", "error", "retry", "disable"), [
    (400, google(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT"),
     {"message": "API key not valid. Please pass a valid API key.", "type": "INVALID_ARGUMENT", "code": "400",
      "param": ""}, False, True),
    (429, google(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED"),
     {"message": "Resource has been exhausted (e.g. check quota).", "type": "RESOURCE_EXHAUSTED", "code": "429",
      "param": ""}, True, False),
    (403, google(403, "Permission denied: Consumer 'api_key:x' has been suspended.", "PERMISSION_DENIED"),
     {"message": "Permission denied: Consumer 'api_key:x' has been suspended.", "type": "PERMISSION_DENIED",
      "code": "403", "param": ""}, True, True),
    (503, b'[{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]',
     {"message": "The model is overloaded.", "type": "UNAVAILABLE", "code": "503", "param": ""}, True, False),
    (502, b"<html>Bad Gateway</html>",
     {"message": "bad response status code 502", "type": "upstream_error", "code": "bad_response_status_code",
      "param": "502"}, True, False),
])
def test_errors(status: int, body: bytes, error: dict[str, Any], retry: bool, disable: bool) -> None:
    exc = gemini.ADAPTOR.error(status, body)
    assert isinstance(exc, UpstreamError)
    assert exc.http_status == status and exc.to_openai() == {"error": error}
    assert is_retryable(exc.http_status) is retry
    assert (should_disable(exc.http_status, exc) is not None) is disable


def test_error_inside_a_200_body() -> None:
    with pytest.raises(UpstreamError) as exc:
        gemini.ADAPTOR.parse_response(request({"model": "gemini-pro"}),
                                      google(429, "Quota exceeded", "RESOURCE_EXHAUSTED"))
    assert exc.value.http_status == 429 and exc.value.code == "429"
