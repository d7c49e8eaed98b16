"""Gemini's generateContent format inbound (oneapi/proxy/inbound/gemini_*.py): the pure translations, against
golden data.

``golden/gemini_inbound/request_*.json``: a generateContent request (``gemini``) and the OpenAI chat request it
becomes (``openai``), with what cannot be translated (``untranslatable``). ``answer_*.json``: an OpenAI
``chat.completion`` and the Gemini answer it becomes (``google``). ``stream_*.sse``: OpenAI event streams as the
relay writes them; ``stream_*.json``: the Gemini events they become, at every cut.
Set ``ONEAPI_UPDATE_GOLDEN=1`` to rewrite the expected halves after a deliberate change (then review the diff).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.errors import RelayError
from oneapi.proxy.inbound import gemini_answer, gemini_request
from oneapi.proxy.inbound.gemini_native import NativeGenerate
from oneapi.services.routing import route_channel

GOLDEN = Path(__file__).parent / "golden" / "gemini_inbound"
UPDATE = os.environ.get("ONEAPI_UPDATE_GOLDEN") == "1"


def cases(prefix: str, suffix: str = ".json") -> list[Path]:
    return sorted(GOLDEN.glob(f"{prefix}_*{suffix}"))


def check_golden(path: Path, key: str, actual: Any, case: dict[str, Any]) -> None:
    if UPDATE:
        case[key] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
        return
    assert actual == case[key], f"{path.name}: run with ONEAPI_UPDATE_GOLDEN=1 to regenerate, then review"


def parse(data: Any, *, stream: bool = False) -> gemini_request.GenerateRequest:
    return gemini_request.parse(json.dumps(data).encode(), "gpt-4o", stream=stream)


@pytest.mark.parametrize("path", cases("request"), ids=lambda p: p.stem)
def test_request_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    translation = gemini_request.openai_request(parse(case["gemini"]))
    check_golden(path, "openai", translation.request, case)
    check_golden(path, "untranslatable", translation.untranslatable, case)


def test_streams_ask_for_usage() -> None:
    request = gemini_request.openai_request(parse({"contents": [{"parts": [{"text": "x"}]}]}, stream=True)).request
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("body", "message"), [
    ({}, "contents is not specified"),
    ({"contents": []}, "contents is not specified"),
    ({"contents": {"parts": []}}, "must be a list"),
    ({"contents": ["x"]}, "contents[0]: must be an object"),
    ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
    ({"contents": [{"parts": []}]}, "non-empty list of parts"),
    ({"contents": [{"parts": [{"text": None}]}]}, "text: must be a string"),
    ({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png"}}]}]}, "inlineData"),
    ({"contents": [{"parts": [{"functionCall": {"args": {}}}]}]}, "needs a name"),
    ({"contents": [{"parts": [{"text": "x"}]}], "systemInstruction": "be brief"}, "systemInstruction"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": []}, "generationConfig: must be"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": "hot"}}, "temperature"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 0}}, "candidateCount"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"stopSequences": "END"}}, "stopSequences"),
    ({"contents": [{"parts": [{"text": "x"}]}], "tools": {}}, "tools: must be"),
    ({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [{}]}]}, "needs a name"),
    ({"contents": [{"parts": [{"text": "x"}]}], "toolConfig": "AUTO"}, "toolConfig"),
])
def test_bad_requests_are_invalid_argument(body: Any, message: str) -> None:
    with pytest.raises(RelayError) as caught:
        parse(body)
    assert caught.value.http_status == 400 and message in caught.value.message


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"\xff", b"[" * 100_000 + b"]" * 100_000])
def test_bodies_that_are_not_json_objects(body: bytes) -> None:
    with pytest.raises(RelayError) as caught:
        gemini_request.parse(body, "m", stream=False)
    assert caught.value.http_status == 400


# -- answers ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", cases("answer"), ids=lambda p: p.stem)
def test_answer_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    check_golden(path, "google", gemini_answer.response(case["openai"], "the-model"), case)


def test_answers_read_by_google_genai() -> None:
    from google.genai import types

    for path in cases("answer"):
        answer = types.GenerateContentResponse.model_validate(json.loads(path.read_text())["google"])
        assert answer.candidates and answer.usage_metadata is not None


# -- streams ---------------------------------------------------------------------------------------------------

def events(data: bytes) -> list[Any]:
    blocks = data.decode().split("\r\n\r\n")
    assert blocks[-1] == ""
    assert all(block.startswith("data: ") for block in blocks[:-1])
    return [json.loads(block.removeprefix("data: ")) for block in blocks[:-1]]


def translate(pieces: list[bytes]) -> bytes:
    stream = gemini_answer.EventStream("the-model", 7, lambda text: len(text.split()))
    return b"".join(stream.feed(piece) for piece in pieces) + stream.finish()


def splits(data: bytes) -> list[list[bytes]]:
    return [[data], [data[i:i + 1] for i in range(len(data))]] + [[data[:i], data[i:]] for i in range(1, len(data))]


@pytest.mark.parametrize("path", cases("stream", ".sse"), ids=lambda p: p.stem)
def test_stream_golden_at_every_split(path: Path) -> None:
    data = path.read_bytes()
    expected_path = path.with_suffix(".json")
    whole = translate([data])
    result = events(whole)
    if UPDATE:
        expected_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    assert result == json.loads(expected_path.read_text())
    for variant in (data, data.replace(b"\n", b"\r\n")):
        for pieces in splits(variant):
            assert translate(pieces) == whole


@pytest.mark.parametrize("path", cases("stream", ".sse"), ids=lambda p: p.stem)
def test_stream_events_read_by_google_genai(path: Path) -> None:
    from google.genai import types

    for event in events(translate([path.read_bytes()])):
        if "error" not in event:
            types.GenerateContentResponse.model_validate(event)


# -- errors and the native adaptor -----------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "expected"), [
    (400, (400, "INVALID_ARGUMENT")), (401, (401, "UNAUTHENTICATED")), (403, (403, "PERMISSION_DENIED")),
    (404, (404, "NOT_FOUND")), (429, (429, "RESOURCE_EXHAUSTED")), (500, (500, "INTERNAL")),
    (502, (500, "INTERNAL")), (503, (503, "UNAVAILABLE")), (529, (503, "UNAVAILABLE")),
    (422, (400, "INVALID_ARGUMENT")),
])
def test_error_shape(status: int, expected: tuple[int, str]) -> None:
    answered, body = gemini_answer.error_body(status, "why")
    assert answered == expected[0]
    assert body == {"error": {"code": expected[0], "message": "why", "status": expected[1]}}


def test_native_request_keeps_the_body_and_maps_the_url() -> None:
    body = b'{"contents": [{"parts": [{"text": "x"}]}]}'
    channel = route_channel({"id": 1, "type": 24, "name": "g", "key": "AIza-k", "base_url": "http://g.test/",
                                     "status": 1, "models": "a", "group": "default"})
    request = RelayRequest(mode="chat", path="/v1/chat/completions", query="", body=b"", json={}, model="a",
                           upstream_model="models/gemini-2.0-flash", stream=True, content_type="", accept="")
    call = NativeGenerate(json.loads(body), body, "v1beta").build(channel, request)
    assert call.body is body
    assert call.url == "http://g.test/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    assert call.headers["x-goog-api-key"] == "AIza-k"
    prompted = RelayRequest(**{**request.__dict__, "system_prompt": "the channel's", "stream": False})
    call = NativeGenerate(json.loads(body), body, "v1").build(channel, prompted)
    assert json.loads(call.body)["systemInstruction"] == {"parts": [{"text": "the channel's"}]}
    assert call.url.endswith("/v1/models/gemini-2.0-flash:generateContent")
