"""OpenAI's answers told in Gemini's generateContent format: the JSON answer, the SSE stream, and errors. Pure.

* :func:`response` turns a ``chat.completion`` into a ``GenerateContentResponse``: each choice a candidate
  (text and ``functionCall`` parts, ids kept so the client's ``functionResponse`` pairs again), finish reasons
  as Gemini's (stop and tool_calls → ``STOP``, length → ``MAX_TOKENS``, content_filter → ``SAFETY``), usage
  as ``usageMetadata``.
* :class:`EventStream` turns OpenAI's SSE into Gemini's (``data: <response>`` events, ``?alt=sse``): text as it
  arrives, one event per delta and candidate; a tool call's argument fragments are gathered and the whole
  ``functionCall`` is sent when its choice finishes, as Gemini streams calls; the finish reason waits for the
  usage (OpenAI sends it after) and both close the stream in the last event. OpenAI's ``{"error": ...}``
  event becomes Google's error object.
* :func:`error_body`: Google's ``{"error": {"code", "message", "status"}}`` with the HTTP status.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from oneapi.proxy.sse import OpenAIEventReader

FINISH_REASONS = {"stop": "STOP", "tool_calls": "STOP", "function_call": "STOP", "length": "MAX_TOKENS",
                  "content_filter": "SAFETY"}
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ABORTED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def finish_reason(reason: Any) -> str:
    return FINISH_REASONS.get(str(reason), "OTHER") if reason else "STOP"


def function_call(call: dict[str, Any], arguments: str) -> dict[str, Any]:
    function = _object(call.get("function"))
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        args = {}
    out: dict[str, Any] = {"name": str(function.get("name") or ""), "args": args if isinstance(args, dict) else {}}
    if isinstance(call.get("id"), str) and call["id"]:
        out["id"] = call["id"]
    return {"functionCall": out}


def usage_metadata(usage: Any, prompt: int = 0, completion: int = 0) -> dict[str, int]:
    usage = _object(usage)
    prompt = usage["prompt_tokens"] if isinstance(usage.get("prompt_tokens"), int) else prompt
    completion = usage["completion_tokens"] if isinstance(usage.get("completion_tokens"), int) else completion
    return {"promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion}


def response(answer: dict[str, Any], model: str) -> dict[str, Any]:
    candidates = []
    for i, choice in enumerate(answer.get("choices") or []):
        choice = _object(choice)
        message = _object(choice.get("message"))
        parts: list[dict[str, Any]] = []
        if isinstance(message.get("content"), str) and message["content"]:
            parts.append({"text": message["content"]})
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict):
                parts.append(function_call(call, str(_object(call.get("function")).get("arguments") or "")))
        candidates.append({"content": {"parts": parts, "role": "model"},
                           "finishReason": finish_reason(choice.get("finish_reason")),
                           "index": choice.get("index", i)})
    return {"candidates": candidates, "usageMetadata": usage_metadata(answer.get("usage")), "modelVersion": model,
            "responseId": str(answer.get("id") or uuid.uuid4().hex)}


def sse(obj: dict[str, Any]) -> bytes:
    """One event as Gemini frames it (``?alt=sse``)."""
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\r\n\r\n"


class EventStream(OpenAIEventReader):
    """OpenAI's SSE bytes in (:meth:`feed`, cut anywhere, then :meth:`finish`), Gemini's SSE bytes out."""

    def __init__(self, model: str, prompt_tokens: int, count: Callable[[str], int]) -> None:
        super().__init__()
        self._model = model
        self._prompt = prompt_tokens
        self._count = count
        self._id = ""
        self._calls: dict[int, dict[int, dict[str, Any]]] = {}  # candidate → call index → {call, arguments}
        self._finished: dict[int, str] = {}  # candidate → Gemini finish reason, held for the usage
        self._usage: Any = None
        self._text: list[str] = []
        self._ended = False

    def _event(self, candidates: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        event: dict[str, Any] = {"candidates": candidates}
        if usage is not None:
            event["usageMetadata"] = usage
        event["modelVersion"] = self._model
        event["responseId"] = self._id or uuid.uuid4().hex
        return sse(event)

    def chunk(self, obj: dict[str, Any]) -> bytes:
        if self._ended:
            return b""
        self._id = self._id or str(obj.get("id") or "")
        if obj.get("usage"):
            self._usage = obj["usage"]
        candidates = []
        for choice in obj.get("choices") or []:
            choice = _object(choice)
            index = choice.get("index", 0) if isinstance(choice.get("index"), int) else 0
            delta = _object(choice.get("delta"))
            text = delta.get("content")
            if isinstance(text, str) and text:
                self._text.append(text)
                candidates.append({"content": {"parts": [{"text": text}], "role": "model"}, "index": index})
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    self._gather(index, call)
            if choice.get("finish_reason"):
                self._finished[index] = finish_reason(choice["finish_reason"])
        return self._event(candidates) if candidates else b""

    def _gather(self, index: int, call: dict[str, Any]) -> None:
        position = call.get("index", 0) if isinstance(call.get("index"), int) else 0
        held = self._calls.setdefault(index, {}).setdefault(position, {"call": {}, "arguments": ""})
        function = _object(call.get("function"))
        if call.get("id"):
            held["call"]["id"] = call["id"]
        if function.get("name"):
            held["call"]["function"] = {"name": function["name"]}
        if isinstance(function.get("arguments"), str):
            held["arguments"] += function["arguments"]
            self._text.append(function["arguments"])

    def done(self) -> bytes:
        """The last event: the gathered function calls, the finish reasons and the usage."""
        if self._ended:
            return b""
        self._ended = True
        indices = sorted(set(self._finished) | set(self._calls)) or [0]
        candidates = []
        for index in indices:
            calls = self._calls.get(index, {})
            parts = [function_call(held["call"], held["arguments"]) for _, held in sorted(calls.items())]
            candidates.append({"content": {"parts": parts, "role": "model"},
                               "finishReason": self._finished.get(index, "STOP"), "index": index})
        counted = self._count("".join(self._text)) if self._usage is None else 0
        return self._event(candidates, usage_metadata(self._usage, self._prompt, counted))

    def error(self, error: Any, status: int = 500) -> bytes:
        if self._ended:
            return b""
        self._ended = True
        inner = _object(error)
        return sse(error_body(status, str(inner.get("message") or "the upstream stream failed"))[1])


def error_status(status: int) -> int:
    if status in STATUS_NAMES:
        return status
    return 503 if status == 529 else 500 if status >= 500 else 400


def error_body(status: int, message: str) -> tuple[int, dict[str, Any]]:
    status = error_status(status)
    return status, {"error": {"code": status, "message": message, "status": STATUS_NAMES[status]}}
