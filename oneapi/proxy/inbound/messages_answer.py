"""OpenAI's answers told in Anthropic's Messages format: the JSON message, the event stream, and errors. Pure.

* :func:`message` turns a ``chat.completion`` into a Messages ``message``: reasoning text (DeepSeek's
  ``reasoning_content``) as a thinking block without a signature, the text as a text block, each tool
  call as a ``tool_use`` block (arguments parsed back into ``input``), finish reasons as stop reasons
  (stop → ``end_turn``, length → ``max_tokens``, tool_calls → ``tool_use``, content_filter → ``refusal``),
  usage as ``input_tokens`` (cached prompt tokens apart, as ``cache_read_input_tokens``) and ``output_tokens``.
* :class:`EventStream` turns ``chat.completion.chunk`` payloads into Anthropic's event sequence:
  ``message_start`` and a ``ping``, then per block ``content_block_start`` / ``content_block_delta``
  (``thinking_delta``, ``text_delta``, or ``input_json_delta`` for a tool call's argument fragments) /
  ``content_block_stop``, then ``message_delta`` with the stop reason and the usage, and ``message_stop``.
  OpenAI sends the finish reason before the usage chunk while Anthropic sends them together, so the stop
  reason is held until the usage (or the end of the stream) arrives. OpenAI's ``{"error": ...}`` event
  becomes Anthropic's ``error`` event. Tool calls are streamed one after the other, as OpenAI streams them;
  a fragment of a call whose block is already closed (a provider interleaving parallel calls) cannot be said
  in Anthropic's sequence and is dropped, with the loss counted in :attr:`EventStream.dropped`.
* :func:`error_body` is Anthropic's error shape ``{"type": "error", "error": {"type", "message"}}`` with
  Anthropic's status codes: 503 (no channel available now) is 529 ``overloaded_error``, other statuses
  Anthropic does not use become 500 ``api_error`` or 400 ``invalid_request_error``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from oneapi.proxy.sse import OpenAIEventReader

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 504: "timeout_error", 529: "overloaded_error"}


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first_choice(obj: dict[str, Any]) -> dict[str, Any]:
    choices = obj.get("choices")
    return _object(choices[0]) if isinstance(choices, list) and choices else {}


def message_id(openai_id: Any = None) -> str:
    """``msg_`` and the upstream's id (without OpenAI's ``chatcmpl-``), so a log line finds the upstream call."""
    if isinstance(openai_id, str) and openai_id:
        return "msg_" + openai_id.removeprefix("chatcmpl-").removeprefix("msg_")
    return "msg_" + uuid.uuid4().hex


def stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(str(finish_reason), "end_turn") if finish_reason else "end_turn"


def usage(openai_usage: Any, *, input_tokens: int = 0, output_tokens: int = 0) -> dict[str, int]:
    """Anthropic's usage from OpenAI's (the counts given stand in for a usage that is missing)."""
    if isinstance(openai_usage, dict):
        prompt, completion = openai_usage.get("prompt_tokens"), openai_usage.get("completion_tokens")
        input_tokens = prompt if isinstance(prompt, int) else input_tokens
        output_tokens = completion if isinstance(completion, int) else output_tokens
        details = openai_usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        if isinstance(cached, int) and 0 < cached <= input_tokens:
            return {"input_tokens": input_tokens - cached, "cache_read_input_tokens": cached,
                    "output_tokens": output_tokens}
    return {"input_tokens": input_tokens, "output_tokens": output_tokens}


def reasoning_of(said: dict[str, Any]) -> str:
    """The reasoning text OpenAI-protocol vendors send beside the answer (DeepSeek's ``reasoning_content``,
    OpenRouter's ``reasoning``)."""
    value = said.get("reasoning_content", said.get("reasoning"))
    return value if isinstance(value, str) else ""


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's JSON arguments as ``input`` (Anthropic's is always an object)."""
    try:
        value = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def message(answer: dict[str, Any], model: str) -> dict[str, Any]:
    """A ``chat.completion`` (its first choice) as a Messages answer."""
    choice = _first_choice(answer)
    said = _object(choice.get("message"))
    content: list[dict[str, Any]] = []
    reasoning = reasoning_of(said)
    if reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = said.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in said.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            content.append({"type": "tool_use", "id": str(call.get("id") or f"toolu_{uuid.uuid4().hex}"),
                            "name": str(function.get("name") or ""), "input": tool_input(function.get("arguments"))})
    return {"id": message_id(answer.get("id")), "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason(choice.get("finish_reason")), "stop_sequence": None,
            "usage": usage(answer.get("usage"))}


def sse(name: str, data: dict[str, Any]) -> bytes:
    """One Anthropic event: ``event: <name>`` and its JSON, whose ``type`` repeats the name."""
    return (f"event: {name}\ndata: ".encode() + json.dumps({"type": name, **data}, ensure_ascii=False,
                                                           separators=(",", ":")).encode() + b"\n\n")


class EventStream(OpenAIEventReader):
    """OpenAI's SSE bytes in (:meth:`feed`, cut anywhere, then :meth:`finish`), Anthropic's event bytes out;
    or OpenAI's payloads one by one (:meth:`chunk`, :meth:`error`, :meth:`done`).

    ``input_tokens`` is the prompt as counted before the call (``message_start`` must say something before the
    provider does); ``count`` counts the tokens of text, for an answer whose provider gave no usage.
    """

    def __init__(self, model: str, input_tokens: int, count: Callable[[str], int]) -> None:
        super().__init__()
        self._model = model
        self._input_tokens = input_tokens
        self._count = count
        self._started = False
        self._ended = False
        self._blocks = 0               # blocks opened so far: the next block's index
        self._open: str | None = None  # "text", or "tool:<OpenAI tool call index>"
        self._closed_tools: set[Any] = set()
        self._stop: str | None = None
        self._usage: Any = None
        self._text: list[str] = []     # what was said, for counting when no usage comes
        self.dropped = 0

    @property
    def ended(self) -> bool:
        return self._ended

    def chunk(self, obj: dict[str, Any]) -> bytes:
        if self._ended:
            return b""
        out = self._start(obj.get("id"))
        if obj.get("usage"):
            self._usage = obj["usage"]
        choice = _first_choice(obj)
        delta = _object(choice.get("delta"))
        reasoning = reasoning_of(delta)
        if reasoning:
            out += self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out += self._delta({"type": "thinking_delta", "thinking": reasoning})
            self._text.append(reasoning)
        text = delta.get("content")
        if isinstance(text, str) and text:
            out += self._open_block("text", {"type": "text", "text": ""})
            out += self._delta({"type": "text_delta", "text": text})
            self._text.append(text)
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                out += self._tool_call(call)
        if choice.get("finish_reason"):
            out += self._close_block()
            self._stop = stop_reason(choice["finish_reason"])
        return out

    def error(self, error: Any, status: int = 500) -> bytes:
        """OpenAI's in-stream error as Anthropic's ``error`` event; nothing is said after it."""
        if self._ended:
            return b""
        self._ended = True
        inner = error if isinstance(error, dict) else {}
        kind = str(inner.get("type") or "")
        return sse("error", {"error": {"type": kind if kind in ERROR_TYPES.values() else ERROR_TYPES.get(
            status, "api_error"), "message": str(inner.get("message") or "the upstream stream failed")}})

    def done(self) -> bytes:
        """The events that end the message (the open block's stop, ``message_delta``, ``message_stop``)."""
        if self._ended:
            return b""
        out = self._start(None) + self._close_block()
        self._ended = True
        counted = self._count("".join(self._text)) if self._usage is None else 0
        final = usage(self._usage, input_tokens=self._input_tokens, output_tokens=counted)
        out += sse("message_delta", {"delta": {"stop_reason": self._stop or "end_turn", "stop_sequence": None},
                                     "usage": final})
        return out + sse("message_stop", {})

    def _start(self, openai_id: Any) -> bytes:
        if self._started:
            return b""
        self._started = True
        start: dict[str, Any] = {
            "id": message_id(openai_id), "type": "message", "role": "assistant", "model": self._model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self._input_tokens, "output_tokens": 1}}
        return sse("message_start", {"message": start}) + sse("ping", {})

    def _open_block(self, key: str, block: dict[str, Any]) -> bytes:
        if self._open == key:
            return b""
        out = self._close_block()
        self._open = key
        self._blocks += 1
        return out + sse("content_block_start", {"index": self._blocks - 1, "content_block": block})

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        if self._open.startswith("tool:"):
            self._closed_tools.add(self._open)
        self._open = None
        return sse("content_block_stop", {"index": self._blocks - 1})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse("content_block_delta", {"index": self._blocks - 1, "delta": delta})

    def _tool_call(self, call: dict[str, Any]) -> bytes:
        key = f"tool:{call.get('index', 0)}"
        function = _object(call.get("function"))
        arguments = function.get("arguments")
        out = b""
        if key != self._open:
            if key in self._closed_tools:  # see the module docstring: Anthropic's blocks cannot reopen
                self.dropped += 1
                return b""
            block = {"type": "tool_use", "id": str(call.get("id") or f"toolu_{uuid.uuid4().hex}"),
                     "name": str(function.get("name") or ""), "input": {}}
            out += self._open_block(key, block)
        if isinstance(arguments, str) and arguments:
            out += self._delta({"type": "input_json_delta", "partial_json": arguments})
            self._text.append(arguments)
        return out


def error_status(status: int) -> int:
    """Anthropic's status for one of oneapi's: 503 is Anthropic's overloaded 529; the others it does not use
    become 500 (server side) or 400."""
    if status in ERROR_TYPES:
        return status
    if status == 503:
        return 529
    return 500 if status >= 500 else 400


def error_body(status: int, error_type: str, message: str, request_id: str = "") -> tuple[int, dict[str, Any]]:
    """(status, body) of an Anthropic error answer. An error type of Anthropic's own (an Anthropic channel's
    ``overloaded_error``) is kept; any other is the one Anthropic gives that status."""
    status = error_status(status)
    kind = error_type if error_type in ERROR_TYPES.values() else ERROR_TYPES[status]
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return status, body
