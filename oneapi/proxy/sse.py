"""Server-sent events, incrementally: bytes in as they arrive, complete lines out. Pure; no I/O."""

from __future__ import annotations

import json
from typing import Any

DONE = b"[DONE]"


class LineSplitter:
    """Splits a byte stream into lines (LF or CRLF), keeping an incomplete tail for the next feed."""

    def __init__(self, max_line: int = 16 * 1024 * 1024) -> None:
        self._tail = b""
        self._max = max_line

    def feed(self, data: bytes) -> list[bytes]:
        data = self._tail + data
        lines = data.split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > self._max:  # a runaway line: hand it over rather than buffer without limit
            lines.append(self._tail)
            self._tail = b""
        return [line[:-1] if line.endswith(b"\r") else line for line in lines]

    def flush(self) -> list[bytes]:
        tail, self._tail = self._tail, b""
        return [tail.rstrip(b"\r")] if tail.strip() else []


def data_payload(line: bytes) -> bytes | None:
    """The payload of a ``data:`` line (with or without the space), else None."""
    if not line.startswith(b"data:"):
        return None
    payload = line[5:]
    return payload[1:] if payload.startswith(b" ") else payload


def parse_json(payload: bytes) -> Any:
    """The decoded JSON of a payload, or None when it is not JSON."""
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


DONE_EVENT = b"data: [DONE]\n\n"


class OpenAIEventReader:
    """OpenAI's SSE bytes in (:meth:`feed`, cut anywhere, then :meth:`finish`), another format's event bytes out:
    a subclass says what a chunk, an error object and the end of the stream become (:meth:`chunk`,
    :meth:`error`, :meth:`done`, which ``[DONE]`` and :meth:`finish` call)."""

    def __init__(self) -> None:
        self._lines = LineSplitter()

    def feed(self, data: bytes) -> bytes:
        return self._events(self._lines.feed(data))

    def finish(self) -> bytes:
        """What is still owed once OpenAI's stream is over: its unterminated last line, and the end of the
        answer if no ``[DONE]`` or error closed it."""
        return self._events(self._lines.flush()) + self.done()

    def _events(self, lines: list[bytes]) -> bytes:
        out = b""
        for line in lines:
            payload = data_payload(line)
            if payload is None:
                continue
            if payload.strip() == DONE:
                out += self.done()
                continue
            obj = parse_json(payload)
            if isinstance(obj, dict) and "error" in obj and not obj.get("choices"):
                out += self.error(obj["error"])
            elif isinstance(obj, dict):
                out += self.chunk(obj)
        return out

    def chunk(self, obj: dict[str, Any]) -> bytes:
        raise NotImplementedError

    def error(self, error: Any, status: int = 500) -> bytes:
        raise NotImplementedError

    def done(self) -> bytes:
        raise NotImplementedError
