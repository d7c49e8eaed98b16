"""Request-body checks before any channel is chosen: ``parse_text_body`` (SPEC 1.3's validators) and the
image / speech / multipart parsers of ``oneapi/proxy/media.py``. Pure, table-style."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oneapi.proxy import media
from oneapi.proxy.adaptors.base import Mode
from oneapi.proxy.errors import RelayError
from oneapi.proxy.relay import parse_text_body

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def body(**changes: Any) -> bytes:
    data = {**CHAT, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def refused(raw: bytes, mode: Mode = "chat", path_model: str = "") -> RelayError:
    with pytest.raises(RelayError) as info:
        parse_text_body(raw, mode, path_model)
    err = info.value
    assert err.http_status == 400
    assert err.code == "invalid_text_request"
    assert err.type == "one_api_error"
    return err


@pytest.mark.parametrize(("raw", "mode", "says"), [
    # the body itself
    (b"", "chat", "JSON"),
    (b"   ", "chat", "JSON"),
    (b"not json", "chat", "JSON"),
    (b'{"model": "gpt-4o-mini",', "chat", "JSON"),
    (b"\xff\xfe{}", "chat", "JSON"),
    (b"[1, 2]", "chat", "object"),
    (b'"a string"', "chat", "object"),
    (b"null", "chat", "object"),
    (b"42", "chat", "object"),
    # model
    (body(model=...), "chat", "model"),
    (body(model=None), "chat", "model"),
    (body(model=""), "chat", "model"),
    (body(model="   "), "chat", "model"),
    (body(model=123), "chat", "model"),
    (body(model=["gpt-4o"]), "chat", "model"),
    # stream
    (body(stream="yes"), "chat", "stream"),
    (body(stream=1), "chat", "stream"),
    (body(stream="true"), "chat", "stream"),
    (json.dumps({"model": "m", "input": "x", "stream": True}).encode(), "embeddings", "stream"),
    (json.dumps({"model": "m", "input": "x", "stream": True}).encode(), "moderations", "stream"),
    # messages
    (body(messages=...), "chat", "messages"),
    (body(messages=None), "chat", "messages"),
    (body(messages=[]), "chat", "messages"),
    (body(messages="hello"), "chat", "messages"),
    (body(messages={"role": "user", "content": "hi"}), "chat", "messages"),
    (body(messages=["hi"]), "chat", "messages"),
    (body(messages=[{"role": "user", "content": "a"}, 3]), "chat", "messages"),
    (body(messages=[None]), "chat", "messages"),
    (body(messages=[{"content": "no role"}]), "chat", "role"),
    (body(messages=[{"role": 1, "content": "x"}]), "chat", "role"),
    # max_tokens / max_completion_tokens: 0 .. 2^30
    (body(max_tokens=-1), "chat", "max_tokens"),
    (body(max_tokens=2**30 + 1), "chat", "max_tokens"),
    (body(max_tokens=2**31), "chat", "max_tokens"),
    (body(max_tokens=2**63), "chat", "max_tokens"),
    (body(max_tokens="10"), "chat", "max_tokens"),
    (body(max_tokens=1.5), "chat", "max_tokens"),
    (body(max_tokens=True), "chat", "max_tokens"),
    (body(max_completion_tokens=-5), "chat", "max_completion_tokens"),
    (body(max_completion_tokens=2**31), "chat", "max_completion_tokens"),
    (body(max_completion_tokens="many"), "chat", "max_completion_tokens"),
    # n: 1 .. 128
    (body(n=0), "chat", "n"),
    (body(n=-1), "chat", "n"),
    (body(n=129), "chat", "n"),
    (body(n=True), "chat", "n"),
    (body(n="2"), "chat", "n"),
    (body(n=2.0), "chat", "n"),
    # the field each mode requires
    (json.dumps({"model": "gpt-3.5-turbo-instruct"}).encode(), "completions", "prompt"),
    (json.dumps({"model": "gpt-3.5-turbo-instruct", "prompt": ""}).encode(), "completions", "prompt"),
    (json.dumps({"model": "gpt-3.5-turbo-instruct", "prompt": []}).encode(), "completions", "prompt"),
    (json.dumps({"model": "text-embedding-3-small"}).encode(), "embeddings", "input"),
    (json.dumps({"model": "text-embedding-3-small", "input": ""}).encode(), "embeddings", "input"),
    (json.dumps({"model": "text-moderation-latest"}).encode(), "moderations", "input"),
    (json.dumps({"model": "text-davinci-edit-001", "input": "x"}).encode(), "edits", "instruction"),
    (json.dumps({"prompt": "x"}).encode(), "completions", "model"),
])
def test_refused(raw: bytes, mode: Mode, says: str) -> None:
    assert says in refused(raw, mode).message


@pytest.mark.parametrize("changes", [
    {"max_tokens": 0}, {"max_tokens": 2**30}, {"max_tokens": None}, {"max_completion_tokens": 2**30},
    {"n": 1}, {"n": 128}, {"n": None}, {"stream": True}, {"stream": False},
    {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "x"}]}]},
    {"temperature": 0.2, "tools": [{"type": "function", "function": {"name": "f"}}], "unknown_field": {"a": 1}},
])
def test_accepted_chat(changes: dict[str, Any]) -> None:
    data = parse_text_body(body(**changes), "chat")
    assert data["model"] == "gpt-4o-mini"
    for key, value in changes.items():
        assert data[key] == value  # nothing is dropped or rewritten


def test_stream_null_means_not_streaming() -> None:
    assert parse_text_body(body(stream=None), "chat")["model"] == "gpt-4o-mini"


@pytest.mark.parametrize(("raw", "mode"), [
    (json.dumps({"model": "gpt-3.5-turbo-instruct", "prompt": "say hi", "stream": True}).encode(), "completions"),
    (json.dumps({"model": "gpt-3.5-turbo-instruct", "prompt": ["a", "b"]}).encode(), "completions"),
    (json.dumps({"model": "text-embedding-3-small", "input": ["a", "b"]}).encode(), "embeddings"),
    (json.dumps({"model": "text-embedding-3-small", "input": [1, 2, 3]}).encode(), "embeddings"),
    (json.dumps({"model": "text-davinci-edit-001", "instruction": "fix"}).encode(), "edits"),
])
def test_accepted_other_modes(raw: bytes, mode: Mode) -> None:
    assert parse_text_body(raw, mode) == json.loads(raw)


def test_engines_form_takes_the_model_from_the_path_when_the_body_has_none() -> None:
    data = parse_text_body(b'{"input": "hello"}', "embeddings", "text-embedding-ada-002")
    assert data == {"input": "hello", "model": "text-embedding-ada-002"}
    # a model in the body wins over the path
    data = parse_text_body(b'{"input": "x", "model": "text-embedding-3-small"}', "embeddings", "other")
    assert data["model"] == "text-embedding-3-small"


def test_moderation_without_model_gets_the_default() -> None:
    data = parse_text_body(b'{"input": "hello"}', "moderations")
    assert data["model"].startswith("text-moderation-")
    assert parse_text_body(b'{"input": "x", "model": "omni-moderation-latest"}', "moderations")["model"] == \
        "omni-moderation-latest"


def test_a_non_dict_body_never_escapes_as_another_exception() -> None:
    for raw in (b"[]", b"[{}]", b"true", b"1e999", b'{"model": "m", "messages": [[]]}'):
        refused(raw)


# -- images and speech (media.py) ----------------------------------------------------------------

@pytest.mark.parametrize(("data", "code"), [
    ({}, "prompt_missing"),
    ({"prompt": ""}, "prompt_missing"),
    ({"prompt": 5}, "prompt_missing"),
    ({"prompt": "x", "model": "dall-e-3", "size": "256x256"}, "size_not_supported"),
    ({"prompt": "x", "model": "dall-e-2", "size": "1792x1024"}, "size_not_supported"),
    ({"prompt": "x" * 1001, "model": "dall-e-2"}, "prompt_too_long"),
    ({"prompt": "x" * 4001, "model": "dall-e-3"}, "prompt_too_long"),
    ({"prompt": "x", "model": "dall-e-3", "n": 2}, "n_not_within_range"),
    ({"prompt": "x", "model": "dall-e-2", "n": 11}, "n_not_within_range"),
    ({"prompt": "x", "model": "dall-e-2", "n": 0}, "n_not_within_range"),
    ({"prompt": "x", "n": "2"}, "n_not_within_range"),
    ({"prompt": "x", "size": 1024}, "size_not_supported"),
])
def test_image_refusals(data: dict[str, Any], code: str) -> None:
    with pytest.raises(RelayError) as info:
        media.parse_image_body(json.dumps(data).encode())
    assert (info.value.http_status, info.value.code) == (400, code)


def test_image_defaults() -> None:
    data = media.parse_image_body(b'{"prompt": "a cat"}')
    assert data["model"] == "dall-e-2"
    assert media.parse_image_body(b'{"prompt": "' + b"x" * 4000 + b'", "model": "dall-e-3"}')["model"] == "dall-e-3"


@pytest.mark.parametrize(("raw", "code"), [
    (b"nope", "invalid_request"),
    (b"[]", "invalid_request"),
    (b'{"input": "hi"}', "invalid_request"),
    (b'{"model": "tts-1"}', "invalid_request"),
    (b'{"model": "tts-1", "input": ""}', "invalid_request"),
    (json.dumps({"model": "tts-1", "input": "x" * 4097}).encode(), "text_too_long"),
])
def test_speech_refusals(raw: bytes, code: str) -> None:
    with pytest.raises(RelayError) as info:
        media.parse_speech_body(raw)
    assert (info.value.http_status, info.value.code) == (400, code)


def test_speech_limit_counts_characters() -> None:
    assert media.parse_speech_body(json.dumps({"model": "tts-1", "input": "你" * 4096}).encode())["input"]


def test_multipart_round_trip_and_model_replacement() -> None:
    parts = [media.FormPart("model", b"whisper-1"), media.FormPart("response_format", b"text"),
             media.FormPart("file", b"\x00\x01RIFF", "a b.wav", "audio/wav")]
    raw, content_type = media.encode_form(parts)
    parsed = media.parse_form(raw, content_type)
    assert parsed == parts
    assert media.form_value(parsed, "response_format") == "text"
    assert media.form_value(parsed, "missing", "json") == "json"
    assert media.form_value(parsed, "file", "none") == "none"  # a file is not a field value
    swapped = media.with_model(parsed, "whisper-large")
    assert media.form_value(swapped, "model") == "whisper-large" and swapped[2] == parts[2]


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data", "text/plain; boundary=x"])
def test_multipart_needs_a_boundary(content_type: str) -> None:
    with pytest.raises(RelayError) as info:
        media.parse_form(b"--x\r\n", content_type)
    assert info.value.http_status == 400


@pytest.mark.parametrize(("fmt", "raw", "text"), [
    ("json", b'{"text": "hello world"}', "hello world"),
    ("", b'{"text": "hello"}', "hello"),
    ("verbose_json", b'{"text": "hi there", "segments": []}', "hi there"),
    ("text", b"plain words\n", "plain words\n"),
    ("srt", b"1\n00:00:00,000 --> 00:00:02,000\nfirst line\n\n2\n00:00:02,000 --> 00:00:03,000\nsecond\n",
     "first line second"),
    ("vtt", b"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nhello there\n", "hello there"),
    ("json", b"not json", "not json"),
    ("json", b"[1]", ""),
])
def test_transcript_text(fmt: str, raw: bytes, text: str) -> None:
    assert media.transcript_text(fmt, raw) == text
