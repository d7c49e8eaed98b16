"""A Messages request forwarded to an Anthropic channel as the client sent it. Pure.

The body's bytes go out unchanged unless the channel changes them: its ``model_mapping`` (the mapped model is
written into the body) or its system prompt (which replaces ``system``, as on every other route). The client's
``anthropic-version`` and ``anthropic-beta`` headers are passed on (a client using a beta feature needs it);
the key is the channel's.
"""

from __future__ import annotations

from typing import Any

from oneapi.proxy.adaptors.anthropic import API_VERSION
from oneapi.proxy.adaptors.base import EVERY_FORMAT, AdaptorBase, RelayRequest, UpstreamCall
from oneapi.proxy.adaptors.common import compact_json
from oneapi.proxy.adaptors.openai import base_url
from oneapi.wire.channel import RouteChannel


class NativeMessages(AdaptorBase):
    """The adaptor of one request: ``path`` is ``/v1/messages`` or ``/v1/messages/count_tokens``."""

    name = "anthropic-messages"
    passthrough = True
    # The client's own request, forwarded as written: the provider, not oneapi, judges what it asks.
    serves_n = True
    response_formats = EVERY_FORMAT
    serves_tools = True
    serves_images = True

    def __init__(self, data: dict[str, Any], body: bytes, path: str, version: str = "", beta: str = "") -> None:
        self._data = data
        self._body = body
        self._path = path
        self._version = version or API_VERSION
        self._beta = beta

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        body = self._body
        if request.upstream_model != self._data.get("model") or request.system_prompt:
            changed = dict(self._data)
            changed["model"] = request.upstream_model
            if request.system_prompt:
                changed["system"] = request.system_prompt
            body = compact_json(changed)
        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream" if request.stream else "application/json",
                   "x-api-key": channel.key, "anthropic-version": self._version}
        if self._beta:
            headers["anthropic-beta"] = self._beta
        return UpstreamCall("POST", f"{base_url(channel)}{self._path}", headers, body)
