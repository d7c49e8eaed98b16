"""The OpenAI-protocol adaptors (oneapi/proxy/adaptors/openai.py): URL rules, headers, and when the client's
bytes are forwarded untouched versus re-serialised (SPEC 1.4, 6.0-6.2, 11). Pure: data in, data out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.base import Mode, RelayRequest
from oneapi.proxy.adaptors.openai import (
    AZURE_OPENAI,
    OPENAI,
    azure_api_version,
    azure_deployment,
    base_url,
)
from oneapi.services import catalog
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel

# Unusual spacing and key order: a passthrough must keep these bytes exactly.
CHAT_BYTES = b'{ "messages" : [{"content":"hi","role":"user"}],\n "model":"gpt-4o-mini", "temperature":0.5 }'


def channel(type: int = 1, base: str = "", **row: Any) -> RouteChannel:
    return route_channel({"id": 7, "type": type, "name": "c", "key": "sk-upstream", "base_url": base,
                                  "status": 1, "models": "gpt-4o-mini", "group": "default", **row})


def request(body: bytes = CHAT_BYTES, *, mode: Mode = "chat", path: str = "/v1/chat/completions", query: str = "",
            model: str = "gpt-4o-mini", upstream_model: str | None = None, stream: bool = False,
            include_usage: bool = False, system_prompt: str = "", content_type: str = "application/json",
            accept: str = "", parsed: Any = ...) -> RelayRequest:
    data = json.loads(body) if parsed is ... else parsed
    return RelayRequest(mode=mode, path=path, query=query, body=body, json=data, model=model,
                        upstream_model=upstream_model or model, stream=stream, content_type=content_type,
                        accept=accept, include_usage=include_usage, system_prompt=system_prompt)


def stream_bytes(**extra: Any) -> bytes:
    return json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}],
                       **extra}).encode()


# -- which adaptor -------------------------------------------------------------------------------

@pytest.mark.parametrize(("type_id", "expected"), [
    (1, OPENAI), (8, OPENAI), (19, OPENAI), (20, OPENAI), (25, OPENAI), (36, OPENAI), (44, OPENAI), (50, OPENAI),
    (3, AZURE_OPENAI), (0, None),
])
def test_adaptor_for(type_id: int, expected: object) -> None:
    assert adaptor_for(type_id) is expected


@pytest.mark.parametrize("type_id", [11, 14, 15, 16, 17, 18, 23, 24, 33, 34, 35, 37, 38, 42, 43, 46])
def test_native_protocols_are_never_spoken_as_openai(type_id: int) -> None:
    assert adaptor_for(type_id) not in (OPENAI, AZURE_OPENAI)


# -- URLs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("type_id", "default"), [
    (1, "https://api.openai.com"), (19, "https://ai.360.cn"), (20, "https://openrouter.ai/api"),
    (29, "https://api.groq.com/openai"), (36, "https://api.deepseek.com"), (25, "https://api.moonshot.cn"),
])
def test_base_url_defaults_to_the_catalogue(type_id: int, default: str) -> None:
    kind = catalog.channel_type(type_id)
    assert kind is not None and kind.default_base_url.rstrip("/") == default
    assert base_url(channel(type_id)) == default
    assert OPENAI.build(channel(type_id), request()).url == default + "/v1/chat/completions"


def test_channel_base_url_wins_and_loses_its_trailing_slash() -> None:
    assert base_url(channel(1, "http://127.0.0.1:9/")) == "http://127.0.0.1:9"
    assert OPENAI.build(channel(1, "http://127.0.0.1:9/"), request()).url == \
        "http://127.0.0.1:9/v1/chat/completions"
    assert OPENAI.build(channel(36, "http://proxy.local/ds"), request()).url == \
        "http://proxy.local/ds/v1/chat/completions"


@pytest.mark.parametrize(("type_id", "base", "path", "query", "url"), [
    (1, "https://api.openai.com", "/v1/embeddings", "", "https://api.openai.com/v1/embeddings"),
    (1, "http://h", "/v1/chat/completions", "a=1&b=2", "http://h/v1/chat/completions?a=1&b=2"),
    (8, "http://h/custom", "/v1/completions", "", "http://h/custom/v1/completions"),
    # OpenAI-Compatible (50): the base carries the version path; /v1 is dropped
    (50, "http://h/api/v3", "/v1/chat/completions", "", "http://h/api/v3/chat/completions"),
    (50, "http://h/compatible-mode/v1", "/v1/embeddings", "x=y", "http://h/compatible-mode/v1/embeddings?x=y"),
    # a Cloudflare AI gateway URL drops /v1 whatever the type
    (1, "https://gateway.ai.cloudflare.com/v1/acct/gw/openai", "/v1/chat/completions", "",
     "https://gateway.ai.cloudflare.com/v1/acct/gw/openai/chat/completions"),
])
def test_url_rules(type_id: int, base: str, path: str, query: str, url: str) -> None:
    call = OPENAI.build(channel(type_id, base), request(path=path, query=query))
    assert call.url == url
    assert call.method == "POST"


# -- headers -------------------------------------------------------------------------------------

def test_openai_headers() -> None:
    call = OPENAI.build(channel(1, "http://h"), request(content_type="application/json; charset=utf-8",
                                                          accept="application/json"))
    assert call.headers == {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json",
                            "Authorization": "Bearer sk-upstream"}


def test_accept_defaults_follow_streaming() -> None:
    assert OPENAI.build(channel(1, "http://h"), request(stream_bytes(), stream=True,
                                                          include_usage=True)).headers["Accept"] == \
        "text/event-stream"
    assert OPENAI.build(channel(1, "http://h"), request()).headers["Accept"] == "application/json"
    # the client's own Accept is copied even when streaming
    assert OPENAI.build(channel(1, "http://h"), request(stream_bytes(), stream=True, accept="*/*")) \
        .headers["Accept"] == "*/*"


def test_multipart_content_type_is_kept() -> None:
    ct = "multipart/form-data; boundary=abc"
    call = OPENAI.build(channel(1, "http://h"), request(b"--abc--\r\n", mode="transcriptions",
                                                          path="/v1/audio/transcriptions", content_type=ct,
                                                          parsed=None))
    assert call.headers["Content-Type"] == ct and call.body == b"--abc--\r\n"


def test_openrouter_adds_its_attribution_headers() -> None:
    call = OPENAI.build(channel(20), request())
    assert call.url == "https://openrouter.ai/api/v1/chat/completions"
    assert call.headers["HTTP-Referer"] == "https://github.com/songquanpeng/one-api"
    assert call.headers["X-Title"] == "One API"
    assert call.headers["Authorization"] == "Bearer sk-upstream"
    for other in (1, 8, 36, 50):
        headers = OPENAI.build(channel(other, "http://h"), request()).headers
        assert "HTTP-Referer" not in headers and "X-Title" not in headers


# -- body: passthrough or rewrite ----------------------------------------------------------------

def test_untouched_request_is_forwarded_byte_for_byte() -> None:
    req = request()
    call = OPENAI.build(channel(1, "http://h"), req)
    assert call.body is req.body  # the very bytes, not a re-serialisation
    assert call.stream_usage_requested is False and call.drop_empty_chunks is False


def test_stream_where_the_client_asked_for_usage_is_forwarded_untouched() -> None:
    raw = stream_bytes(stream_options={"include_usage": True})
    call = OPENAI.build(channel(1, "http://h"), request(raw, stream=True, include_usage=True))
    assert call.body is raw and call.stream_usage_requested is False


@pytest.mark.parametrize("options", [None, {}, {"include_usage": False}, {"other": 1}])
def test_stream_without_usage_gets_include_usage_added(options: Any) -> None:
    extra = {} if options is None else {"stream_options": options}
    raw = stream_bytes(**extra)
    call = OPENAI.build(channel(1, "http://h"), request(raw, stream=True))
    sent = json.loads(call.body)
    assert call.stream_usage_requested is True
    expected_options = {**(options or {}), "include_usage": True}
    assert sent == {**json.loads(raw), "stream_options": expected_options}


def test_completions_stream_gets_include_usage_too() -> None:
    raw = json.dumps({"model": "gpt-3.5-turbo-instruct", "prompt": "x", "stream": True}).encode()
    call = OPENAI.build(channel(1, "http://h"), request(raw, mode="completions", path="/v1/completions",
                                                          model="gpt-3.5-turbo-instruct", stream=True))
    assert json.loads(call.body)["stream_options"] == {"include_usage": True}


def test_model_mapping_rewrites_only_the_model() -> None:
    call = OPENAI.build(channel(1, "http://h"), request(upstream_model="gpt-4o"))
    assert call.body != CHAT_BYTES
    assert json.loads(call.body) == {**json.loads(CHAT_BYTES), "model": "gpt-4o"}
    assert call.stream_usage_requested is False


def test_mapped_multipart_body_is_left_to_the_relay() -> None:
    raw = b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--b--\r\n"
    call = OPENAI.build(channel(1, "http://h"), request(raw, mode="transcriptions", path="/v1/audio/transcriptions",
                                                          model="whisper-1", upstream_model="whisper-2",
                                                          content_type="multipart/form-data; boundary=b",
                                                          parsed=None))
    assert call.body is raw


@pytest.mark.parametrize(("messages", "expected"), [
    ([{"role": "user", "content": "hi"}],
     [{"role": "system", "content": "BE BRIEF"}, {"role": "user", "content": "hi"}]),
    ([{"role": "system", "content": "old", "name": "n"}, {"role": "user", "content": "hi"}],
     [{"role": "system", "content": "BE BRIEF", "name": "n"}, {"role": "user", "content": "hi"}]),
    ([{"role": "assistant", "content": "a"}, {"role": "system", "content": "later"}],
     [{"role": "system", "content": "BE BRIEF"}, {"role": "assistant", "content": "a"},
      {"role": "system", "content": "later"}]),
])
def test_system_prompt_replaces_or_prepends(messages: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    raw = json.dumps({"model": "gpt-4o-mini", "messages": messages}).encode()
    req = request(raw, system_prompt="BE BRIEF")
    call = OPENAI.build(channel(1, "http://h"), req)
    assert json.loads(call.body)["messages"] == expected
    assert req.json is not None and req.json["messages"] == messages  # the parsed request is not mutated


def test_rewritten_body_keeps_unicode_as_utf8() -> None:
    raw = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "你好"}]}).encode()
    call = OPENAI.build(channel(1, "http://h"), request(raw, upstream_model="gpt-4o"))
    assert "你好".encode() in call.body


def test_engines_form_goes_to_embeddings_with_the_model_in_the_body() -> None:
    raw = b'{"input": "hello"}'
    parsed = {"input": "hello", "model": "text-embedding-ada-002"}  # parse_text_body took it from the path
    req = request(raw, mode="embeddings", path="/v1/engines/text-embedding-ada-002/embeddings",
                  model="text-embedding-ada-002", parsed=parsed)
    call = OPENAI.build(channel(1, "http://h"), req)
    assert call.url == "http://h/v1/embeddings"
    assert json.loads(call.body) == parsed
    mapped = OPENAI.build(channel(1, "http://h"), request(raw, mode="embeddings", parsed=parsed,
                                                            path="/v1/engines/text-embedding-ada-002/embeddings",
                                                            model="text-embedding-ada-002",
                                                            upstream_model="text-embedding-3-small"))
    assert json.loads(mapped.body)["model"] == "text-embedding-3-small"
    az = AZURE_OPENAI.build(azure(other="2024-06-01"), req)
    assert az.url == ("https://res.openai.azure.com/openai/deployments/text-embedding-ada-002/embeddings"
                      "?api-version=2024-06-01")


def test_embeddings_never_get_stream_options() -> None:
    raw = b'{"model":"text-embedding-3-small","input":"x"}'
    call = OPENAI.build(channel(1, "http://h"), request(raw, mode="embeddings", path="/v1/embeddings",
                                                          model="text-embedding-3-small"))
    assert call.body is raw


# -- Azure ---------------------------------------------------------------------------------------

def azure(base: str = "https://res.openai.azure.com", **row: Any) -> RouteChannel:
    return channel(3, base, **row)


@pytest.mark.parametrize(("model", "deployment"), [
    ("gpt-3.5-turbo", "gpt-35-turbo"), ("gpt-4o", "gpt-4o"), ("gpt-4.1.2", "gpt-412"), ("gpt-4o-mini", "gpt-4o-mini"),
])
def test_azure_deployment(model: str, deployment: str) -> None:
    assert azure_deployment(model) == deployment


@pytest.mark.parametrize(("row", "version"), [
    ({"config": '{"api_version": "2024-06-01"}'}, "2024-06-01"),
    ({"config": '{"api_version": "2024-06-01"}', "other": "2023-05-15"}, "2024-06-01"),
    ({"other": "2023-05-15"}, "2023-05-15"),  # the legacy field
    ({}, "2024-03-01-preview"),  # the UI default
    ({"config": "not json"}, "2024-03-01-preview"),
])
def test_azure_api_version(row: dict[str, Any], version: str) -> None:
    assert azure_api_version(azure(**row)) == version


@pytest.mark.parametrize(("path", "model", "url"), [
    ("/v1/chat/completions", "gpt-3.5-turbo",
     "https://res.openai.azure.com/openai/deployments/gpt-35-turbo/chat/completions?api-version=2024-06-01"),
    ("/v1/completions", "gpt-3.5-turbo-instruct",
     "https://res.openai.azure.com/openai/deployments/gpt-35-turbo-instruct/completions?api-version=2024-06-01"),
    ("/v1/embeddings", "text-embedding-3-small",
     "https://res.openai.azure.com/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-06-01"),
    ("/v1/images/generations", "dall-e-3",
     "https://res.openai.azure.com/openai/deployments/dall-e-3/images/generations?api-version=2024-06-01"),
    ("/v1/audio/transcriptions", "whisper-1",
     "https://res.openai.azure.com/openai/deployments/whisper-1/audio/transcriptions?api-version=2024-06-01"),
    ("/v1/audio/speech", "tts-1",
     "https://res.openai.azure.com/openai/deployments/tts-1/audio/speech?api-version=2024-06-01"),
])
def test_azure_urls(path: str, model: str, url: str) -> None:
    raw = json.dumps({"model": model, "messages": [{"role": "user", "content": "x"}]}).encode()
    call = AZURE_OPENAI.build(azure(config='{"api_version": "2024-06-01"}'),
                              request(raw, path=path, model=model))
    assert call.url == url


def test_azure_uses_the_mapped_model_for_the_deployment() -> None:
    call = AZURE_OPENAI.build(azure(config='{"api_version": "2024-06-01"}'),
                              request(model="gpt-4o-mini", upstream_model="gpt-4.1"))
    assert "/openai/deployments/gpt-41/chat/completions?" in call.url
    assert json.loads(call.body)["model"] == "gpt-4.1"


def test_azure_cloudflare_gateway_drops_openai_deployments() -> None:
    base = "https://gateway.ai.cloudflare.com/v1/acct/gw/azure-openai/res"
    call = AZURE_OPENAI.build(azure(base, other="2024-06-01"), request(model="gpt-3.5-turbo"))
    assert call.url == base + "/gpt-35-turbo/chat/completions?api-version=2024-06-01"


def test_azure_headers_use_api_key_not_authorization() -> None:
    call = AZURE_OPENAI.build(azure(), request())
    assert call.headers["api-key"] == "sk-upstream"
    assert "Authorization" not in call.headers
    assert call.drop_empty_chunks is True  # Azure's prompt-filter chunks never reach the client


@pytest.mark.parametrize(("version", "asks_usage"), [
    ("2024-06-01", False), ("2024-03-01-preview", False), ("2023-05-15", False), ("2024-08-01-preview", False),
    ("2024-09-01-preview", True), ("2024-10-21", True), ("2025-01-01-preview", True),
])
def test_azure_stream_options_only_for_recent_api_versions(version: str, asks_usage: bool) -> None:
    raw = stream_bytes()
    call = AZURE_OPENAI.build(azure(other=version), request(raw, stream=True))
    assert call.stream_usage_requested is asks_usage
    if asks_usage:
        assert json.loads(call.body)["stream_options"] == {"include_usage": True}
    else:
        assert call.body is raw


def test_azure_passthrough_when_nothing_changes() -> None:
    req = request()
    assert AZURE_OPENAI.build(azure(), req).body is req.body
