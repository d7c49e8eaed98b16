"""The Vertex AI adaptor's pure parts (oneapi/proxy/adaptors/vertex.py): the JWT-bearer token request (a JWT
google-auth verifies), reading the token endpoint's answers, and where each model's request goes with what."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from google.auth import jwt as google_jwt

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.vertex import ADAPTOR, VertexAdaptor, endpoint
from oneapi.proxy.errors import RelayError, UpstreamError
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel
from tests.fakes.vertex_upstream import new_account
from tests.unit.test_adaptor_zhipu import golden_request

NOW = 1_717_171_717.0
ACCOUNT, PUBLIC = new_account("https://oauth2.googleapis.com/token", project="p-from-key")


def channel(config: dict[str, Any] | None = None, base: str = "", account: Any = ACCOUNT) -> RouteChannel:
    return route_channel({"id": 4, "type": 42, "name": "v", "key": json.dumps(account), "base_url": base,
                                  "status": 1, "models": "", "group": "default", "config": json.dumps(config or {})})


def test_the_registry_serves_this_adaptor() -> None:
    assert isinstance(adaptor_for(42), VertexAdaptor) and ADAPTOR.passthrough is False


def test_the_token_request_is_a_jwt_bearer_grant() -> None:
    call = ADAPTOR.credential_request(channel(), now=NOW)
    assert (call.method, call.url) == ("POST", "https://oauth2.googleapis.com/token")
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(call.body.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = google_jwt.decode(form["assertion"][0], certs=PUBLIC, verify=True,
                               audience="https://oauth2.googleapis.com/token", clock_skew_in_seconds=10 ** 10)
    assert claims == {"iss": ACCOUNT["client_email"], "scope": "https://www.googleapis.com/auth/cloud-platform",
                      "aud": "https://oauth2.googleapis.com/token", "iat": int(NOW), "exp": int(NOW) + 3600}
    assert google_jwt.decode_header(form["assertion"][0])["kid"] == ACCOUNT["private_key_id"]


@pytest.mark.parametrize(("status", "body", "expected"), [
    (200, {"access_token": "ya29.x", "expires_in": 3599, "token_type": "Bearer"}, ("ya29.x", 3599.0)),
    (200, {"access_token": "ya29.y"}, ("ya29.y", 3600.0)),
])
def test_token_answers(status: int, body: dict[str, Any], expected: tuple[str, float]) -> None:
    assert ADAPTOR.parse_credential(status, json.dumps(body).encode()) == expected


@pytest.mark.parametrize(("status", "body", "reported"), [
    (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 401),
    (503, b"<html>unavailable</html>", 503), (200, {"token_type": "Bearer"}, 401),
])
def test_token_refusals(status: int, body: Any, reported: int) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.parse_credential(status, raw)
    assert raised.value.http_status == reported and raised.value.type == "vertex_error"
    assert ADAPTOR.credential_rejected(raised.value) is (reported == 401)


@pytest.mark.parametrize(("config", "base", "model", "stream", "url"), [
    ({"region": "europe-west4", "vertex_ai_project_id": "proj"}, "", "gemini-1.5-pro-002", False,
     "https://europe-west4-aiplatform.googleapis.com/v1/projects/proj/locations/europe-west4/publishers/google/"
     "models/gemini-1.5-pro-002:generateContent"),
    ({}, "", "claude-3-5-haiku@20241022", True,
     "https://us-central1-aiplatform.googleapis.com/v1/projects/p-from-key/locations/us-central1/publishers/"
     "anthropic/models/claude-3-5-haiku@20241022:streamRawPredict"),
    ({"region": "global"}, "", "gemini-2.0-flash-001", True,
     "https://aiplatform.googleapis.com/v1/projects/p-from-key/locations/global/publishers/google/models/"
     "gemini-2.0-flash-001:streamGenerateContent?alt=sse"),
    ({"region": "us-east5"}, "https://vertex.proxy.example/", "claude-3-opus@20240229", False,
     "https://vertex.proxy.example/v1/projects/p-from-key/locations/us-east5/publishers/anthropic/models/"
     "claude-3-opus@20240229:rawPredict"),
])
def test_endpoints(config: dict[str, Any], base: str, model: str, stream: bool, url: str) -> None:
    assert endpoint(channel(config, base), model, stream) == url


def test_what_is_sent_with_the_token() -> None:
    spec = {"model": "claude-3-5-haiku@20241022", "json": {"model": "claude-3-5-haiku@20241022", "messages": [
        {"role": "user", "content": "hi"}]}}
    request = golden_request(spec, NOW)
    request = type(request)(**{**request.__dict__, "credential": "ya29.token"})
    call = ADAPTOR.build(channel(), request)
    assert call.headers["Authorization"] == "Bearer ya29.token"
    # Without the client's max_tokens, the model's maximum output from the catalogue (8192 for Claude 3.5 Haiku)
    assert json.loads(call.body) == {"anthropic_version": "vertex-2023-10-16", "max_tokens": 8192,
                                     "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}


@pytest.mark.parametrize(("account", "config", "phrase"), [
    ("not json", {}, "service account's JSON key"),
    ({"client_email": "a@b"}, {}, "service account's JSON key"),
    ({**ACCOUNT, "project_id": ""}, {}, "vertex_ai_project_id"),
])
def test_channel_settings_are_named(account: Any, config: dict[str, Any], phrase: str) -> None:
    with pytest.raises(UpstreamError) as raised:
        endpoint(channel(config, account=account), "gemini-2.0-flash-001", False)
    assert phrase in raised.value.message and raised.value.code == "channel_config_invalid"


def test_a_broken_private_key_is_named() -> None:
    with pytest.raises(UpstreamError, match="private_key is unusable"):
        ADAPTOR.credential_request(channel(account={**ACCOUNT, "private_key": "-----BEGIN PRIVATE KEY-----\nAA==\n"
                                                                             "-----END PRIVATE KEY-----"}), NOW)


def test_other_models_are_refused() -> None:
    with pytest.raises(RelayError) as raised:
        endpoint(channel(), "llama-3.1-405b-instruct-maas", False)
    assert raised.value.http_status == 400


def test_embeddings_request_and_answer() -> None:
    spec = {"mode": "embeddings", "model": "gemini-embedding-001",
            "json": {"model": "gemini-embedding-001", "input": ["a", "b c"], "dimensions": 3,
                     "encoding_format": "float"}}
    request = golden_request(spec, NOW)
    call = ADAPTOR.build(channel(), request)
    assert call.url.endswith("/publishers/google/models/gemini-embedding-001:predict")
    assert json.loads(call.body) == {"instances": [{"content": "a"}, {"content": "b c"}],
                                     "parameters": {"outputDimensionality": 3}}
    answer = {"predictions": [{"embeddings": {"values": [0.5, 0, 1], "statistics": {"token_count": 1}}},
                              {"embeddings": {"values": [1, 2, 3], "statistics": {"token_count": 2.0}}}]}
    result, usage = ADAPTOR.parse_response(request, json.dumps(answer).encode())
    assert [d["embedding"] for d in result["data"]] == [[0.5, 0.0, 1.0], [1.0, 2.0, 3.0]]
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (3, 0)
    with pytest.raises(RelayError):
        ADAPTOR.build(channel(), golden_request({**spec, "json": {"model": "x", "input": [[1, 2]]}}, NOW))
