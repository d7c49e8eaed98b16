"""The Cloudflare Workers AI adaptor (oneapi/proxy/adaptors/cloudflare.py): where each request goes, what is
sent, and what is refused. A pass-through: the answers are the OpenAI adaptor's business."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oneapi.errors import OneAPIError
from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.adaptors.cloudflare import ADAPTOR, api_prefix
from oneapi.proxy.errors import RelayError, UpstreamError
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel

ACCOUNT = "acc0123"
PATHS = {"chat": "/v1/chat/completions", "embeddings": "/v1/embeddings", "completions": "/v1/completions"}


def channel(base: str = "", config: dict[str, Any] | None = None, key: str = "cf-token") -> RouteChannel:
    return route_channel({"id": 7, "type": 37, "name": "cf", "key": key, "base_url": base, "status": 1,
                                  "models": "", "group": "default",
                                  "config": json.dumps({"user_id": ACCOUNT} if config is None else config)})


def request(mode: str = "chat", **data: Any) -> RelayRequest:
    body = {"model": "@cf/meta/llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "hi"}], **data}
    return RelayRequest(mode=mode, path=PATHS[mode], query="", body=json.dumps(body).encode(), json=body,  # type: ignore[arg-type]
                        model=body["model"], upstream_model=body["model"], stream=bool(body.get("stream")),
                        content_type="application/json", accept="")


def test_the_registry_serves_this_adaptor() -> None:
    assert adaptor_for(37) is ADAPTOR and ADAPTOR.passthrough is True


@pytest.mark.parametrize(("base", "config", "prefix"), [
    ("", None, f"https://api.cloudflare.com/client/v4/accounts/{ACCOUNT}/ai"),
    ("https://cf.proxy.example/", {"account_id": " acc9 "}, "https://cf.proxy.example/client/v4/accounts/acc9/ai"),
    ("https://api.cloudflare.com/client/v4/accounts/acc5/ai/v1", {}, "https://api.cloudflare.com/client/v4/accounts/acc5/ai"),
    ("https://api.cloudflare.com/client/v4/accounts/acc5", {}, "https://api.cloudflare.com/client/v4/accounts/acc5/ai"),
    ("https://gateway.ai.cloudflare.com/v1/acc/gw/workers-ai/", {}, "https://gateway.ai.cloudflare.com/v1/acc/gw/workers-ai"),
])
def test_api_prefix(base: str, config: dict[str, Any] | None, prefix: str) -> None:
    assert api_prefix(channel(base, config)) == prefix


def test_the_body_is_forwarded_untouched_unless_something_changes() -> None:
    plain = request(temperature=0.2)
    call = ADAPTOR.build(channel(), plain)
    assert call.url == f"https://api.cloudflare.com/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
    assert call.body is plain.body and call.headers["Authorization"] == "Bearer cf-token"
    streamed = ADAPTOR.build(channel(), request(stream=True))
    assert json.loads(streamed.body)["stream_options"] == {"include_usage": True} and streamed.stream_usage_requested
    embeddings = ADAPTOR.build(channel(), request("embeddings", input="x"))
    assert embeddings.url.endswith("/ai/v1/embeddings") and not embeddings.stream_usage_requested


def test_modes_without_an_openai_endpoint() -> None:
    with pytest.raises(RelayError) as raised:
        ADAPTOR.build(channel(), request("completions", prompt="x"))
    assert (raised.value.http_status, raised.value.code) == (501, "mode_not_supported")


@pytest.mark.parametrize("config", [{}, {"user_id": "  "}, {"user_id": 5}])
def test_a_missing_account_id_is_named(config: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.build(channel(config=config), request())
    error: OneAPIError = raised.value
    assert (error.http_status, error.code) == (500, "channel_config_invalid") and "user_id" in error.message
