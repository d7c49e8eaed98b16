"""The iFlytek Spark adaptor (oneapi/proxy/adaptors/xunfei.py): signed URLs, request frames, answer frames and
errors, as golden JSON (tests/unit/golden/xunfei/*.json), plus tables of the rules behind them. Pure.

Each golden file holds the input (``kind`` build / response / stream / error) and the ``expected`` output;
generated ids (``chatcmpl-…``, ``call_…``) are replaced by placeholders before comparing. After a deliberate
change, regenerate with ``ONEAPI_UPDATE_GOLDEN=1 pytest tests/unit/test_adaptor_xunfei.py`` and review the diff.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from oneapi.proxy.adaptors import adaptor_for, xunfei
from oneapi.proxy.adaptors.base import RelayRequest, TranslatingAdaptor
from oneapi.proxy.errors import RelayError, UpstreamError
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel
from tests.fakes.spark_upstream import parse_authorization, sign

GOLDEN = Path(__file__).parent / "golden" / "xunfei"
UPDATE = os.environ.get("ONEAPI_UPDATE_GOLDEN") == "1"
ADAPTOR: TranslatingAdaptor = xunfei.ADAPTOR
NOW = 1700000000.0
KEY = "app123|secret456|key789"
_IDS = re.compile(r"\b(chatcmpl-|call_)[0-9a-f]{32}\b")


def channel(key: str = KEY, base_url: str = "", **row: Any) -> RouteChannel:
    return route_channel({"id": 3, "type": 18, "name": "spark", "key": key, "base_url": base_url,
                                  "status": 1, "models": "Spark-Max", "group": "default", **row})


def relay_request(model: str, body: dict[str, Any], *, stream: bool = False, system_prompt: str = "",
                  mode: Any = "chat", upstream_model: str | None = None, now: float = NOW) -> RelayRequest:
    return RelayRequest(mode=mode, path="/v1/chat/completions", query="", body=json.dumps(body).encode(), json=body,
                        model=model, upstream_model=upstream_model or model, stream=stream,
                        content_type="application/json", accept="", system_prompt=system_prompt, now=now)


def _request_of(case: dict[str, Any]) -> RelayRequest:
    spec = case["request"]
    return relay_request(spec["model"], spec["body"], stream=spec.get("stream", False),
                         system_prompt=spec.get("system_prompt", ""), now=case.get("now", NOW))


def _normalised(value: Any) -> Any:
    return json.loads(_IDS.sub(lambda m: m.group(1) + "<id>", json.dumps(value, ensure_ascii=False)))


def _error(exc: Exception) -> dict[str, Any]:
    assert isinstance(exc, UpstreamError), exc
    return {"status": exc.http_status, "error": exc.error}


def _lines(case: dict[str, Any]) -> list[bytes]:
    return [json.dumps(f, ensure_ascii=False).encode() + b"\n" for f in case["frames"]]


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    kind = case["kind"]
    if kind == "build":
        spec = case["channel"]
        call = ADAPTOR.build(channel(**spec), _request_of(case))
        return {"method": call.method, "url": call.url, "headers": call.headers, "frame": json.loads(call.body)}
    if kind == "response":
        try:
            answer, usage = ADAPTOR.parse_response(_request_of(case), b"".join(_lines(case)))
        except UpstreamError as exc:
            return _error(exc)
        return {"answer": answer, "usage": [usage.prompt_tokens, usage.completion_tokens] if usage else None}
    if kind == "stream":
        translator = ADAPTOR.stream_translator(_request_of(case))
        chunks: list[dict[str, Any]] = []
        try:
            for line in _lines(case):
                chunks += translator.feed(line)
            chunks += translator.finish()
        except UpstreamError as exc:
            return {"chunks": chunks, **_error(exc)}
        usage = translator.usage
        return {"chunks": chunks, "usage": [usage.prompt_tokens, usage.completion_tokens] if usage else None}
    assert kind == "error"
    return _error(ADAPTOR.error(case["status"], case["body"].encode()))


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    actual = _normalised(run_case(case))
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, ensure_ascii=False, indent=2) + "\n")
    assert actual == case["expected"]


def test_the_golden_set_covers_every_kind() -> None:
    kinds = {json.loads(p.read_text())["kind"] for p in GOLDEN.glob("*.json")}
    assert kinds == {"build", "response", "stream", "error"}


# -- the signed URL, checked independently ------------------------------------------------------------


def test_the_signed_url_verifies_as_iflytek_documents() -> None:
    call = ADAPTOR.build(channel(base_url="ws://127.0.0.1:9000"),
                         relay_request("Spark-Max", {"messages": [{"role": "user", "content": "x"}]}))
    parts = urlsplit(call.url)
    assert (parts.scheme, parts.netloc, parts.path) == ("ws", "127.0.0.1:9000", "/v3.5/chat")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["date"] == "Tue, 14 Nov 2023 22:13:20 GMT"  # RFC 1123 of request.now, in GMT
    assert query["host"] == "127.0.0.1:9000"
    origin = base64.b64decode(query["authorization"]).decode()
    assert origin.startswith('api_key="key789", algorithm="hmac-sha256", headers="host date request-line", ')
    auth = parse_authorization(query["authorization"])
    assert auth is not None
    assert auth["signature"] == sign("secret456", "127.0.0.1:9000", query["date"], "/v3.5/chat")


@pytest.mark.parametrize(("base", "url_start", "host"), [
    ("", "wss://spark-api.xf-yun.com/v3.5/chat?", "spark-api.xf-yun.com"),
    ("wss://spark-api.xf-yun.com:443", "wss://spark-api.xf-yun.com/v3.5/chat?", "spark-api.xf-yun.com"),
    ("https://Spark-API.xf-yun.com", "wss://spark-api.xf-yun.com/v3.5/chat?", "spark-api.xf-yun.com"),
    ("http://127.0.0.1:8080/", "ws://127.0.0.1:8080/v3.5/chat?", "127.0.0.1:8080"),
    ("ws://localhost:80", "ws://localhost/v3.5/chat?", "localhost"),
    ("ws://[::1]:9000/proxy/spark", "ws://[::1]:9000/proxy/spark/v3.5/chat?", "[::1]:9000"),
    ("spark-api.xf-yun.com", "wss://spark-api.xf-yun.com/v3.5/chat?", "spark-api.xf-yun.com"),
])
def test_the_host_comes_from_base_url(base: str, url_start: str, host: str) -> None:
    call = ADAPTOR.build(channel(base_url=base), relay_request("Spark-Max", {"messages": [
        {"role": "user", "content": "x"}]}))
    assert call.url.startswith(url_start)
    query = {k: v[0] for k, v in parse_qs(urlsplit(call.url).query).items()}
    path = urlsplit(call.url).path
    assert query["host"] == host
    auth = parse_authorization(query["authorization"])
    assert auth is not None and auth["signature"] == sign("secret456", host, query["date"], path)


def test_a_base_url_that_is_not_a_websocket_is_refused() -> None:
    with pytest.raises(ValueError, match="ws"):
        ADAPTOR.build(channel(base_url="ftp://example.com"), relay_request("Spark-Max", {"messages": []}))


# -- versions and domains ------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "row", "version", "domain", "path"), [
    ("Spark-Lite", {}, "v1.1", "lite", "/v1.1/chat"),
    ("Spark-Pro", {}, "v3.1", "generalv3", "/v3.1/chat"),
    ("Spark-Pro-128K", {}, "v3.1-128K", "pro-128k", "/chat/pro-128k"),
    ("Spark-Max", {"other": "v1.1"}, "v3.5", "generalv3.5", "/v3.5/chat"),  # the model name wins
    ("Spark-Max-32K", {}, "v3.5-32K", "max-32k", "/chat/max-32k"),
    ("Spark-4.0-Ultra", {}, "v4.0", "4.0Ultra", "/v4.0/chat"),
    ("SparkDesk-v2.1", {}, "v2.1", "generalv2", "/v2.1/chat"),
    ("SparkDesk-v3.1-128K", {}, "v3.1-128K", "pro-128k", "/chat/pro-128k"),
    ("SparkDesk-v9.9", {}, "v9.9", "generalv9.9", "/v9.9/chat"),
    ("SparkDesk", {}, "v1.1", "lite", "/v1.1/chat"),
    ("SparkDesk", {"config": '{"api_version": "v4.0"}', "other": "v2.1"}, "v4.0", "4.0Ultra", "/v4.0/chat"),
    ("SparkDesk", {"other": " v3.1 "}, "v3.1", "generalv3", "/v3.1/chat"),
    ("spark-custom", {"other": "v3.5"}, "v3.5", "generalv3.5", "/v3.5/chat"),  # "custom" is no version
])
def test_version_domain_and_path(model: str, row: dict[str, Any], version: str, domain: str, path: str) -> None:
    assert xunfei.spark_version(model, channel(**row)) == version
    assert xunfei.spark_domain(version) == domain
    assert xunfei.spark_path(version) == path


def test_the_mapped_model_chooses_the_version() -> None:
    call = ADAPTOR.build(channel(base_url="ws://h:1"), relay_request(
        "my-alias", {"messages": [{"role": "user", "content": "x"}]}, upstream_model="Spark-4.0-Ultra"))
    assert urlsplit(call.url).path == "/v4.0/chat"
    assert json.loads(call.body)["parameter"]["chat"]["domain"] == "4.0Ultra"


@pytest.mark.parametrize(("version", "system_role"), [
    ("v1.1", False), ("v2.1", False), ("v3.1", True), ("v3.1-128K", True), ("v3.5-32K", True), ("v4.0", True),
    ("weird", False)])
def test_system_role_from_v3(version: str, system_role: bool) -> None:
    assert xunfei.takes_system_role(version) is system_role


# -- request details -----------------------------------------------------------------------------------


def frame_of(body: dict[str, Any], model: str = "Spark-Max", **kw: Any) -> dict[str, Any]:
    call = ADAPTOR.build(channel(base_url="ws://h:1"), relay_request(model, body, **kw))
    result: dict[str, Any] = json.loads(call.body)
    return result


def test_top_k_comes_from_top_k_not_n() -> None:
    chat = frame_of({"messages": [{"role": "user", "content": "x"}], "n": 4})["parameter"]["chat"]
    assert "top_k" not in chat
    chat = frame_of({"messages": [{"role": "user", "content": "x"}], "n": 4, "top_k": 2})["parameter"]["chat"]
    assert chat["top_k"] == 2


def test_tool_choice_none_sends_no_functions_and_legacy_functions_are_sent() -> None:
    fn = {"name": "f", "parameters": {"type": "object", "properties": {}}}
    messages = [{"role": "user", "content": "x"}]
    assert "functions" not in frame_of({"messages": messages, "tools": [{"type": "function", "function": fn}],
                                        "tool_choice": "none"})["payload"]
    assert frame_of({"messages": messages, "functions": [fn]})["payload"]["functions"] == {"text": [fn]}


def test_a_system_only_conversation_on_lite_becomes_a_user_turn() -> None:
    text = frame_of({"messages": [{"role": "system", "content": "rules"}]}, model="Spark-Lite")["payload"]
    assert text["message"]["text"] == [{"role": "user", "content": "rules"}]


@pytest.mark.parametrize("key", ["only-one-part", "a|b", "a||c", "a|b|c|d"])
def test_a_malformed_key_is_a_clear_conversion_error(key: str) -> None:
    with pytest.raises(ValueError, match=r"APPID\|APISecret\|APIKey"):
        ADAPTOR.build(channel(key=key), relay_request("Spark-Max", {"messages": []}))


def test_only_chat_is_served() -> None:
    with pytest.raises(RelayError) as caught:
        ADAPTOR.build(channel(), relay_request("Spark-Max", {"input": "x"}, mode="embeddings"))
    assert caught.value.http_status == 400 and "chat completions only" in caught.value.message


# -- answers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "status"), [
    (10003, 400), (10005, 400), (10013, 400), (10014, 400), (10019, 400), (10907, 400),
    (11200, 401), (10016, 401), (10015, 403), (11201, 429), (11202, 429), (11203, 429), (10007, 429),
    (10012, 500), (10110, 500), (99999, 500), ("odd", 500)])
def test_header_code_statuses(code: Any, status: int) -> None:
    exc = xunfei.frame_error({"code": code, "message": "m", "sid": "s1"})
    assert exc.http_status == status
    assert exc.error == {"message": "m", "type": "xunfei_error", "param": "s1", "code": code}


def test_frames_split_across_feeds_and_several_per_feed() -> None:
    frames: list[Any] = [{"header": {"code": 0, "status": s}, "payload": {"choices": {"status": s, "seq": s, "text": [
        {"content": c, "role": "assistant", "index": 0}]}}} for s, c in ((0, "a"), (1, "b"), (2, "c"))]
    frames[-1]["payload"]["usage"] = {"text": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}}
    data = b"".join(json.dumps(f).encode() + b"\n" for f in frames)
    translator = ADAPTOR.stream_translator(relay_request("Spark-Max", {}, stream=True))
    chunks = translator.feed(data[:10]) + translator.feed(data[10:-5]) + translator.feed(data[-5:])
    chunks += translator.finish()
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "abc"
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    usage = translator.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (4, 3)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["model"] == "Spark-Max"


def test_an_answer_without_usage_leaves_counting_to_the_relay() -> None:
    last = {"header": {"code": 0, "status": 2}, "payload": {"choices": {"status": 2, "text": [{"content": "hi"}]}}}
    answer, usage = ADAPTOR.parse_response(relay_request("Spark-Max", {}), json.dumps(last).encode() + b"\n")
    assert usage is None and "usage" not in answer and answer["choices"][0]["message"]["content"] == "hi"


def test_the_adaptor_is_registered_for_type_18() -> None:
    assert adaptor_for(18) is xunfei.ADAPTOR
