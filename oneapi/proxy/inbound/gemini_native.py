"""A generateContent request forwarded to a Gemini channel as the client sent it. Pure.

The model travels in the URL, so the channel's ``model_mapping`` changes only the URL; the body's bytes go out
unchanged unless the channel has a system prompt (which replaces ``systemInstruction``, as on every other
route). The URL keeps the client's API version (``v1beta``) and action; the key is the channel's, in
``x-goog-api-key`` (never the client's ``?key=``).
"""

from __future__ import annotations

from typing import Any

from oneapi.proxy.adaptors.base import EVERY_FORMAT, AdaptorBase, RelayRequest, UpstreamCall
from oneapi.proxy.adaptors.common import compact_json
from oneapi.proxy.adaptors.openai import base_url
from oneapi.wire.channel import RouteChannel


class NativeGenerate(AdaptorBase):
    name = "gemini-generate"
    passthrough = True
    # The client's own request, forwarded as written: the provider, not oneapi, judges what it asks.
    serves_n = True
    response_formats = EVERY_FORMAT
    serves_tools = True
    serves_images = True

    def __init__(self, data: dict[str, Any], body: bytes, version: str) -> None:
        self._data = data
        self._body = body
        self._version = version

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        body = self._body
        if request.system_prompt:
            changed = {k: v for k, v in self._data.items() if k not in ("systemInstruction", "system_instruction")}
            changed["systemInstruction"] = {"parts": [{"text": request.system_prompt}]}
            body = compact_json(changed)
        model = request.upstream_model.removeprefix("models/")
        action = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        headers = {"Content-Type": "application/json", "x-goog-api-key": channel.key,
                   "Accept": "text/event-stream" if request.stream else "application/json"}
        return UpstreamCall("POST", f"{base_url(channel).rstrip('/')}/{self._version}/models/{model}:{action}",
                            headers, body)
