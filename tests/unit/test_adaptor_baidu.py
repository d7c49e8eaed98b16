"""The Baidu ERNIE adaptor's pure parts (oneapi/proxy/adaptors/baidu.py): golden JSON cases in
``tests/unit/golden/baidu/`` plus the credential exchange, the endpoint map and the error-code table.

Each golden file holds one case: ``kind`` (``build``, ``credential_request``, ``response``, ``stream``, ``error``),
its input, and ``expected`` — what the adaptor must produce. Regenerate after a deliberate change with
``ONEAPI_UPDATE_GOLDEN=1 pytest tests/unit/test_adaptor_baidu.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.baidu import ADAPTOR, endpoint, status_for
from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.errors import UpstreamError
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel

GOLDEN = Path(__file__).parent / "golden" / "baidu"
UPDATE = os.environ.get("ONEAPI_UPDATE_GOLDEN") == "1"
CASES = sorted(GOLDEN.glob("*.json"))


def channel(key: str = "my-ak|my-sk", base: str = "https://aip.example.test", **row: Any) -> RouteChannel:
    return route_channel({"id": 5, "type": 15, "name": "ernie", "key": key, "base_url": base, "status": 1,
                                  "models": "ERNIE-3.5-8K", "group": "default", **row})


def relay_request(spec: dict[str, Any]) -> RelayRequest:
    data = spec["json"]
    mode = spec.get("mode", "chat")
    model = spec.get("model") or data.get("model", "")
    return RelayRequest(mode=mode, path="/v1/embeddings" if mode == "embeddings" else "/v1/chat/completions",
                        query="", body=json.dumps(data).encode(), json=data, model=model,
                        upstream_model=spec.get("upstream_model") or model, stream=bool(data.get("stream")),
                        content_type="application/json", accept="", include_usage=spec.get("include_usage", False),
                        system_prompt=spec.get("system_prompt", ""), credential=spec.get("credential", "tok"),
                        now=spec.get("now", 1_700_000_000.0))


def _failure(exc: UpstreamError) -> dict[str, Any]:
    return {"status": exc.http_status, "error": exc.error}


def _usage(usage: Any) -> list[int] | None:
    return None if usage is None else [usage.prompt_tokens, usage.completion_tokens]


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    kind = case["kind"]
    if kind == "credential_request":
        call = ADAPTOR.credential_request(channel(**case.get("channel", {})))
        return {"method": call.method, "url": call.url, "headers": call.headers, "body": call.body.decode()}
    if kind == "build":
        call = ADAPTOR.build(channel(**case.get("channel", {})), relay_request(case["request"]))
        return {"method": call.method, "url": call.url, "headers": call.headers, "body": json.loads(call.body)}
    if kind == "error":
        error = ADAPTOR.error(case["status"], case["body"].encode())
        assert isinstance(error, UpstreamError)
        return _failure(error)
    request = relay_request(case["request"])
    if kind == "response":
        try:
            answer, usage = ADAPTOR.parse_response(request, json.dumps(case["body"]).encode())
        except UpstreamError as exc:
            return _failure(exc)
        return {"answer": answer, "usage": _usage(usage)}
    assert kind == "stream"
    translator = ADAPTOR.stream_translator(request)
    data = case["data"].encode()
    size = case.get("feed_size", len(data))  # feeding in small pieces proves the translator is incremental
    chunks: list[dict[str, Any]] = []
    try:
        for start in range(0, len(data), size):
            chunks.extend(translator.feed(data[start:start + size]))
        chunks.extend(translator.finish())
    except UpstreamError as exc:
        return {"chunks": chunks, **_failure(exc)}
    return {"chunks": chunks, "usage": _usage(translator.usage)}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    actual = run_case(case)
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, ensure_ascii=False, indent=2) + "\n")
    assert actual == case["expected"]


def test_there_are_golden_cases_of_every_kind() -> None:
    kinds = {json.loads(p.read_text())["kind"] for p in CASES}
    assert kinds == {"build", "credential_request", "response", "stream", "error"}


def test_registered_for_type_15() -> None:
    assert adaptor_for(15) is ADAPTOR
    assert ADAPTOR.passthrough is False


# -- credential exchange -------------------------------------------------------------------------------------

def test_credential_comes_from_the_token_answer() -> None:
    body = json.dumps({"access_token": "24.abc", "expires_in": 2592000, "scope": "public"}).encode()
    assert ADAPTOR.parse_credential(200, body) == ("24.abc", 2592000.0)
    assert ADAPTOR.parse_credential(200, b'{"access_token": "24.abc"}') == ("24.abc", 86400.0)


@pytest.mark.parametrize(("status", "body", "expected_status", "message"), [
    (401, {"error": "invalid_client", "error_description": "unknown client id"}, 401, "unknown client id"),
    (401, {"error": "invalid_client", "error_description": "Client authentication failed"}, 401,
     "Client authentication failed"),
    (200, {"error": "invalid_client", "error_description": "unknown client id"}, 401, "unknown client id"),
    (502, {"error": "server_error"}, 502, "server_error"),
    (503, "<html>bad gateway</html>", 503, "answered 503 without an access token"),
    (200, {"error_code": 18, "error_msg": "Open api qps request limit reached"}, 429, "qps"),
])
def test_refused_exchanges_are_openai_shaped(status: int, body: Any, expected_status: int, message: str) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    with pytest.raises(UpstreamError) as caught:
        ADAPTOR.parse_credential(status, raw)
    assert caught.value.http_status == expected_status
    assert caught.value.error["type"] == "baidu_error"
    assert message in caught.value.error["message"]


def test_a_key_without_secret_is_refused_before_any_request() -> None:
    with pytest.raises(UpstreamError) as caught:
        ADAPTOR.credential_request(channel(key="only-an-api-key"))
    assert caught.value.http_status == 401 and caught.value.error["code"] == "invalid_baidu_config"


def test_token_endpoint_follows_the_base_url() -> None:
    call = ADAPTOR.credential_request(channel(key="a k|s&k", base="http://127.0.0.1:9"))
    assert call.url == ("http://127.0.0.1:9/oauth/2.0/token?grant_type=client_credentials&client_id=a+k"
                        "&client_secret=s%26k")
    default = ADAPTOR.credential_request(channel(base=""))
    assert default.url.startswith("https://aip.baidubce.com/oauth/2.0/token?")


@pytest.mark.parametrize(("code", "rejected"), [(110, True), (111, True), (6, False), (18, False)])
def test_only_token_errors_ask_for_a_new_exchange(code: int, rejected: bool) -> None:
    error = ADAPTOR.error(200, json.dumps({"error_code": code, "error_msg": "x"}).encode())
    assert ADAPTOR.credential_rejected(error) is rejected
    assert ADAPTOR.credential_rejected(UpstreamError(401, {"type": "zhipu_error", "code": 110})) is False
    assert ADAPTOR.credential_rejected(ValueError("110")) is False


# -- tables --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "expected"), [
    ("ERNIE-4.0-8K", "completions_pro"), ("ERNIE-Bot-4", "completions_pro"), ("ERNIE-3.5-8K", "completions"),
    ("ERNIE-Bot", "completions"), ("ERNIE-Bot-turbo", "eb-instant"), ("ERNIE-Lite-8K-0922", "eb-instant"),
    ("ERNIE-Speed", "ernie_speed"), ("ERNIE-Speed-8K", "ernie_speed"), ("ERNIE-Speed-128K", "ernie-speed-128k"),
    ("ERNIE-3.5-8K-0205", "ernie-3.5-8k-0205"), ("ERNIE-3.5-8K-1222", "ernie-3.5-8k-1222"),
    ("ERNIE-Bot-8K", "ernie_bot_8k"), ("ERNIE-3.5-4K-0205", "ernie-3.5-4k-0205"),
    ("ERNIE-Lite-8K-0308", "ernie-lite-8k"), ("ERNIE-Lite-8K", "ernie-lite-8k"), ("ERNIE-Tiny-8K", "ernie-tiny-8k"),
    ("ERNIE-Character-8K", "ernie-char-8k"), ("BLOOMZ-7B", "bloomz_7b1"), ("Embedding-V1", "embedding-v1"),
    ("bge-large-zh", "bge_large_zh"), ("bge-large-en", "bge_large_en"), ("tao-8k", "tao_8k"),
    ("ERNIE-4.0-Turbo-8K", "ernie-4.0-turbo-8k"), ("my-custom-deployment", "my-custom-deployment"),
])
def test_endpoint_map(model: str, expected: str) -> None:
    assert endpoint(model) == expected


@pytest.mark.parametrize(("code", "status"), [
    (110, 401), (111, 401), (6, 401), (14, 401), (13, 401), (336004, 403), (17, 403),
    (4, 429), (18, 429), (336501, 429), (336502, 429),
    (3, 400), (100, 400), (336001, 400), (336003, 400), (336006, 400), (336050, 400), (336005, 404),
    (2, 503), (336100, 503), (336000, 500), (1, 500), (999999, 500),
])
def test_error_code_statuses(code: int, status: int) -> None:
    assert status_for(code) == status


def test_other_modes_are_refused_as_conversion_errors() -> None:
    request = relay_request({"json": {"model": "ERNIE-3.5-8K", "prompt": "x"}, "mode": "chat"})
    with pytest.raises(ValueError, match="images"):
        ADAPTOR.build(channel(), RelayRequest(**{**request.__dict__, "mode": "images"}))
    with pytest.raises(ValueError, match="list of strings"):
        ADAPTOR.build(channel(), relay_request({"json": {"model": "Embedding-V1", "input": [[1, 2]]},
                                                "mode": "embeddings"}))


def test_golden_bodies_pass_the_fakes_checks() -> None:
    """What the adaptor sends satisfies Baidu's rules as the fake enforces them (odd alternating turns, ranges)."""
    from tests.fakes.baidu_upstream import validate_chat, validate_embeddings

    for path in CASES:
        case = json.loads(path.read_text())
        if case["kind"] == "build":
            body = case["expected"]["body"]
            if case["request"].get("mode") == "embeddings":
                validate_embeddings(body)
            else:
                validate_chat(body)
