"""Cohere (channel type 35): OpenAI chat completions and embeddings ⇄ Cohere's API v2. Pure, no I/O.

Protocol (https://docs.cohere.com/v2/reference/chat, /v2/reference/embed)
-----------------------------------------------------------------------
* ``Authorization: Bearer <key>``. Chat: ``POST {base}/v2/chat`` with ``{model, messages, tools, tool_choice,
  max_tokens, stop_sequences, temperature, seed, frequency_penalty, presence_penalty, k, p, response_format,
  stream}``. Messages are close to OpenAI's: roles system/user/assistant/tool, user content a string or a list
  of ``text`` / ``image_url`` parts, assistant ``tool_calls`` of ``{id, type: function, function: {name,
  arguments}}``, tool results ``{role: tool, tool_call_id, content}``. Tools are OpenAI's function tools.
* The answer is ``{id, finish_reason, message: {role, content: [{type: text|thinking, ...}], tool_plan,
  tool_calls}, usage: {billed_units: {input_tokens, output_tokens}, tokens: {...}}}``. Finish reasons:
  COMPLETE / STOP_SEQUENCE → ``stop``, MAX_TOKENS → ``length``, TOOL_CALL → ``tool_calls``; ERROR and TIMEOUT
  are failures (500 / 504).
* Streams are SSE events ``event: <type>`` + ``data: {"type": <type>, ...}``: ``message-start`` (id),
  ``content-start``/``content-delta`` (text or thinking), ``tool-plan-delta``, ``tool-call-start`` (id, name,
  first arguments), ``tool-call-delta`` (argument fragments), ``tool-call-end``, ``citation-*``,
  ``content-end``, ``message-end`` (finish_reason, usage, error).
* Embeddings: ``POST {base}/v2/embed`` with ``{model, texts (≤ 96), input_type, embedding_types: ["float"],
  output_dimension?}`` → ``{id, embeddings: {float: [[...]]}, meta: {billed_units: {input_tokens}}}``.
  ``input_type`` is required by Cohere and unknown to OpenAI: the client may send it (``extra_body``), else
  ``search_document`` is used (the type for text that is stored and searched later).
* Errors: the HTTP status with ``{"id", "message"}``; 498 (Cohere's invalid token) is reported as 401 so that
  automatic disabling recognises a bad key.

Translation choices
-------------------
* Billing uses ``usage.billed_units`` (what Cohere charges), else ``usage.tokens``.
* The channel's system prompt replaces every system (and ``developer``) message; the rest are sent in order.
* ``top_p`` is clamped into Cohere's [0.01, 0.99]; penalties into [0, 1] (OpenAI's negatives mean "none").
  ``stop`` keeps the first 5 sequences (Cohere's maximum). A named ``tool_choice`` (which Cohere cannot
  express) sends only that tool with ``REQUIRED``; ``required``/``none`` are REQUIRED/NONE.
* ``response_format`` ``json_object`` is Cohere's ``json_object``; ``json_schema`` its ``json_object`` with
  ``json_schema``.
* Refused with a 400 before any call: ``n`` > 1 (Cohere generates one answer), the ``-internet`` suffix of One
  API's v1 adaptor (API v2 has no web-search connector), and embeddings inputs other than strings.
* The answer's ``tool_plan`` (Cohere's commentary before tool calls) is not returned as content: a client
  that sends the message back would otherwise add text Cohere never produced as the answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oneapi.proxy.adaptors.base import EVERY_FORMAT, AdaptorBase, RelayRequest, TranslatingAdaptor, UpstreamCall, Usage
from oneapi.proxy.adaptors.client_request import embedding_texts, is_number, message_text, requested_encoding
from oneapi.proxy.adaptors.common import (
    arguments_json,
    chat_completion,
    chunk,
    compact_json,
    completion_id,
    counted_usage,
    embedding_list,
    json_object,
    openai_error,
)
from oneapi.proxy.adaptors.openai import trimmed_base_url
from oneapi.proxy.adaptors.streaming import LineTranslator
from oneapi.proxy.sse import data_payload, parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError, UpstreamError, upstream_error

CHAT_PATH = "/v2/chat"
EMBED_PATH = "/v2/embed"
ERROR_TYPE = "cohere_error"
DEFAULT_INPUT_TYPE = "search_document"
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering", "image")
MAX_TEXTS = 96
MAX_STOP_SEQUENCES = 5
SEARCH_SUFFIX = "-internet"
FINISH_REASONS = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls"}
FAILED = {"ERROR": 500, "TIMEOUT": 504}
_CODES = {400: "invalid_request", 401: "invalid_api_key", 402: "payment_required", 403: "forbidden",
          404: "not_found", 422: "unprocessable_entity", 429: "rate_limit_exceeded", 498: "invalid_api_key",
          499: "client_closed_request", 500: "internal_server_error", 501: "not_implemented",
          503: "service_unavailable", 504: "gateway_timeout"}
_BASE_SUFFIXES = ("/v2", "/v1")


def refusal(message: str) -> RelayError:
    return RelayError(message, status=400, code="invalid_request")


def cohere_error(status: int, message: str) -> UpstreamError:
    reported = 401 if status == 498 else status
    return openai_error(reported, message or f"bad response status code {status}", ERROR_TYPE,
                        _CODES.get(status, ERROR_TYPE))


# -- requests --------------------------------------------------------------------------------------------


def _content(content: Any) -> str | list[dict[str, Any]]:
    """A user message's content: a string stays a string; a list keeps its text and image parts."""
    if not isinstance(content, list):
        return content if isinstance(content, str) else ""
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url:
                out: dict[str, Any] = {"url": url}
                if isinstance(image, dict) and image.get("detail") in ("auto", "low", "high"):
                    out["detail"] = image["detail"]
                parts.append({"type": "image_url", "image_url": out})
    return parts


def _tool_calls(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    out: list[dict[str, Any]] = []
    for call in calls if isinstance(calls, list) else []:
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            out.append({"id": str(call.get("id") or f"call_{len(out)}"), "type": "function",
                        "function": {"name": fn["name"], "arguments": arguments_json(fn.get("arguments"))}})
    return out


def convert_messages(messages: list[Any], system_prompt: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            text = message_text(message.get("content"), "filled")
            if not system_prompt and text:
                out.append({"role": "system", "content": text})
        elif role == "assistant":
            turn: dict[str, Any] = {"role": "assistant"}
            text = message_text(message.get("content"), "filled")
            calls = _tool_calls(message)
            if text:
                turn["content"] = text
            if calls:
                turn["tool_calls"] = calls
            if len(turn) > 1:  # Cohere refuses an assistant turn with neither text nor calls
                out.append(turn)
        elif role in ("tool", "function"):
            content = message.get("content")
            text = content if isinstance(content, str) else message_text(content, "filled") \
                if isinstance(content, list) else json.dumps(content, ensure_ascii=False)
            out.append({"role": "tool", "tool_call_id": str(message.get("tool_call_id") or message.get("name") or ""),
                        "content": text})
        else:
            out.append({"role": "user", "content": _content(message.get("content"))})
    return out


def _function_tools(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    tools = data.get("tools")
    if not isinstance(tools, list) or not tools:
        functions = data.get("functions")  # the legacy form
        tools = [{"type": "function", "function": f} for f in functions] if isinstance(functions, list) else []
    out: list[dict[str, Any]] = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            continue
        function: dict[str, Any] = {"name": fn["name"]}
        if isinstance(fn.get("description"), str) and fn["description"]:
            function["description"] = fn["description"]
        params = fn.get("parameters")
        function["parameters"] = params if isinstance(params, dict) else {"type": "object", "properties": {}}
        out.append({"type": "function", "function": function})
    return out


def _apply_tools(body: dict[str, Any], data: Mapping[str, Any]) -> None:
    tools = _function_tools(data)
    if not tools:
        return
    choice = data.get("tool_choice", data.get("function_call"))
    if isinstance(choice, dict):  # a named function: offer only it, and require a call
        inner = choice.get("function")
        name = (inner if isinstance(inner, dict) else choice).get("name")
        chosen = [t for t in tools if t["function"]["name"] == name]
        if not chosen:
            raise refusal(f"tool_choice names the function {name!r}, which is not among the tools")
        body["tools"], body["tool_choice"] = chosen, "REQUIRED"
        return
    body["tools"] = tools
    if choice == "required":
        body["tool_choice"] = "REQUIRED"
    elif choice == "none":
        body["tool_choice"] = "NONE"


def _response_format(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    if value.get("type") == "json_object":
        return {"type": "json_object"}
    spec = value.get("json_schema")
    if value.get("type") == "json_schema" and isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
        return {"type": "json_object", "json_schema": spec["schema"]}
    return None


def _clamped(value: Any, low: float, high: float) -> float | None:
    return min(high, max(low, float(value))) if is_number(value) else None


def chat_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    n = data.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        raise refusal("Cohere channels generate one answer per request: n must be 1")
    if request.upstream_model.endswith(SEARCH_SUFFIX):
        raise refusal(f"the {SEARCH_SUFFIX} models used Cohere's v1 web-search connector, which the v2 Chat API "
                      "does not have: ask for the model without the suffix")
    messages = data.get("messages")
    body: dict[str, Any] = {"model": request.upstream_model,
                            "messages": convert_messages(messages if isinstance(messages, list) else [],
                                                         request.system_prompt)}
    _apply_tools(body, data)
    limit = data.get("max_completion_tokens") or data.get("max_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        body["max_tokens"] = limit
    stop = data.get("stop")
    stops = [s for s in ([stop] if isinstance(stop, str) else stop if isinstance(stop, list) else [])
             if isinstance(s, str) and s]
    if stops:
        body["stop_sequences"] = stops[:MAX_STOP_SEQUENCES]
    if is_number(data.get("temperature")):
        body["temperature"] = max(0.0, float(data["temperature"]))
    if isinstance(data.get("seed"), int) and not isinstance(data["seed"], bool):
        body["seed"] = data["seed"]
    for name in ("frequency_penalty", "presence_penalty"):
        value = _clamped(data.get(name), 0.0, 1.0)
        if value is not None:
            body[name] = value
    if isinstance(data.get("top_k"), int) and not isinstance(data["top_k"], bool):
        body["k"] = min(500, max(0, data["top_k"]))
    p = _clamped(data.get("top_p"), 0.01, 0.99)
    if p is not None:
        body["p"] = p
    response_format = _response_format(data.get("response_format"))
    if response_format is not None:
        body["response_format"] = response_format
    if request.stream:
        body["stream"] = True
    return body


def embed_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    texts = embedding_texts(data, non_empty=True)
    if texts is None:
        raise refusal("Cohere embeddings take a non-empty string or list of non-empty strings (not token arrays)")
    if len(texts) > MAX_TEXTS:
        raise refusal(f"Cohere embeds at most {MAX_TEXTS} texts per request, not {len(texts)}")
    input_type = data.get("input_type", DEFAULT_INPUT_TYPE)
    if input_type not in INPUT_TYPES:
        raise refusal(f"input_type must be one of {', '.join(INPUT_TYPES)}")
    body: dict[str, Any] = {"model": request.upstream_model, "texts": texts, "input_type": input_type,
                            "embedding_types": ["float"]}
    dimensions = data.get("dimensions")
    if isinstance(dimensions, int) and not isinstance(dimensions, bool) and dimensions > 0:
        body["output_dimension"] = dimensions
    return body


# -- answers ---------------------------------------------------------------------------------------------


def usage_of(usage: Any) -> Usage | None:
    """Cohere's billed units (what it charges), else its token counts. Counts are JSON numbers (maybe 12.0)."""
    if not isinstance(usage, dict):
        return None
    for key in ("billed_units", "tokens"):
        found = counted_usage(_integers(usage.get(key)), "input_tokens", "output_tokens")
        if found is not None:
            return found
    return None


def _integers(data: Any) -> dict[str, int]:
    if not isinstance(data, dict):
        return {}
    return {k: int(v) for k, v in data.items() if is_number(v)}


def _failure(reason: Any, message: Any) -> UpstreamError:
    status = FAILED.get(str(reason), 500)
    return cohere_error(status, str(message or f"Cohere ended the answer with {reason}"))


def finish_reason(reason: Any) -> str:
    return FINISH_REASONS.get(str(reason), "stop")


def parse_chat(request: RelayRequest, data: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    if data.get("finish_reason") in FAILED:
        raise _failure(data["finish_reason"], data.get("message") if isinstance(data.get("message"), str) else "")
    found = data.get("message")
    message: dict[str, Any] = found if isinstance(found, dict) else {}
    texts, thoughts = [], []
    for item in message.get("content") or []:
        if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str):
            texts.append(item["text"])
        elif isinstance(item, dict) and item.get("type") == "thinking" and isinstance(item.get("thinking"), str):
            thoughts.append(item["thinking"])
    calls = _tool_calls(message)
    answer: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if thoughts:
        answer["reasoning_content"] = "".join(thoughts)
    if calls:
        answer["tool_calls"] = calls
    usage = usage_of(data.get("usage"))
    response_id = f"chatcmpl-{data['id']}" if isinstance(data.get("id"), str) and data["id"] else completion_id()
    return chat_completion(response_id, request.upstream_model, answer, finish_reason(data.get("finish_reason")),
                           usage, int(request.now)), usage


def parse_embeddings(request: RelayRequest, data: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    embeddings = data.get("embeddings")
    vectors = embeddings.get("float") if isinstance(embeddings, dict) else embeddings  # v1's bare list too
    if not isinstance(vectors, list):
        raise ValueError("the answer has no float embeddings")
    meta = data.get("meta")
    billed = _integers(meta.get("billed_units")) if isinstance(meta, dict) else {}
    usage = Usage(billed["input_tokens"], 0) if "input_tokens" in billed else None
    return embedding_list([[float(x) for x in v] for v in vectors], request.upstream_model, usage,
                          requested_encoding(request)), usage


# -- streams ---------------------------------------------------------------------------------------------


class CohereStream(LineTranslator):
    """Cohere's SSE events → OpenAI chunks. Only ``data:`` lines matter (each names its own ``type``);
    ``message-end`` sets the usage and the finish reason, or raises when the generation failed."""

    def __init__(self, request: RelayRequest) -> None:
        super().__init__(request.upstream_model, int(request.now))
        self._id = completion_id()
        self._tools: dict[Any, int] = {}  # Cohere's tool call index → OpenAI's

    def _line(self, line: bytes) -> list[dict[str, Any]]:
        payload = data_payload(line)
        event = parse_json(payload) if payload is not None else None
        if not isinstance(event, dict):
            return []
        kind = event.get("type")
        found = event.get("delta")
        delta: dict[str, Any] = found if isinstance(found, dict) else {}
        inner = delta.get("message")
        message: dict[str, Any] = inner if isinstance(inner, dict) else {}
        if kind == "message-start":
            if isinstance(event.get("id"), str) and event["id"]:
                self._id = f"chatcmpl-{event['id']}"
            return []
        if kind in ("content-start", "content-delta"):
            return self._content(message.get("content"))
        if kind == "tool-call-start":
            return self._tool_start(event.get("index"), message.get("tool_calls"))
        if kind == "tool-call-delta":
            calls = message.get("tool_calls")
            fn = calls.get("function") if isinstance(calls, dict) else None
            arguments = fn.get("arguments") if isinstance(fn, dict) else None
            if isinstance(arguments, str) and arguments and event.get("index") in self._tools:
                return [self._chunk({"tool_calls": [{"index": self._tools[event.get("index")],
                                                     "function": {"arguments": arguments}}]})]
            return []
        if kind == "message-end":
            return self._end_of_message(delta)
        return []  # tool-plan-delta, tool-call-end, content-end, citation-start/end

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk(self._id, self._model, self._with_role(delta), finish, self._created)

    def _content(self, content: Any) -> list[dict[str, Any]]:
        if not isinstance(content, dict):
            return []
        if isinstance(content.get("text"), str) and content["text"]:
            return [self._chunk({"content": content["text"]})]
        if isinstance(content.get("thinking"), str) and content["thinking"]:
            return [self._chunk({"reasoning_content": content["thinking"]})]
        return []

    def _tool_start(self, index: Any, call: Any) -> list[dict[str, Any]]:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            return []
        position = self._tools[index] = len(self._tools)
        arguments = fn.get("arguments")
        return [self._chunk({"tool_calls": [{"index": position, "id": str(call.get("id") or ""), "type": "function",
                                             "function": {"name": str(fn.get("name") or ""),
                                                          "arguments": arguments if isinstance(arguments, str)
                                                          else ""}}]})]

    def _end_of_message(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        usage = usage_of(delta.get("usage"))
        if usage is not None:
            self.usage = usage
        reason = delta.get("finish_reason")
        if reason in FAILED or delta.get("error"):
            raise _failure(reason, delta.get("error"))
        return [self._chunk({}, finish_reason(reason))]


# -- the adaptor -----------------------------------------------------------------------------------------


class CohereAdaptor(AdaptorBase):
    name = "cohere"
    passthrough = False
    # Cohere v2: one answer per request; JSON mode with or without a schema; tools; images.
    response_formats = EVERY_FORMAT
    serves_tools = True
    serves_images = True
    inline_images = False  # Cohere fetches image URLs itself and takes data URLs as they are

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        base = trimmed_base_url(channel, _BASE_SUFFIXES)
        headers = {"Authorization": f"Bearer {channel.key}", "Content-Type": "application/json",
                   "Accept": "text/event-stream" if request.stream else "application/json"}
        if request.mode == "chat":
            return UpstreamCall("POST", base + CHAT_PATH, headers, compact_json(chat_body(request)))
        if request.mode == "embeddings":
            return UpstreamCall("POST", base + EMBED_PATH, headers, compact_json(embed_body(request)))
        raise RelayError(f"Cohere channels serve chat completions and embeddings, not {request.mode}", status=501,
                         code="mode_not_supported")

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        data = json_object(body)
        if request.mode == "embeddings":
            return parse_embeddings(request, data)
        return parse_chat(request, data)

    def stream_translator(self, request: RelayRequest) -> CohereStream:
        return CohereStream(request)

    def error(self, status: int, body: bytes) -> Exception:
        data = parse_json(body)
        if isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"]:
            return cohere_error(status, data["message"])
        if status == 498:
            return cohere_error(status, "")
        return upstream_error(status, body)


ADAPTOR = CohereAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
