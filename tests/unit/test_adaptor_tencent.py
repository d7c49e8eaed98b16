"""The Tencent Hunyuan adaptor's pure parts (oneapi/proxy/adaptors/tencent.py): golden JSON cases in
``tests/unit/golden/tencent/`` plus the TC3-HMAC-SHA256 signature (checked against Tencent's published worked
example), the host rule and the error-code table.

Each golden file holds one case: ``kind`` (``build``, ``response``, ``stream``, ``error``), its input, and
``expected`` — what the adaptor must produce. Builds use a fixed ``now``, so their signatures are fixed too.
Regenerate after a deliberate change with ``ONEAPI_UPDATE_GOLDEN=1 pytest tests/unit/test_adaptor_tencent.py``
and review the diff.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.adaptors.tencent import ADAPTOR, authorization, host_of, status_for
from oneapi.proxy.errors import UpstreamError
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel

GOLDEN = Path(__file__).parent / "golden" / "tencent"
UPDATE = os.environ.get("ONEAPI_UPDATE_GOLDEN") == "1"
CASES = sorted(GOLDEN.glob("*.json"))


def channel(key: str = "1300000000|AKIDexample|secretkey", base: str = "https://hunyuan.example.test",
            **row: Any) -> RouteChannel:
    return route_channel({"id": 6, "type": 23, "name": "hunyuan", "key": key, "base_url": base,
                                  "status": 1, "models": "hunyuan-lite", "group": "default", **row})


def relay_request(spec: dict[str, Any]) -> RelayRequest:
    data = spec["json"]
    mode = spec.get("mode", "chat")
    model = spec.get("model") or data.get("model", "")
    return RelayRequest(mode=mode, path="/v1/embeddings" if mode == "embeddings" else "/v1/chat/completions",
                        query="", body=json.dumps(data).encode(), json=data, model=model,
                        upstream_model=spec.get("upstream_model") or model, stream=bool(data.get("stream")),
                        content_type="application/json", accept="", include_usage=spec.get("include_usage", False),
                        system_prompt=spec.get("system_prompt", ""), now=spec.get("now", 1_700_000_000.0))


def _failure(exc: UpstreamError) -> dict[str, Any]:
    return {"status": exc.http_status, "error": exc.error}


def _usage(usage: Any) -> list[int] | None:
    return None if usage is None else [usage.prompt_tokens, usage.completion_tokens]


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    kind = case["kind"]
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
    assert kinds == {"build", "response", "stream", "error"}


def test_registered_for_type_23() -> None:
    assert adaptor_for(23) is ADAPTOR
    assert ADAPTOR.passthrough is False
    assert not hasattr(ADAPTOR, "credential_request")  # signs every call itself




# -- signing -------------------------------------------------------------------------------------------------

def test_signing_matches_the_official_sdk() -> None:
    """The key derivation and the canonical request are the ones tencentcloud-sdk-python signs with."""
    sign = pytest.importorskip("tencentcloud.common.sign").Sign
    from oneapi.proxy.adaptors.tencent import canonical_request, signature, string_to_sign

    body = b'{"Model":"hunyuan-lite"}'
    canonical = canonical_request([("content-type", "application/json"), ("host", "hunyuan.tencentcloudapi.com")],
                                  body)
    # The SDK's own layout (abstract_client._get_tc3_signature), for SignedHeaders=content-type;host.
    sdk_canonical = "POST\n/\n\ncontent-type:application/json\nhost:hunyuan.tencentcloudapi.com\n\n" \
                    "content-type;host\n" + hashlib.sha256(body).hexdigest()
    assert canonical == sdk_canonical
    to_sign = string_to_sign(1_700_000_000, "2023-11-14/hunyuan/tc3_request", canonical)
    assert signature("s3cr3t", "2023-11-14", to_sign) == sign.sign_tc3("s3cr3t", "2023-11-14", "hunyuan", to_sign)


def test_authorization_layout() -> None:
    header = authorization("AKIDx", "key", "hunyuan.tencentcloudapi.com", "ChatCompletions", b"{}", 1_700_000_000)
    prefix = ("TC3-HMAC-SHA256 Credential=AKIDx/2023-11-14/hunyuan/tc3_request, "
              "SignedHeaders=content-type;host;x-tc-action, Signature=")
    assert header.startswith(prefix) and len(header) == len(prefix) + 64
    # Every input is covered by the signature.
    others = [authorization("AKIDx", "key2", "hunyuan.tencentcloudapi.com", "ChatCompletions", b"{}", 1_700_000_000),
              authorization("AKIDx", "key", "127.0.0.1:8080", "ChatCompletions", b"{}", 1_700_000_000),
              authorization("AKIDx", "key", "hunyuan.tencentcloudapi.com", "GetEmbedding", b"{}", 1_700_000_000),
              authorization("AKIDx", "key", "hunyuan.tencentcloudapi.com", "ChatCompletions", b"{ }", 1_700_000_000),
              authorization("AKIDx", "key", "hunyuan.tencentcloudapi.com", "ChatCompletions", b"{}", 1_700_000_001)]
    assert len({h.rsplit("=", 1)[1] for h in [header, *others]}) == 6


def test_the_timestamp_is_the_requests_clock() -> None:
    request = relay_request({"json": {"model": "hunyuan-lite", "messages": [{"role": "user", "content": "x"}]},
                             "now": 1_234_567_890.9})
    call = ADAPTOR.build(channel(), request)
    assert call.headers["X-TC-Timestamp"] == "1234567890"
    assert "Credential=AKIDexample/2009-02-13/hunyuan/tc3_request" in call.headers["Authorization"]


@pytest.mark.parametrize(("base", "host"), [
    ("https://hunyuan.tencentcloudapi.com", "hunyuan.tencentcloudapi.com"),
    ("https://hunyuan.tencentcloudapi.com:443", "hunyuan.tencentcloudapi.com"),
    ("http://127.0.0.1:8080", "127.0.0.1:8080"),
    ("http://proxy.internal:80/tencent", "proxy.internal"),
    ("https://hunyuan.ap-guangzhou.tencentcloudapi.com:8443", "hunyuan.ap-guangzhou.tencentcloudapi.com:8443"),
    ("http://[::1]:9000", "[::1]:9000"),
])
def test_signed_host_is_the_host_sent_to(base: str, host: str) -> None:
    assert host_of(base) == host
    call = ADAPTOR.build(channel(base=base), relay_request(
        {"json": {"model": "hunyuan-lite", "messages": [{"role": "user", "content": "x"}]}}))
    assert call.headers["Host"] == host
    assert call.url == base.rstrip("/") + "/"


def test_default_base_url() -> None:
    call = ADAPTOR.build(channel(base=""), relay_request(
        {"json": {"model": "hunyuan-lite", "messages": [{"role": "user", "content": "x"}]}}))
    assert call.url == "https://hunyuan.tencentcloudapi.com/"
    assert call.headers["Host"] == "hunyuan.tencentcloudapi.com"


@pytest.mark.parametrize(("key", "secret_id"), [("1300|AKIDa|sk", "AKIDa"), ("AKIDb|sk", "AKIDb")])
def test_keys(key: str, secret_id: str) -> None:
    call = ADAPTOR.build(channel(key=key), relay_request(
        {"json": {"model": "hunyuan-lite", "messages": [{"role": "user", "content": "x"}]}}))
    assert f"Credential={secret_id}/" in call.headers["Authorization"]


def test_a_malformed_key_is_an_auth_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        ADAPTOR.build(channel(key="just-one-part"), relay_request(
            {"json": {"model": "hunyuan-lite", "messages": [{"role": "user", "content": "x"}]}}))
    assert caught.value.http_status == 401 and caught.value.error["code"] == "invalid_tencent_config"


# -- tables --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "status"), [
    ("AuthFailure.SignatureFailure", 401), ("AuthFailure.SecretIdNotFound", 401), ("AuthFailure.SignatureExpire", 401),
    ("UnauthorizedOperation", 401), ("RequestLimitExceeded", 429), ("LimitExceeded", 429),
    ("FailedOperation.EngineServerLimitExceeded", 429), ("ResourceInsufficient.ChargeResourceExhaust", 403),
    ("FailedOperation.ServiceNotActivated", 403), ("ResourceUnavailable.InArrears", 403),
    ("UnknownParameter", 400), ("InvalidParameter", 400), ("InvalidParameterValue.Model", 400),
    ("MissingParameter", 400), ("OperationDenied.TextIllegalDetected", 400), ("ResourceNotFound", 404),
    ("ServiceUnavailable", 503), ("InternalError", 500), ("FailedOperation.EngineServerError", 500),
])
def test_error_code_statuses(code: str, status: int) -> None:
    assert status_for(code) == status


def test_other_modes_are_refused_as_conversion_errors() -> None:
    request = relay_request({"json": {"model": "hunyuan-lite", "prompt": "x"}})
    with pytest.raises(ValueError, match="completions"):
        ADAPTOR.build(channel(), RelayRequest(**{**request.__dict__, "mode": "completions"}))


def test_golden_bodies_pass_the_fakes_checks() -> None:
    """What the adaptor sends has only documented fields and Hunyuan's turn order, as the fake enforces them."""
    from tests.fakes.tencent_upstream import EMBEDDING_FIELDS, validate_chat

    for path in CASES:
        case = json.loads(path.read_text())
        if case["kind"] == "build":
            body = case["expected"]["body"]
            if case["request"].get("mode") == "embeddings":
                assert set(body) <= EMBEDDING_FIELDS
            else:
                validate_chat(body)
