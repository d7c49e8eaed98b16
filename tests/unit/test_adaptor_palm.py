"""The PaLM 2 adaptor (oneapi/proxy/adaptors/palm.py): generateMessage requests, answers, the pseudo-stream and
errors (SPEC 6.4, with One API's topK-from-max_tokens quirk fixed). Pure: data in, data out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oneapi.proxy.adaptors import adaptor_for, palm
from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.errors import UpstreamError
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel
from tests.openai_schema import assert_valid


def channel(base: str = "https://palm.example") -> RouteChannel:
    return route_channel({"id": 4, "type": 11, "name": "p", "key": "AIza-palm", "base_url": base,
                                  "status": 1, "models": "PaLM-2", "group": "default"})


def request(body: dict[str, Any], *, upstream: str = "PaLM-2", system_prompt: str = "") -> RelayRequest:
    return RelayRequest(mode="chat", path="/v1/chat/completions", query="", body=json.dumps(body).encode(),
                        json=body, model="PaLM-2", upstream_model=upstream, stream=bool(body.get("stream")),
                        content_type="application/json", accept="", system_prompt=system_prompt)


MESSAGES = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "How are you?"}]


def test_registered_for_type_11() -> None:
    assert adaptor_for(11) is palm.ADAPTOR and palm.ADAPTOR.passthrough is False


def test_build() -> None:
    call = palm.ADAPTOR.build(channel(), request({"model": "PaLM-2", "messages": MESSAGES, "temperature": 0.4,
                                                  "top_p": 0.8, "n": 2, "max_tokens": 500}))
    assert call.url == "https://palm.example/v1beta2/models/chat-bison-001:generateMessage"
    assert call.headers["x-goog-api-key"] == "AIza-palm" and "Authorization" not in call.headers
    assert json.loads(call.body) == {
        "prompt": {"context": "Be kind.", "messages": [{"author": "0", "content": "Hi\nthere"},
                                                       {"author": "1", "content": "Hello!"},
                                                       {"author": "0", "content": "How are you?"}]},
        "temperature": 0.4, "topP": 0.8, "candidateCount": 2}  # no topK: max_tokens is not top_k


def test_build_top_k_system_prompt_and_model() -> None:
    call = palm.ADAPTOR.build(channel(base=""), request({"messages": MESSAGES, "top_k": 40},
                                                        upstream="chat-bison-002", system_prompt="Channel."))
    assert call.url == "https://generativelanguage.googleapis.com/v1beta2/models/chat-bison-002:generateMessage"
    body = json.loads(call.body)
    assert body["topK"] == 40 and body["prompt"]["context"] == "Channel."
    with pytest.raises(ValueError, match="chat only"):
        palm.ADAPTOR.build(channel(), RelayRequest(mode="embeddings", path="/v1/embeddings", query="", body=b"{}",
                                                   json={}, model="m", upstream_model="m", stream=False,
                                                   content_type="application/json", accept=""))


def test_parse_response() -> None:
    body = json.dumps({"candidates": [{"author": "1", "content": "One"}, {"author": "1", "content": "Two"}],
                       "messages": [{"author": "0", "content": "Hi"}]}).encode()
    answer, usage = palm.ADAPTOR.parse_response(request({}), body)
    assert usage is None  # PaLM reports none: the relay counts
    assert answer["object"] == "chat.completion" and answer["model"] == "PaLM-2"
    assert answer["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "One", "refusal": None}, "logprobs": None,
         "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": "Two", "refusal": None}, "logprobs": None,
         "finish_reason": "stop"}]
    assert_valid(answer)


def test_filtered_and_empty_answers_are_errors() -> None:
    with pytest.raises(UpstreamError) as filtered:
        palm.ADAPTOR.parse_response(request({}), b'{"filters": [{"reason": "OTHER"}], "messages": []}')
    assert filtered.value.http_status == 400 and filtered.value.code == "OTHER"
    with pytest.raises(UpstreamError) as empty:
        palm.ADAPTOR.parse_response(request({}), b"{}")
    assert empty.value.http_status == 500
    with pytest.raises(UpstreamError) as inside:
        palm.ADAPTOR.parse_response(request({}), b'{"error": {"code": 429, "message": "Quota", "status": '
                                                 b'"RESOURCE_EXHAUSTED"}}')
    assert inside.value.http_status == 429 and inside.value.error["type"] == "RESOURCE_EXHAUSTED"


def test_error_mapping() -> None:
    exc = palm.ADAPTOR.error(400, b'{"error": {"code": 400, "message": "API key not valid. Please pass a valid API '
                                  b'key.", "status": "INVALID_ARGUMENT"}}')
    assert isinstance(exc, UpstreamError) and exc.http_status == 400
    assert exc.to_openai() == {"error": {"message": "API key not valid. Please pass a valid API key.",
                                         "type": "INVALID_ARGUMENT", "param": "", "code": "400"}}


def test_pseudo_stream_buffers_then_emits() -> None:
    translator = palm.ADAPTOR.stream_translator(request({"stream": True}))
    body = json.dumps({"candidates": [{"author": "1", "content": "Whole answer"}]}).encode()
    assert translator.feed(body[:10]) == [] and translator.feed(body[10:]) == []
    chunks = translator.finish()
    assert len({c["id"] for c in chunks}) == 1 and translator.usage is None
    assert [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks] == [
        ({"role": "assistant", "content": "Whole answer"}, None), ({}, "stop")]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "PaLM-2" for c in chunks)


def test_pseudo_stream_errors() -> None:
    translator = palm.ADAPTOR.stream_translator(request({"stream": True}))
    translator.feed(b'{"filters": [{"reason": "SAFETY"}]}')
    with pytest.raises(UpstreamError, match="SAFETY"):
        translator.finish()
    broken = palm.ADAPTOR.stream_translator(request({"stream": True}))
    broken.feed(b"<html>")
    with pytest.raises(UpstreamError, match="not JSON"):
        broken.finish()
