"""OpenAI and every OpenAI-protocol channel type (SPEC 6.0-6.2): OpenAI, Azure OpenAI, 360, Custom,
OpenAI-Compatible and the vendors that speak OpenAI's API (DeepSeek, Moonshot, Mistral, Groq, OpenRouter,
SiliconFlow, xAI, Ollama's /v1, ...).

The original body bytes are forwarded untouched whenever nothing has to change (SPEC 1.4); otherwise the
parsed body is re-serialised with the mapped model, the channel's system prompt, and — for streams —
``stream_options.include_usage`` so the upstream reports usage instead of us counting tokens.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from oneapi.channel_types import ChannelType
from oneapi.proxy.adaptors.base import EVERY_FORMAT, Adaptor, AdaptorBase, RelayRequest, UpstreamCall
from oneapi.wire.channel import RouteChannel

AZURE_DEFAULT_API_VERSION = "2024-03-01-preview"
# Azure accepts stream_options from the 2024-09-01-preview API version on (older ones answer 400).
_AZURE_STREAM_OPTIONS_SINCE = "2024-09-01"
CLOUDFLARE_GATEWAY = "https://gateway.ai.cloudflare.com"
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_ENGINES_EMBEDDINGS = re.compile(r"^/v1/engines/[^/]+/embeddings$")


def upstream_path(request: RelayRequest) -> str:
    """The client's path, except that the legacy ``/v1/engines/{model}/embeddings`` form (which OpenAI no
    longer serves) is sent as ``/v1/embeddings`` with the model in the body."""
    if request.mode == "embeddings" and _ENGINES_EMBEDDINGS.match(request.path):
        return "/v1/embeddings"
    return request.path


def base_url(channel: RouteChannel) -> str:
    """The channel's base URL, else its type's default (every upstream URL derives from this)."""
    return channel.base_url or channel.default_base_url


def trimmed_base_url(channel: RouteChannel, api_paths: tuple[str, ...]) -> str:
    """:func:`base_url` without a trailing slash or a trailing API path (``api_paths``, trimmed in order): a
    common copy-paste mistake for providers whose paths we add ourselves."""
    base = base_url(channel).rstrip("/")
    for suffix in api_paths:
        base = base.removesuffix(suffix)
    return base


def _rewrite(request: RelayRequest, *, stream_options: bool) -> tuple[bytes, bool]:
    """The body to send and whether we added a usage request the client did not make."""
    body = request.json
    mapped = request.upstream_model != request.model
    wants_usage = request.stream and stream_options and not request.include_usage
    engines = upstream_path(request) != request.path  # the body may lack the model the path carried
    if body is None or not (mapped or request.system_prompt or wants_usage or engines):
        return request.body, False
    out: dict[str, Any] = dict(body)
    if mapped or engines:
        out["model"] = request.upstream_model
    if request.system_prompt and request.mode == "chat" and isinstance(out.get("messages"), list):
        messages = list(out["messages"])
        first = messages[0] if messages else None
        if isinstance(first, dict) and first.get("role") == "system":
            messages[0] = {**first, "content": request.system_prompt}
        else:
            messages.insert(0, {"role": "system", "content": request.system_prompt})
        out["messages"] = messages
    if wants_usage:
        options = out.get("stream_options")
        out["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode(), wants_usage


def _headers(request: RelayRequest, auth: dict[str, str]) -> dict[str, str]:
    headers = {"Content-Type": request.content_type or "application/json", **auth}
    headers["Accept"] = request.accept or ("text/event-stream" if request.stream else "application/json")
    return headers


class OpenAIAdaptor(AdaptorBase):
    name = "openai"
    passthrough = True
    serves_n = True
    response_formats = EVERY_FORMAT
    serves_tools = True
    serves_images = True

    def url(self, channel: RouteChannel, request: RelayRequest) -> str:
        base = base_url(channel)
        path = upstream_path(request)
        if channel.type == ChannelType.OPENAI_COMPATIBLE or base.startswith(CLOUDFLARE_GATEWAY):
            path = path.removeprefix("/v1")  # the base URL already carries the version path
        return base + path + (f"?{request.query}" if request.query else "")

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        body, added_usage = _rewrite(request, stream_options=request.mode in ("chat", "completions"))
        auth = {"Authorization": f"Bearer {channel.key}"}
        if channel.type == ChannelType.OPENROUTER:
            auth.update({"HTTP-Referer": "https://github.com/songquanpeng/one-api", "X-Title": "One API"})
        return UpstreamCall("POST", self.url(channel, request), _headers(request, auth), body, added_usage)


def azure_api_version(channel: RouteChannel) -> str:
    version = channel.config.get("api_version") or channel.other or AZURE_DEFAULT_API_VERSION
    return str(version).strip()


def azure_deployment(model: str) -> str:
    """Azure deployment names cannot contain dots: gpt-3.5-turbo → gpt-35-turbo (One API's convention)."""
    return model.replace(".", "")


class AzureAdaptor(AdaptorBase):
    name = "azure"
    passthrough = True
    serves_n = True
    response_formats = EVERY_FORMAT
    serves_tools = True
    serves_images = True

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        version = azure_api_version(channel)
        found = _DATE.search(version)
        stream_options = bool(found and found.group(1) >= _AZURE_STREAM_OPTIONS_SINCE)
        body, added_usage = _rewrite(request, stream_options=stream_options and request.mode == "chat")
        task = upstream_path(request).removeprefix("/v1/")
        base = base_url(channel)
        prefix = "" if base.startswith(CLOUDFLARE_GATEWAY) else "/openai/deployments"
        url = f"{base}{prefix}/{azure_deployment(request.upstream_model)}/{task}?api-version={version}"
        headers = _headers(request, {"api-key": channel.key})
        return UpstreamCall("POST", url, headers, body, added_usage, drop_empty_chunks=True)


OPENAI = OpenAIAdaptor()
AZURE_OPENAI = AzureAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptors meet the protocol the relay relies on
    _CHECKED: tuple[Adaptor, Adaptor] = (OPENAI, AZURE_OPENAI)
