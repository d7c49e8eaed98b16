"""Google PaLM 2 (channel type 11): OpenAI chat ↔ ``generateMessage`` of the v1beta2 API (SPEC 6.4). Pure.

* URL ``{base}/v1beta2/models/chat-bison-001:generateMessage`` (the upstream model when it is a ``chat-bison``
  model), header ``x-goog-api-key``.
* Body ``{prompt: {context?, messages: [{author, content}]}, temperature, candidateCount, topP, topK}``: user
  messages have author ``"0"``, assistant messages ``"1"``; consecutive messages of one author are joined
  because PaLM wants them to alternate. System messages (or the channel's system prompt) become
  ``prompt.context``, the field PaLM has for them, instead of One API's author-"1" messages.
* ``topK`` comes from ``top_k`` only: One API filled it from ``max_tokens`` (a quirk, fixed here).
* Answer: every candidate becomes a choice (finish_reason ``stop``); no candidates → an error naming the
  ``filters`` reason. PaLM reports no usage: ``None``, so the relay counts tokens.
* Streams: PaLM cannot stream. The relay sends the same ``generateMessage`` call; the translator buffers the
  whole JSON body and emits, at the end, one content chunk per candidate and a ``stop`` chunk.
* Errors: Google's ``{"error": {"code", "message", "status"}}``, as for Gemini.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from oneapi.proxy.adaptors.base import AdaptorBase, RelayRequest, TranslatingAdaptor, UpstreamCall, Usage
from oneapi.proxy.adaptors.client_request import is_number, merged_turns, message_text
from oneapi.proxy.adaptors.common import chunk, compact_json, completion_body, completion_id, openai_error
from oneapi.proxy.adaptors.gemini import google_error
from oneapi.proxy.adaptors.openai import base_url
from oneapi.proxy.sse import parse_json
from oneapi.wire.channel import RouteChannel

DEFAULT_MODEL: Final = "chat-bison-001"
USER, MODEL = "0", "1"
MAX_BODY: Final = 16 * 1024 * 1024


def prompt_of(messages: Any, system_prompt: str = "") -> dict[str, Any]:
    context: list[str] = []
    turns: list[tuple[str, list[str]]] = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        text = message_text(message.get("content"), "strings")
        if message.get("role") in ("system", "developer"):
            context.append(text)
        elif text.strip():
            turns.append((MODEL if message.get("role") == "assistant" else USER, [text]))
    prompt: dict[str, Any] = {"messages": [{"author": author, "content": "\n".join(texts)}
                                           for author, texts in merged_turns(turns)]}
    context = [system_prompt] if system_prompt else [c for c in context if c.strip()]
    if context:
        prompt["context"] = "\n".join(context)
    return prompt


def message_body(data: dict[str, Any], system_prompt: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt_of(data.get("messages"), system_prompt)}
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        if is_number(data.get(source)):
            body[target] = data[source]
    n = data.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        body["candidateCount"] = n
    return body


def candidates_of(data: Any) -> list[str]:
    """The candidates' texts, or the UpstreamError the answer stands for."""
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    error = data.get("error")
    if isinstance(error, dict) and error.get("code"):
        code = error["code"]
        raise google_error(code if isinstance(code, int) and 400 <= code <= 599 else 500, data)
    texts = [str(c.get("content") or "") for c in data.get("candidates") or [] if isinstance(c, dict)]
    if texts:
        return texts
    filters = [f for f in data.get("filters") or [] if isinstance(f, dict)]
    if filters:
        reason = str(filters[0].get("reason") or "OTHER")
        raise openai_error(400, f"PaLM returned no candidates (filtered: {reason})", "content_filter", reason)
    raise openai_error(500, "No candidates returned", "server_error", "500")


class PalmStream:
    """The pseudo-stream: buffer the generateMessage JSON, then emit it as chunks when it is complete."""

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self._model = model
        self._body = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if len(self._body) + len(data) > MAX_BODY:
            raise openai_error(500, "the PaLM answer is too large", "upstream_error", "response_too_large")
        self._body += data
        return []

    def finish(self) -> list[dict[str, Any]]:
        data = parse_json(bytes(self._body))
        if data is None:
            raise openai_error(500, "PaLM answered with a body that is not JSON", "upstream_error", "bad_response")
        texts = candidates_of(data)
        response_id, created = completion_id(), int(time.time())
        out = [chunk(response_id, self._model, {"role": "assistant", "content": text}, None, created, i)
               for i, text in enumerate(texts)]
        return out + [chunk(response_id, self._model, {}, "stop", created, i) for i in range(len(texts))]


class PalmAdaptor(AdaptorBase):
    name = "palm"
    passthrough = False
    inline_images = False
    serves_n = True

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        if request.mode != "chat":
            raise ValueError(f"PaLM channels serve chat only, not {request.mode}")
        model = request.upstream_model.removeprefix("models/")
        model = model if model.startswith("chat-bison") else DEFAULT_MODEL
        body = message_body(request.json or {}, request.system_prompt)
        return UpstreamCall("POST", f"{base_url(channel).rstrip('/')}/v1beta2/models/{model}:generateMessage",
                            {"Content-Type": "application/json", "Accept": "application/json",
                             "x-goog-api-key": channel.key}, compact_json(body))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        texts = candidates_of(parse_json(body))
        choices = [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                   for i, text in enumerate(texts)]
        return completion_body(completion_id(), request.upstream_model, choices, None, int(time.time())), None

    def stream_translator(self, request: RelayRequest) -> PalmStream:
        return PalmStream(request.upstream_model)

    def error(self, status: int, body: bytes) -> Exception:
        return google_error(status, body)


ADAPTOR = PalmAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
