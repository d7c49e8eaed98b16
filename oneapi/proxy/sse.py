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
