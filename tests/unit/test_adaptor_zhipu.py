"""The Zhipu adaptor's pure parts (oneapi/proxy/adaptors/zhipu.py): golden JSON cases in tests/unit/golden/zhipu/
(request building, answers, streams, errors) plus the JWT's properties.

Each golden file is one case: ``kind`` (build / response / stream / error), the channel row, the client's
request, the clock (``now``), the provider ``input``, and the ``expected`` output. After an intended change,
regenerate with ``ONEAPI_UPDATE_GOLDEN=1 pytest tests/unit/test_adaptor_zhipu.py`` and review the diff.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

import pytest

from oneapi.errors import OneAPIError
from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.adaptors.zhipu import ADAPTOR, JWT_WINDOW_MS, jwt_token, status_for
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel
from tests.fakes.zhipu_upstream import FakeZhipu

GOLDEN = Path(__file__).parent / "golden" / "zhipu"
UPDATE = os.environ.get("ONEAPI_UPDATE_GOLDEN") == "1"
PATHS = {"chat": "/v1/chat/completions", "embeddings": "/v1/embeddings", "images": "/v1/images/generations"}


# -- the golden harness (shared with test_adaptor_ali.py) -------------------------------------------------

def golden_channel(type_id: int, row: dict[str, Any]) -> RouteChannel:
    return route_channel({"id": 1, "type": type_id, "name": "golden", "key": "", "base_url": "",
                                  "status": 1, "models": "", "group": "default", **row})


def golden_request(spec: dict[str, Any], now: float) -> RelayRequest:
    data = spec.get("json")
    mode = spec.get("mode", "chat")
    return RelayRequest(mode=mode, path=PATHS[mode], query="", body=json.dumps(data).encode(), json=data,
                        model=spec["model"], upstream_model=spec.get("upstream_model", spec["model"]),
                        stream=bool(spec.get("stream")), content_type="application/json", accept="",
                        include_usage=bool(spec.get("include_usage")), system_prompt=spec.get("system_prompt", ""),
                        now=now)


def raised(exc: Exception) -> dict[str, Any]:
    assert isinstance(exc, OneAPIError), exc
    return {"raised": {"status": exc.http_status, "error": exc.to_openai()["error"]}}


def _pieces(case: dict[str, Any]) -> list[bytes]:
    data = b"".join(p.encode() for p in case["input"])
    size = case.get("split_every")
    return [data[i:i + size] for i in range(0, len(data), size)] if size else [p.encode() for p in case["input"]]


def run_case(adaptor: Any, type_id: int, case: dict[str, Any]) -> Any:
    channel = golden_channel(type_id, case.get("channel", {}))
    request = golden_request(case["request"], case.get("now", 1_717_171_717.0))
    kind = case["kind"]
    try:
        if kind == "build":
            call = adaptor.build(channel, request)
            return {"method": call.method, "url": call.url, "headers": call.headers, "body": json.loads(call.body)}
        if kind == "response":
            body = case["input"] if isinstance(case["input"], str) else json.dumps(case["input"], ensure_ascii=False)
            answer, usage = adaptor.parse_response(request, body.encode())
            return {"answer": answer, "usage": None if usage is None else [usage.prompt_tokens,
                                                                           usage.completion_tokens]}
        if kind == "stream":
            translator = adaptor.stream_translator(request)
            chunks: list[Any] = []
            try:
                for piece in _pieces(case):
                    chunks += translator.feed(piece)
                chunks += translator.finish()
            except OneAPIError as exc:
                chunks.append(raised(exc))
            usage = translator.usage
            return {"chunks": chunks, "usage": None if usage is None else [usage.prompt_tokens,
                                                                           usage.completion_tokens]}
        if kind == "error":
            body = case["input"]["body"]
            raw = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
            return raised(adaptor.error(case["input"]["status"], raw.encode()))
    except OneAPIError as exc:
        return raised(exc)
    raise AssertionError(f"unknown kind {kind}")


def check_golden(adaptor: Any, type_id: int, path: Path) -> None:
    case = json.loads(path.read_text())
    actual = json.loads(json.dumps(run_case(adaptor, type_id, case)))  # tuples → lists, as stored
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, ensure_ascii=False, indent=2) + "\n")
    assert actual == case["expected"], path.name


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    check_golden(ADAPTOR, 16, path)


# -- the JWT -----------------------------------------------------------------------------------------------

NOW = 1_717_171_717.25  # seconds


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    parts = [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in token.split(".")]
    return json.loads(parts[0]), json.loads(parts[1]), parts[2]


def test_the_registry_serves_this_adaptor() -> None:
    assert adaptor_for(16) is ADAPTOR and ADAPTOR.passthrough is False


def test_jwt_header_payload_and_signature() -> None:
    token = jwt_token("my-id.my-secret", NOW)
    header, payload, signature = decode(token)
    assert header == {"alg": "HS256", "sign_type": "SIGN"}
    assert set(payload) == {"api_key", "exp", "timestamp"} and payload["api_key"] == "my-id"
    now_ms = int(NOW * 1000)
    assert payload["timestamp"] <= now_ms < payload["timestamp"] + JWT_WINDOW_MS  # milliseconds
    assert payload["exp"] - now_ms >= JWT_WINDOW_MS  # at least an hour left whenever it is sent
    signing_input = token.rsplit(".", 1)[0].encode()
    assert hmac.compare_digest(signature, hmac.new(b"my-secret", signing_input, hashlib.sha256).digest())


def test_jwt_is_accepted_by_pyjwt_and_by_the_fake() -> None:
    jwt = pytest.importorskip("jwt")
    token = jwt_token("my-id.my-secret", NOW)
    claims = jwt.decode(token, "my-secret", algorithms=["HS256"], options={"verify_exp": False})
    assert claims["api_key"] == "my-id"
    fake = FakeZhipu({"my-id": "my-secret"}, jwt_only=True, clock=lambda: NOW + 3599)
    assert fake.authenticate(f"Bearer {token}", bare_allowed=False)[0] == "jwt"


def test_jwt_is_cached_per_window_and_renewed_before_expiry() -> None:
    window_start = (int(NOW * 1000) // JWT_WINDOW_MS) * JWT_WINDOW_MS / 1000
    first = jwt_token("my-id.my-secret", window_start)
    assert jwt_token("my-id.my-secret", window_start + 3599.9) == first  # the same token all window long
    renewed = jwt_token("my-id.my-secret", window_start + 3600)
    assert renewed != first
    assert decode(first)[1]["exp"] > (window_start + 3600) * 1000 + 3_599_000  # first still valid an hour on
    assert jwt_token("other-id.my-secret", window_start) != first  # per key


@pytest.mark.parametrize("key", ["no-dot", ".secret-only", "id-only.", ""])
def test_a_key_that_is_not_id_dot_secret_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match=r"<id>\.<secret>"):
        jwt_token(key, NOW)


@pytest.mark.parametrize(("code", "status"), [
    ("1000", 401), ("1002", 401), ("1004", 401), (1112, 401), ("1113", 429), ("1302", 429), ("1305", 429),
    ("1211", 400), ("1214", 400), (1261, 400), ("1301", 400), ("1234", 500), ("500", 500), (None, 500),
    ("x", 500),
])
def test_status_for_errors_inside_a_200(code: Any, status: int) -> None:
    assert status_for(code) == status
