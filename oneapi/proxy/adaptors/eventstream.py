"""AWS event-stream framing (``application/vnd.amazon.eventstream``), decoded incrementally. Pure.

Each message: a 12-byte prelude (total length, headers length — big-endian uint32 — and the CRC32 of those 8
bytes), the headers, the payload, and the CRC32 of everything before it. A header is a 1-byte name length, the
name, a 1-byte value type and the value; Bedrock's are strings (type 7: a 2-byte length and UTF-8 bytes), but
every type of the format is read so that none can derail the decoder.
(https://docs.aws.amazon.com/transcribe/latest/dg/streaming-setting-up.html#streaming-event-stream)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

PRELUDE = 12
MAX_MESSAGE = 16 * 1024 * 1024  # the format's own limit
# value type → fixed size (None: a 2-byte length follows)
_SIZES: dict[int, int | None] = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 6: None, 7: None, 8: 8, 9: 16}


class EventStreamError(ValueError):
    """The bytes are not an event stream (a bad length or checksum)."""


@dataclass(frozen=True)
class Message:
    headers: dict[str, object]
    payload: bytes


def _headers(data: bytes) -> dict[str, object]:
    out: dict[str, object] = {}
    at = 0
    while at < len(data):
        size = data[at]
        name = data[at + 1:at + 1 + size].decode()
        at += 1 + size
        kind = data[at]
        at += 1
        if kind not in _SIZES:
            raise EventStreamError(f"unknown header value type {kind}")
        width = _SIZES[kind]
        if width is None:
            (width,) = struct.unpack_from(">H", data, at)
            at += 2
            raw = data[at:at + width]
            out[name] = raw.decode() if kind == 7 else raw
        else:
            raw = data[at:at + width]
            out[name] = (kind == 0) if kind in (0, 1) else int.from_bytes(raw, "big", signed=True) \
                if kind in (2, 3, 4, 5, 8) else raw
        at += width
    return out


class Decoder:
    """Bytes in as they arrive, whole messages out."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        out: list[Message] = []
        while len(self._buffer) >= PRELUDE:
            total, headers_length, prelude_crc = struct.unpack_from(">III", self._buffer)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise EventStreamError("the event-stream prelude checksum does not match")
            if not PRELUDE + 4 <= total <= MAX_MESSAGE or headers_length > total - PRELUDE - 4:
                raise EventStreamError(f"an event-stream message of {total} bytes is impossible")
            if len(self._buffer) < total:
                break
            message = bytes(self._buffer[:total])
            del self._buffer[:total]
            (crc,) = struct.unpack_from(">I", message, total - 4)
            if zlib.crc32(message[:-4]) != crc:
                raise EventStreamError("the event-stream message checksum does not match")
            out.append(Message(_headers(message[PRELUDE:PRELUDE + headers_length]),
                               message[PRELUDE + headers_length:-4]))
        return out

    @property
    def pending(self) -> int:
        """Bytes of an unfinished message."""
        return len(self._buffer)


def encode(headers: dict[str, str], payload: bytes) -> bytes:
    """One message with string headers (tests and fakes build streams with it)."""
    raw = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
                   for k, v in headers.items())
    total = PRELUDE + len(raw) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw + payload
    return body + struct.pack(">I", zlib.crc32(body))
