"""AWS event-stream framing (oneapi/proxy/adaptors/eventstream.py): what the encoder writes botocore's parser
reads, the decoder reads it back split anywhere, and damaged bytes are refused."""

from __future__ import annotations

import struct

import pytest
from botocore.eventstream import EventStreamBuffer

from oneapi.proxy.adaptors.eventstream import Decoder, EventStreamError, encode

MESSAGES = [({":event-type": "messageStart", ":content-type": "application/json", ":message-type": "event"},
             b'{"role":"assistant"}'),
            ({":event-type": "contentBlockDelta", ":message-type": "event"}, '{"delta":{"text":"é"}}'.encode()),
            ({":message-type": "exception", ":exception-type": "throttlingException"}, b'{"message":"slow down"}')]


def stream() -> bytes:
    return b"".join(encode(headers, payload) for headers, payload in MESSAGES)


def test_botocore_reads_what_is_encoded() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(stream())
    assert [(m.headers, m.payload) for m in buffer] == MESSAGES


@pytest.mark.parametrize("size", [1, 5, 13, 64, 10_000])
def test_decoded_split_anywhere(size: int) -> None:
    data, decoder, out = stream(), Decoder(), []
    for at in range(0, len(data), size):
        out += decoder.feed(data[at:at + size])
    assert [(m.headers, m.payload) for m in out] == MESSAGES and decoder.pending == 0


def test_every_header_type() -> None:
    raw = (b"\x01a\x00" + b"\x01b\x01" + b"\x01c\x02\xff" + b"\x01d\x03\x00\x02" + b"\x01e\x04\x00\x00\x00\x03"
           + b"\x01f\x05" + (4).to_bytes(8, "big") + b"\x01g\x06\x00\x02xy" + b"\x01h\x08" + (5).to_bytes(8, "big")
           + b"\x01i\x09" + bytes(16))
    prelude = struct.pack(">II", 12 + len(raw) + 4, len(raw))
    import zlib
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw
    [message] = Decoder().feed(body + struct.pack(">I", zlib.crc32(body)))
    assert message.headers == {"a": True, "b": False, "c": -1, "d": 2, "e": 3, "f": 4, "g": b"xy", "h": 5,
                               "i": bytes(16)}
    assert message.payload == b""


@pytest.mark.parametrize("damage", ["prelude", "message", "length"])
def test_damaged_bytes_are_refused(damage: str) -> None:
    data = bytearray(encode({":event-type": "x"}, b"{}"))
    if damage == "prelude":
        data[8] ^= 0xFF
    elif damage == "message":
        data[-5] ^= 0xFF
    else:
        data[:12] = struct.pack(">II", 3, 0) + struct.pack(">I", __import__("zlib").crc32(struct.pack(">II", 3, 0)))
    with pytest.raises(EventStreamError):
        Decoder().feed(bytes(data))
