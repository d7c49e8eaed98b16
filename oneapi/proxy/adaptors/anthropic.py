"""Anthropic Claude (channel type 14): OpenAI chat completions ⇄ Anthropic's Messages API (SPEC 6.3, 11).

Request (:func:`request_body`): ``POST {base}/v1/messages`` with ``x-api-key`` and ``anthropic-version:
2023-06-01`` (the client's own header never reaches an adaptor). Every system (and ``developer``) message is
merged, in order, into the top-level ``system`` string — the channel's system prompt replaces them all. The rest
becomes strictly alternating ``user``/``assistant`` turns of content blocks: text (empty or whitespace-only text
is dropped), images as base64 sources from the bytes the relay fetched (``RelayRequest.images``; data URLs are
decoded here if the relay has not; any other URL is left to Anthropic as a ``url`` source), assistant
``tool_calls`` as ``tool_use`` blocks (arguments parsed; invalid JSON becomes ``{}``), and ``tool`` messages as
``tool_result`` blocks in a user turn. Consecutive same-role turns are merged, tool results are put first in
their turn and paired with the ``tool_use`` ids of the assistant turn just before (an unknown or missing id takes
the next unanswered one; a result with nothing to answer is sent as text), a placeholder user turn is inserted
when the conversation would start with the assistant, and a final assistant turn (a prefill) loses its trailing
whitespace. ``max_tokens`` (or ``max_completion_tokens``) defaults to the model's maximum output on a plain
request (``wire.model_limits``, a pure table; 4096 for a model it does not know); ``temperature`` is clamped to
Anthropic's 0–1; ``top_p``/``top_k`` are copied; ``stop`` becomes ``stop_sequences``; ``tools`` become
``{name, description, input_schema}``; ``tool_choice`` auto/none/required/named becomes auto/none/any/tool,
with ``parallel_tool_calls: false`` as ``disable_parallel_tool_use``; ``user`` becomes ``metadata.user_id``.
``response_format`` json_schema / json_object becomes the tool ``json_answer`` (the client's schema as its
``input_schema``) called by force — chosen over the Messages API's ``output_config.format`` because it works on
every Claude model, on this API version, without a beta header; its input is answered as the message content.
Legacy ``functions``/``function_call`` are read as tools. Nothing else is sent: the API refuses unknown
top-level fields, so OpenAI-only parameters (``seed``, penalties...) are dropped; ``n`` > 1 never reaches the
adaptor (the relay refuses it: ``serves_n`` is False, see ``proxy/capabilities.py``).

Answer (:meth:`AnthropicAdaptor.parse_response`): id ``chatcmpl-<message id>``; content = every text block
joined (``null`` when the answer is only tool calls); ``tool_use`` blocks become ``tool_calls`` keeping
Anthropic's ids (so the results the client sends back pair again); stop reasons map end_turn/stop_sequence/
pause_turn → ``stop``, max_tokens/model_context_window_exceeded → ``length``, tool_use → ``tool_calls``, refusal
→ ``content_filter``. Usage = input tokens (+ cache read + cache creation) and output tokens.

Stream (:class:`ClaudeStream`): SSE parsed incrementally — events may be split anywhere, ``event:``/``data:``
lines, LF or CRLF. ``message_start`` only records the id, model and input usage; the first chunk produced
carries ``delta.role = "assistant"`` (so an ``error`` event right after ``message_start`` — Anthropic's
overloaded errors arrive that way — comes before any chunk). Text blocks and ``text_delta`` yield content; a
``tool_use`` block start yields a tool call (index, id, ``type: function``, name, empty arguments) and each
``input_json_delta`` its argument fragment under the same index; ``message_delta`` yields the last chunk with
the finish reason; ``ping``/``content_block_stop``/``message_stop`` (and thinking blocks) yield nothing; an
``error`` event raises :class:`UpstreamError` (once the chunks read before it are handed over). Output tokens
are the last ``message_delta``'s cumulative count.

Errors (:meth:`AnthropicAdaptor.error`): ``{"type": "error", "error": {"type", "message"}}`` becomes OpenAI's
shape with ``type = code = <Anthropic type>`` and the provider's status (529 overloaded stays 529, so it is
retried; 401 ``authentication_error`` disables the channel when auto-disable is on).

One API quirks fixed here: ``stop`` was not sent; later system messages were sent as ``system`` roles (refused);
only the first text block was returned; stream chunks carried ``finish_reason: ""`` instead of ``null``; stream
output tokens were summed over ``message_start`` and ``message_delta`` (one too many — the last
``message_delta`` holds the cumulative count); cache tokens were not billed; empty text blocks, unpaired tool
results and non-alternating roles reached the API and were refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oneapi.errors import OneAPIError
from oneapi.proxy.adaptors.base import (
    EVERY_FORMAT,
    AdaptorBase,
    InlineImage,
    RelayRequest,
    TranslatingAdaptor,
    UpstreamCall,
    Usage,
)
from oneapi.proxy.adaptors.client_request import is_number, merged_turns
from oneapi.proxy.adaptors.common import chat_completion, chunk, compact_json, completion_id, json_object, openai_error
from oneapi.proxy.adaptors.openai import base_url
from oneapi.proxy.adaptors.streaming import LineTranslator
from oneapi.proxy.sse import parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError, UpstreamError, upstream_error
from oneapi.wire.model_limits import limits_for

Block = dict[str, Any]
Turn = tuple[str, list[Block]]  # (role, content blocks)

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
PLACEHOLDER = "..."  # the user turn put first when a conversation would open with the assistant
# The tool whose forced call carries a response_format answer: its input becomes the message content.
ANSWER_TOOL = "json_answer"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
                  "model_context_window_exceeded": "length", "tool_use": "tool_calls",
                  "refusal": "content_filter"}
# Anthropic's error types and the statuses they come with (for errors found inside a 200 answer or a stream).
ERROR_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
                "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
                "rate_limit_error": 429, "api_error": 500, "timeout_error": 504, "overloaded_error": 529}
_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


# -- request ---------------------------------------------------------------------------------------------------

def request_body(request: RelayRequest) -> dict[str, Any]:
    """The Messages API body for an OpenAI chat completions request (see the module docstring)."""
    data = request.json
    if request.mode != "chat" or not isinstance(data, dict):
        raise RelayError(f"Anthropic channels serve chat completions only, not {request.mode}", status=501,
                         code="channel_type_not_supported")
    system, turns = conversation(data.get("messages") or [], request.images)
    if request.system_prompt:
        system = request.system_prompt
    body: dict[str, Any] = {"model": request.upstream_model, "max_tokens": _max_tokens(data, request.upstream_model)}
    if system.strip():
        body["system"] = system
    body["messages"] = [{"role": role, "content": blocks} for role, blocks in turns]
    stops = _stop_sequences(data.get("stop"))
    if stops:
        body["stop_sequences"] = stops
    if is_number(data.get("temperature")):
        body["temperature"] = min(max(float(data["temperature"]), 0.0), 1.0)
    if is_number(data.get("top_p")):
        body["top_p"] = data["top_p"]
    if isinstance(data.get("top_k"), int) and not isinstance(data["top_k"], bool):
        body["top_k"] = data["top_k"]
    tools = [t for t in map(_tool, _function_tools(data)) if t is not None]
    choice = _tool_choice(data.get("tool_choice", data.get("function_call")), data.get("parallel_tool_calls"))
    answer_tool = structured_output_tool(data)
    if answer_tool is not None:  # response_format: the answer is the input of one forced tool call
        # With the client's tools as well, one call of any tool: a client tool, or the final answer.
        keep = bool(tools) and (choice or {}).get("type") != "none"
        tools = [*tools, answer_tool] if keep else [answer_tool]
        choice = ({"type": "any", "disable_parallel_tool_use": True} if keep
                  else {"type": "tool", "name": ANSWER_TOOL, "disable_parallel_tool_use": True})
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    if isinstance(data.get("user"), str) and data["user"]:
        body["metadata"] = {"user_id": data["user"]}
    if request.stream:
        body["stream"] = True
    return body


def structured_output_tool(data: Mapping[str, Any]) -> Block | None:
    """``response_format`` json_schema / json_object as the tool whose forced call carries the answer: its
    ``input_schema`` is the client's schema (any object for json_object). None for text or no format."""
    fmt = data.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("json_schema", "json_object"):
        return None
    spec = fmt.get("json_schema") if kind == "json_schema" and isinstance(fmt, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    schema = spec.get("schema")
    schema = dict(schema) if isinstance(schema, dict) else {"type": "object"}
    schema.setdefault("type", "object")
    described = spec.get("description")
    name = spec.get("name")
    return {"name": ANSWER_TOOL,
            "description": described if isinstance(described, str) and described else
            f"Give the answer{f' ({name})' if isinstance(name, str) and name else ''} as this tool's input.",
            "input_schema": schema}


def _max_tokens(data: Mapping[str, Any], model: str) -> int:
    """The client's limit; else (Anthropic requires one) the model's whole output from the catalogue, so an
    answer is never cut short by a limit nobody set; DEFAULT_MAX_TOKENS, which every Claude accepts, for a
    model the catalogue does not know."""
    for name in ("max_tokens", "max_completion_tokens"):
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    limits = limits_for(model)
    return limits.default_max_tokens if limits.known and limits.max_output else DEFAULT_MAX_TOKENS


def _stop_sequences(stop: Any) -> list[str]:
    """OpenAI's ``stop`` (a string or a list); Anthropic refuses whitespace-only sequences."""
    values = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    return [s for s in values if isinstance(s, str) and s.strip()]


def conversation(messages: list[Any], images: Mapping[str, InlineImage]) -> tuple[str, list[Turn]]:
    """The merged system text and the alternating turns Anthropic accepts."""
    systems: list[str] = []
    turns: list[Turn] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            text = _plain_text(message.get("content"))
            if text.strip():
                systems.append(text)
        elif role == "assistant":
            blocks = _blocks(message.get("content"), images, user=False)
            turns.append(("assistant", blocks + _tool_uses(message, len(turns))))
        elif role in ("tool", "function"):
            turns.append(("user", [_tool_result(message, images)]))
        else:
            turns.append(("user", _blocks(message.get("content"), images, user=True)))
    merged = merged_turns(turns)  # the API wants strict alternation
    _pair_tool_results(merged)
    merged = merged_turns(merged)  # a turn emptied by the pairing may leave two of the same role side by side
    if not merged or merged[0][0] != "user":
        merged.insert(0, ("user", [{"type": "text", "text": PLACEHOLDER}]))
    _trim_prefill(merged)
    return "\n\n".join(systems), merged


def _plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content
                         if isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"].strip())
    return ""


def _text_block(text: str) -> list[Block]:
    return [{"type": "text", "text": text}] if text.strip() else []


def _blocks(content: Any, images: Mapping[str, InlineImage], *, user: bool) -> list[Block]:
    """Text and (in user turns) image blocks of an OpenAI message content; empty text is dropped."""
    if isinstance(content, str):
        return _text_block(content)
    out: list[Block] = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, str):
            out += _text_block(part)
        elif isinstance(part, dict):
            text = part.get("text", part.get("refusal"))
            if part.get("type") in ("text", "input_text", "refusal") and isinstance(text, str):
                out += _text_block(text)
            elif part.get("type") == "image_url" and user:
                image = _image(part.get("image_url"), images)
                if image is not None:
                    out.append(image)
    return out


def _image(image_url: Any, images: Mapping[str, InlineImage]) -> Block | None:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str) or not url:
        return None
    inline = images.get(url) or _data_url(url)
    if inline is None:
        return {"type": "image", "source": {"type": "url", "url": url}}
    return {"type": "image", "source": {"type": "base64", "media_type": _media_type(inline),
                                        "data": inline.data_base64}}


def _data_url(url: str) -> InlineImage | None:
    header, _, data = url.partition(",")
    if not header.startswith("data:") or ";base64" not in header or not data:
        return None
    return InlineImage(header[5:].split(";")[0] or "image/png", data.strip())


def _media_type(image: InlineImage) -> str:
    """The declared type when Anthropic accepts it, else what the bytes say (servers often send
    ``application/octet-stream``)."""
    if image.mime_type in IMAGE_TYPES:
        return image.mime_type
    try:
        head = base64.b64decode(image.data_base64[:16])
    except (binascii.Error, ValueError):
        return image.mime_type
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return image.mime_type


def _tool_id(value: Any) -> str:
    """Anthropic ids allow only ``[a-zA-Z0-9_-]``; the same mapping on both sides keeps pairs paired."""
    return _ID_CHARS.sub("_", value) if isinstance(value, str) else ""


def _arguments(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if isinstance(text, str) and text.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_uses(message: Mapping[str, Any], serial: int) -> list[Block]:
    """``tool_use`` blocks of an assistant message; calls without an id (legacy ``function_call``) get one
    unique in the conversation (``serial`` is the message's position)."""
    calls = message.get("tool_calls")
    calls = list(calls) if isinstance(calls, list) else []
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append({"id": "", "function": legacy})
    out: list[Block] = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            continue
        call_id = _tool_id(call.get("id")) or f"toolu_{serial}_{len(out)}"
        out.append({"type": "tool_use", "id": call_id, "name": fn["name"], "input": _arguments(fn.get("arguments"))})
    return out


def _tool_result(message: Mapping[str, Any], images: Mapping[str, InlineImage]) -> Block:
    block: Block = {"type": "tool_result", "tool_use_id": _tool_id(message.get("tool_call_id"))}
    content = message.get("content")
    if isinstance(content, list):
        parts = _blocks(content, images, user=True)
        if parts:
            block["content"] = parts
    elif content is not None:
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        if text.strip():
            block["content"] = text
    return block


def _pair_tool_results(turns: list[Turn]) -> None:
    """Tool results first in their user turn, each answering a distinct ``tool_use`` of the assistant turn just
    before; a result with no call left to answer is kept as text rather than refused by the API."""
    for i, (role, blocks) in enumerate(turns):
        if role != "user" or not any(b["type"] == "tool_result" for b in blocks):
            continue
        previous = turns[i - 1][1] if i > 0 else []
        open_ids = [b["id"] for b in previous if b["type"] == "tool_use"]
        results: list[Block] = []
        others: list[Block] = []
        for block in blocks:
            if block["type"] != "tool_result":
                others.append(block)
            elif open_ids:
                wanted = block["tool_use_id"]
                block["tool_use_id"] = wanted if wanted in open_ids else open_ids[0]
                open_ids.remove(block["tool_use_id"])
                results.append(block)
            else:
                others += _text_block(_plain_text(block.get("content")))
        blocks[:] = results + others


def _trim_prefill(turns: list[Turn]) -> None:
    """The API refuses a final assistant turn ending in whitespace."""
    role, blocks = turns[-1]
    if role == "assistant" and blocks and blocks[-1]["type"] == "text":
        blocks[-1]["text"] = blocks[-1]["text"].rstrip()


def _function_tools(data: Mapping[str, Any]) -> list[Any]:
    tools = data.get("tools")
    if isinstance(tools, list) and tools:
        return tools
    functions = data.get("functions")
    return [{"type": "function", "function": f} for f in functions] if isinstance(functions, list) else []


def _tool(tool: Any) -> Block | None:
    fn = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        return None
    schema = fn.get("parameters")
    schema = dict(schema) if isinstance(schema, dict) else {"type": "object", "properties": {}}
    schema.setdefault("type", "object")
    out: Block = {"name": fn["name"]}
    if isinstance(fn.get("description"), str) and fn["description"]:
        out["description"] = fn["description"]
    out["input_schema"] = schema
    return out


def _tool_choice(choice: Any, parallel: Any) -> Block | None:
    if choice in ("auto", "none"):
        out: Block = {"type": choice}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict):
        inner = choice.get("function")
        fn: dict[str, Any] = inner if isinstance(inner, dict) else choice
        if not isinstance(fn.get("name"), str):
            return None
        out = {"type": "tool", "name": fn["name"]}
    elif parallel is False:
        out = {"type": "auto"}
    else:
        return None
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


# -- answers ---------------------------------------------------------------------------------------------------

def finish_reason(stop_reason: Any) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(str(stop_reason), "stop")


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def input_tokens(usage: Mapping[str, Any]) -> int:
    """Billable input: uncached input plus cache reads and cache writes (SPEC 11)."""
    return sum(_count(usage, k) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))


def provider_error(status: int, error: Mapping[str, Any]) -> UpstreamError:
    """Anthropic's error object in OpenAI's shape: ``type`` and ``code`` are Anthropic's error type."""
    kind = str(error.get("type") or "upstream_error")
    return openai_error(status, str(error.get("message") or f"bad response status code {status}"), kind, kind)


def _embedded_error(data: Mapping[str, Any]) -> UpstreamError | None:
    error = data.get("error")
    if data.get("type") != "error" and not isinstance(error, dict):
        return None
    error = error if isinstance(error, dict) else {}
    return provider_error(ERROR_STATUS.get(str(error.get("type")), 500), error)


def openai_answer(data: Mapping[str, Any], model: str,
                  structured: bool = False) -> tuple[dict[str, Any], Usage | None]:
    """``structured``: the request had a response_format, so the answer tool's input is the content (and any
    text around it, a preamble, is left out: the content must parse as JSON)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    answer: str | None = None
    for block in data.get("content") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif structured and block.get("type") == "tool_use" and block.get("name") == ANSWER_TOOL:
            answer = json.dumps(block.get("input") or {}, ensure_ascii=False)
        elif block.get("type") == "tool_use":
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            calls.append({"id": str(block.get("id") or ""), "type": "function",
                          "function": {"name": str(block.get("name") or ""), "arguments": arguments}})
    if answer is not None:
        texts = [answer]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    raw = data.get("usage")
    usage = Usage(input_tokens(raw), _count(raw, "output_tokens")) if isinstance(raw, dict) else None
    answer_id = f"chatcmpl-{data['id']}" if data.get("id") else completion_id()
    reason = finish_reason(data.get("stop_reason")) or "stop"
    if reason == "tool_calls" and not calls:  # only the answer tool was called: a finished answer
        reason = "stop"
    return chat_completion(answer_id, str(data.get("model") or model), message, reason, usage), usage


def is_structured(request: RelayRequest) -> bool:
    """The request's answer comes back as the answer tool's input (see :func:`structured_output_tool`)."""
    fmt = (request.json or {}).get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object")


# -- streams ---------------------------------------------------------------------------------------------------

class ClaudeStream(LineTranslator):
    """Anthropic SSE bytes → OpenAI ``chat.completion.chunk`` dicts. ``usage`` is set by ``message_delta``
    (the final output count) — until then a broken stream leaves it None and the relay counts instead. An
    ``error`` event raises, once the chunks read before it are handed over (see :mod:`.streaming`)."""

    def __init__(self, request: RelayRequest) -> None:
        super().__init__(request.upstream_model, int(time.time()))
        self._event = ""
        self._data: list[bytes] = []
        self._id = completion_id()
        self._tools: dict[Any, int] = {}  # Anthropic content block index → OpenAI tool_calls index
        self._usage: dict[str, Any] = {}
        self._structured = is_structured(request)
        self._answer_blocks: set[Any] = set()  # blocks of the answer tool: their input JSON streams as content

    def _line(self, line: bytes) -> list[dict[str, Any]]:
        if not line.strip():
            return self._dispatch()
        name, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if name == b"event":
            out = self._dispatch()  # a stream without blank lines between events still splits here
            self._event = value.decode(errors="replace").strip()
            return out
        if name == b"data":
            self._data.append(value)
        return []

    def _end(self) -> list[dict[str, Any]]:
        return self._dispatch()

    def _dispatch(self) -> list[dict[str, Any]]:
        payload, name = b"\n".join(self._data), self._event
        self._data, self._event = [], ""
        event = parse_json(payload) if payload else None
        return self._translate(str(event.get("type") or name), event) if isinstance(event, dict) else []

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk(self._id, self._model, self._with_role(delta), finish, self._created)

    def _translate(self, kind: str, event: dict[str, Any]) -> list[dict[str, Any]]:
        if kind == "message_start":
            found = event.get("message")
            message: dict[str, Any] = found if isinstance(found, dict) else {}
            if message.get("id"):
                self._id = f"chatcmpl-{message['id']}"
            self._model = str(message.get("model") or self._model)
            if isinstance(message.get("usage"), dict):
                self._usage.update(message["usage"])
            return []  # the role rides on the first real chunk: an error before any content yields nothing
        if kind == "content_block_start":
            return self._block_start(event.get("index"), event.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(event.get("index"), event.get("delta") or {})
        if kind == "message_delta":
            usage = event.get("usage")
            if isinstance(usage, dict):  # cumulative counts: the latest value of each field wins
                self._usage.update({k: v for k, v in usage.items() if v is not None})
            self.usage = Usage(input_tokens(self._usage), _count(self._usage, "output_tokens"))
            reason = finish_reason((event.get("delta") or {}).get("stop_reason"))
            if reason == "tool_calls" and not self._tools:  # only the answer tool was called
                reason = "stop"
            return [self._chunk({}, reason)] if reason else []
        if kind == "error":
            raise _embedded_error(event) or provider_error(500, {})
        return []  # ping, content_block_stop, message_stop, and events this translation does not carry

    def _block_start(self, index: Any, block: dict[str, Any]) -> list[dict[str, Any]]:
        if self._structured and block.get("type") == "text":
            return []  # a preamble before the answer tool's JSON would make the content unparsable
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if block.get("type") != "tool_use":
            return []
        if self._structured and block.get("name") == ANSWER_TOOL:
            self._answer_blocks.add(index)
            return [self._chunk({"content": json.dumps(block["input"], ensure_ascii=False)})] \
                if block.get("input") else []
        position = self._tools[index] = len(self._tools)
        arguments = json.dumps(block["input"], ensure_ascii=False) if block.get("input") else ""
        call = {"index": position, "id": str(block.get("id") or ""), "type": "function",
                "function": {"name": str(block.get("name") or ""), "arguments": arguments}}
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, index: Any, delta: dict[str, Any]) -> list[dict[str, Any]]:
        if index in self._answer_blocks:
            fragment = delta.get("partial_json") if delta.get("type") == "input_json_delta" else None
            return [self._chunk({"content": fragment})] if fragment else []
        if self._structured and delta.get("type") == "text_delta":
            return []
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json") and index in self._tools:
            call = {"index": self._tools[index], "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []


# -- the adaptor -----------------------------------------------------------------------------------------------

class AnthropicAdaptor(AdaptorBase):
    name = "anthropic"
    passthrough = False
    inline_images = True
    response_formats = EVERY_FORMAT
    serves_tools = True
    serves_images = True

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if request.stream
                   else "application/json", "x-api-key": channel.key, "anthropic-version": API_VERSION}
        return UpstreamCall("POST", f"{base_url(channel)}/v1/messages", headers, compact_json(request_body(request)))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        data = json_object(body)
        error = _embedded_error(data)
        if error is not None:
            raise error
        return openai_answer(data, request.upstream_model, is_structured(request))

    def stream_translator(self, request: RelayRequest) -> ClaudeStream:
        return ClaudeStream(request)

    def error(self, status: int, body: bytes) -> OneAPIError:
        data = parse_json(body)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and (error.get("type") or error.get("message")):
            return provider_error(status, error)
        return upstream_error(status, body)


ADAPTOR = AnthropicAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
