"""Alibaba Qwen through DashScope's native API (channel type 17; SPEC 6.9, 11). Pure translation, no I/O.

Protocol
--------
* ``Authorization: Bearer <key>``. Chat: ``{base}/api/v1/services/aigc/text-generation/generation`` with
  ``{model, input: {messages}, parameters: {result_format: "message", ...}}``; messages with images go to
  ``.../aigc/multimodal-generation/generation`` with content lists (``[{"image": url}, {"text": ...}]``).
* The answer is ``{output: {choices: [{message, finish_reason}]}, usage: {input_tokens, output_tokens},
  request_id}``. Errors are ``{code, message, request_id}`` with the HTTP status (401 ``InvalidApiKey``,
  429 ``Throttling*``, 400 ``InvalidParameter``...).
* Streams: ``X-DashScope-SSE: enable`` and ``Accept: text/event-stream``; events are ``id:``, ``event:``
  (``result`` or ``error``), ``:HTTP_STATUS/<n>`` and ``data:{json}`` lines (no space after the colon). With
  ``incremental_output: true`` each event holds only the new text; without it, the whole text so far. Every
  event repeats the cumulative usage.
* Embeddings (``text-embedding-v1..v4``): ``.../embeddings/text-embedding/text-embedding`` with ``{model,
  input: {texts}, parameters: {dimension?}}`` → ``{output: {embeddings: [{text_index, embedding}]}, usage:
  {total_tokens}}``.
* The model suffix ``-internet`` is stripped and becomes ``enable_search: true``; the channel config's
  ``plugin`` becomes the ``X-DashScope-Plugin`` header.

One API quirks fixed here
-------------------------
* Errors are typed ``ali_error`` with DashScope's code and ``param`` = request_id (One API used the code as the
  type). A stream whose HTTP status says failure carries its error as an SSE ``event:error`` block: it is parsed.
* Embeddings use the requested model (One API always asked for ``text-embedding-v1``) and keep the inputs'
  order by ``text_index``; OpenAI's ``dimensions`` becomes DashScope's ``dimension``.
* top_p is capped below 1 (0.9999) as One API did (it must stay below 1 on older models), and temperature
  below 2 (DashScope's range is [0, 2), OpenAI's [0, 2]). Stop sequences, tool_choice, n and
  presence_penalty are forwarded (One API dropped them); answers report the client's model, not ``qwen``.
* Tool calls are forwarded both ways (assistant ``tool_calls``, ``tool`` messages with ``tool_call_id``), and
  streamed tool-call deltas keep OpenAI's ``index``.
* ``max_tokens: 0`` (OpenAI's "no limit") is not sent; a seed outside DashScope's [0, 2^31) is folded into it.
* A provider error met after some chunks of one read is raised on the next read, so the text already answered
  is delivered first; an error before any chunk fails the stream as a whole (the relay can then retry).
* The base URL may be given with ``/api/v1`` or ``/compatible-mode/v1`` (common copy-paste): it is trimmed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oneapi.proxy.adaptors.base import EVERY_FORMAT, AdaptorBase, RelayRequest, TranslatingAdaptor, UpstreamCall, Usage
from oneapi.proxy.adaptors.client_request import embedding_texts, message_text, requested_encoding
from oneapi.proxy.adaptors.common import (
    arguments_json,
    chunk,
    compact_json,
    completion_body,
    completion_id,
    counted_usage,
    embedding_list,
    json_object,
    openai_error,
    tool_call_id,
)
from oneapi.proxy.adaptors.openai import trimmed_base_url
from oneapi.proxy.adaptors.streaming import LineTranslator
from oneapi.proxy.sse import LineSplitter, data_payload, parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError, UpstreamError, upstream_error

TEXT_PATH = "/api/v1/services/aigc/text-generation/generation"
MULTIMODAL_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
EMBEDDING_PATH = "/api/v1/services/embeddings/text-embedding/text-embedding"
SEARCH_SUFFIX = "-internet"
TOP_P_CAP = 0.9999
TEMPERATURE_CAP = 1.99
# OpenAI (and DashScope-specific) fields DashScope documents as ``parameters``; the rest are dropped.
PARAMETERS = ("seed", "max_tokens", "temperature", "top_p", "top_k", "stop", "tools", "tool_choice", "n",
              "presence_penalty", "repetition_penalty", "response_format", "parallel_tool_calls",
              "enable_thinking", "thinking_budget")
_BASE_SUFFIXES = ("/api/v1", "/compatible-mode/v1")


# -- errors ----------------------------------------------------------------------------------------------


def ali_error(status: int, error: Mapping[str, Any]) -> UpstreamError:
    code = str(error.get("code") or "")
    return openai_error(status, str(error.get("message") or code or f"DashScope error {status}"), "ali_error", code,
                        str(error.get("request_id") or ""))


def status_for(code: str) -> int:
    """An HTTP status for an error that arrived inside a 200 answer (DashScope's error-code table)."""
    if code in ("InvalidApiKey", "InvalidApiKey.Invalid"):
        return 401
    if code.startswith("Throttling"):
        return 429
    if code.startswith(("Arrearage", "AccessDenied")):
        return 403
    if code.startswith(("InvalidParameter", "DataInspectionFailed", "BadRequest", "InvalidInput")):
        return 400
    return 500


def _raise_if_error(data: Mapping[str, Any], status: int = 200) -> None:
    code = data.get("code")
    if code and not data.get("output"):
        raise ali_error(status if status >= 400 else status_for(str(code)), data)


# -- requests --------------------------------------------------------------------------------------------


def with_system_prompt(messages: Any, prompt: str) -> list[dict[str, Any]]:
    """The client's messages with the channel's system prompt enforced (SPEC 1.4 step 3)."""
    out = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    if not prompt:
        return out
    if out and str(out[0].get("role")).lower() == "system":
        return [{**out[0], "role": "system", "content": prompt}, *out[1:]]
    return [{"role": "system", "content": prompt}, *out]


def _has_images(messages: list[dict[str, Any]]) -> bool:
    return any(isinstance(m.get("content"), list) and any(isinstance(p, dict) and p.get("type") == "image_url"
                                                          for p in m["content"]) for m in messages)


def _multimodal_content(content: Any) -> list[dict[str, str]]:
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, str]] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            parts.append({"text": str(part.get("text") or "")})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str):
                parts.append({"image": url})
    return parts


def _message(message: dict[str, Any], multimodal: bool) -> dict[str, Any]:
    role = str(message.get("role") or "user").lower()
    role = "system" if role == "developer" else role
    content = message.get("content")
    out: dict[str, Any] = {"role": role,
                           "content": _multimodal_content(content) if multimodal else message_text(content, "every")}
    for key in ("name", "tool_call_id"):
        if message.get(key):
            out[key] = message[key]
    if role == "assistant" and isinstance(message.get("tool_calls"), list):
        out["tool_calls"] = message["tool_calls"]
    return out


def split_model(model: str) -> tuple[str, bool]:
    """(DashScope model, enable_search): the ``-internet`` suffix asks for web search."""
    if model.endswith(SEARCH_SUFFIX):
        return model.removesuffix(SEARCH_SUFFIX), True
    return model, False


def parameters(request: RelayRequest, enable_search: bool) -> dict[str, Any]:
    data = request.json or {}
    params: dict[str, Any] = {"result_format": "message"}
    params.update({k: data[k] for k in PARAMETERS if data.get(k) is not None})
    if "max_tokens" not in params and isinstance(data.get("max_completion_tokens"), int):
        params["max_tokens"] = data["max_completion_tokens"]
    top_p = params.get("top_p")
    if isinstance(top_p, int | float) and top_p >= 1:
        params["top_p"] = TOP_P_CAP
    temperature = params.get("temperature")
    if isinstance(temperature, int | float) and temperature >= 2:
        params["temperature"] = TEMPERATURE_CAP
    if params.get("n") == 1:
        params.pop("n")
    if params.get("max_tokens") == 0:
        params.pop("max_tokens")  # OpenAI's "no limit"; DashScope wants a positive number
    seed = params.get("seed")
    if isinstance(seed, int) and not 0 <= seed < 2**31:
        params["seed"] = seed % 2**31  # DashScope takes [0, 2^31); the same seed still maps to the same value
    if request.stream:
        params["incremental_output"] = True
    if enable_search:
        params["enable_search"] = True
    return params


def chat_body(request: RelayRequest) -> tuple[dict[str, Any], bool]:
    """The DashScope body and whether it goes to the multimodal endpoint."""
    model, search = split_model(request.upstream_model)
    messages = with_system_prompt((request.json or {}).get("messages"), request.system_prompt)
    multimodal = _has_images(messages)
    body = {"model": model, "input": {"messages": [_message(m, multimodal) for m in messages]},
            "parameters": parameters(request, search)}
    return body, multimodal


def embedding_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    texts = embedding_texts(data, non_empty=True)
    if texts is None:
        raise RelayError("DashScope embeddings take a non-empty string or list of strings (not token arrays)",
                         status=400, code="invalid_text_request")
    body: dict[str, Any] = {"model": request.upstream_model, "input": {"texts": texts}}
    if isinstance(data.get("dimensions"), int):
        body["parameters"] = {"dimension": data["dimensions"]}
    return body


# -- answers ---------------------------------------------------------------------------------------------


def usage_from(data: Any) -> Usage | None:
    return counted_usage(data, "input_tokens", "output_tokens")


def content_text(content: Any) -> str:
    """Text-generation content is a string; multimodal content is a list of ``{"text": ...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def tool_calls_from(calls: Any, *, streaming: bool) -> list[dict[str, Any]]:
    """OpenAI tool calls; in streams only the fields a delta carries (ids and names come once)."""
    out: list[dict[str, Any]] = []
    for position, call in enumerate(calls if isinstance(calls, list) else []):
        if not isinstance(call, dict):
            continue
        function = _obj(call.get("function"))
        if streaming:
            item: dict[str, Any] = {"index": call.get("index", position)}
            if call.get("id"):
                item.update(id=call["id"], type="function")
            fn: dict[str, Any] = {}
            if function.get("name"):
                fn["name"] = function["name"]
            if function.get("arguments") is not None:
                fn["arguments"] = arguments_json(function["arguments"])
            item["function"] = fn
        else:
            item = {"id": call.get("id") or tool_call_id(), "type": "function",
                    "function": {"name": function.get("name") or "",
                                 "arguments": arguments_json(function.get("arguments"))}}
        out.append(item)
    return out


def finish_reason(value: Any) -> str | None:
    return None if value in (None, "", "null") else str(value)


def _choices(output: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``output.choices``, or the ``output.text`` of the legacy text format as one choice."""
    choices = output.get("choices")
    if isinstance(choices, list):
        return [c for c in choices if isinstance(c, dict)]
    if isinstance(output.get("text"), str):
        return [{"message": {"role": "assistant", "content": output["text"]},
                 "finish_reason": output.get("finish_reason")}]
    raise ValueError("the answer has no output.choices")


def _answer_message(message: Any) -> dict[str, Any]:
    message = message if isinstance(message, dict) else {}
    calls = tool_calls_from(message.get("tool_calls"), streaming=False)
    text = content_text(message.get("content"))
    out: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if isinstance(message.get("reasoning_content"), str) and message["reasoning_content"]:
        out["reasoning_content"] = message["reasoning_content"]
    if calls:
        out["tool_calls"] = calls
    return out


def response_id(data: Mapping[str, Any]) -> str:
    request_id = data.get("request_id")
    return f"chatcmpl-{request_id}" if isinstance(request_id, str) and request_id else completion_id()


def parse_chat(request: RelayRequest, data: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    _raise_if_error(data)
    output = _obj(data.get("output"))
    choices = _choices(output)
    usage = usage_from(data.get("usage"))
    answer = completion_body(response_id(data), request.model,
                             [{"index": c.get("index", i), "message": _answer_message(c.get("message")),
                               "finish_reason": finish_reason(c.get("finish_reason"))} for i, c in enumerate(choices)],
                             usage, int(request.now))
    return answer, usage


def parse_embeddings(request: RelayRequest, data: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    _raise_if_error(data)
    output = _obj(data.get("output"))
    items = [e for e in output.get("embeddings") or [] if isinstance(_obj(e).get("embedding"), list)]
    items.sort(key=lambda e: e.get("text_index", 0))
    total = _obj(data.get("usage")).get("total_tokens")
    usage = Usage(total, 0) if isinstance(total, int) else None
    return embedding_list([e["embedding"] for e in items], request.model, usage, requested_encoding(request)), usage


# -- streams ---------------------------------------------------------------------------------------------


class StreamTranslator(LineTranslator):
    """DashScope SSE (``id:``/``event:``/``:HTTP_STATUS/``/``data:`` lines) → OpenAI chunks + usage."""

    def __init__(self, request: RelayRequest) -> None:
        super().__init__(request.model, int(request.now))
        self._event = ""
        self._status = 200

    def _line(self, line: bytes) -> list[dict[str, Any]]:
        if not line.strip():
            self._event, self._status = "", 200
            return []
        if line.startswith(b":HTTP_STATUS/"):
            status = line.removeprefix(b":HTTP_STATUS/").strip()
            self._status = int(status) if status.isdigit() else 500
            return []
        if line.startswith(b"event:"):
            self._event = line[6:].strip().decode(errors="replace")
            return []
        payload = data_payload(line)
        if payload is None and line.lstrip().startswith(b"{"):
            payload = line  # a JSON answer instead of a stream
        obj = parse_json(payload) if payload is not None else None
        if not isinstance(obj, dict):
            return []  # id: lines, comments, heartbeats
        if self._event == "error" or self._status >= 400:
            raise ali_error(self._status if self._status >= 400 else status_for(str(obj.get("code") or "")), obj)
        _raise_if_error(obj)
        return self._event_chunks(obj)

    def _event_chunks(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        if not self._id:
            self._id = response_id(obj)
        usage = usage_from(obj.get("usage"))
        if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
            self.usage = usage
        output = _obj(obj.get("output"))
        out: list[dict[str, Any]] = []
        for i, choice in enumerate(_choices(output) if output else []):
            delta = self._delta(choice.get("message"))
            finish = finish_reason(choice.get("finish_reason"))
            if delta or finish:
                out.append(chunk(self._id, self._model, delta, finish, self._created, choice.get("index", i)))
        return out

    def _delta(self, message: Any) -> dict[str, Any]:
        message = message if isinstance(message, dict) else {}
        delta: dict[str, Any] = self._with_role({})
        text = content_text(message.get("content"))
        if text:
            delta["content"] = text
        if isinstance(message.get("reasoning_content"), str) and message["reasoning_content"]:
            delta["reasoning_content"] = message["reasoning_content"]
        calls = tool_calls_from(message.get("tool_calls"), streaming=True)
        if calls:
            delta["tool_calls"] = calls
        return delta


def error_object(body: bytes) -> dict[str, Any] | None:
    """DashScope's ``{code, message, request_id}``: a JSON body, or the ``data:`` line of an SSE error."""
    data = parse_json(body)
    if isinstance(data, dict):
        return data
    for line in LineSplitter().feed(body + b"\n"):
        payload = data_payload(line)
        found = parse_json(payload) if payload is not None else None
        if isinstance(found, dict):
            return found
    return None


# -- the adaptor -----------------------------------------------------------------------------------------


class AliAdaptor(AdaptorBase):
    name = "ali"
    passthrough = False
    inline_images = False
    serves_n = True
    response_formats = EVERY_FORMAT
    serves_tools = True
    serves_images = True

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        headers = {"Authorization": f"Bearer {channel.key}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        base = trimmed_base_url(channel, _BASE_SUFFIXES)
        if request.mode == "embeddings":
            return UpstreamCall("POST", base + EMBEDDING_PATH, headers, compact_json(embedding_body(request)))
        if request.mode != "chat":
            raise RelayError(f"Ali channels serve chat completions and embeddings, not {request.mode}",
                             status=501, code="mode_not_supported")
        if request.stream:
            headers.update({"Accept": "text/event-stream", "X-DashScope-SSE": "enable"})
        plugin = channel.config.get("plugin")
        if plugin:
            headers["X-DashScope-Plugin"] = plugin if isinstance(plugin, str) else json.dumps(plugin)
        body, multimodal = chat_body(request)
        return UpstreamCall("POST", base + (MULTIMODAL_PATH if multimodal else TEXT_PATH), headers, compact_json(body))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        data = json_object(body)
        if request.mode == "embeddings":
            return parse_embeddings(request, data)
        return parse_chat(request, data)

    def stream_translator(self, request: RelayRequest) -> StreamTranslator:
        return StreamTranslator(request)

    def error(self, status: int, body: bytes) -> Exception:
        found = error_object(body)
        if found is not None and (found.get("code") or found.get("message")):
            return ali_error(status, found)
        return upstream_error(status, body)


ADAPTOR = AliAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
