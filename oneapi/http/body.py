"""Request bodies, read and decoded by oneapi itself.

SPEC 1.1: a ``Content-Encoding: gzip`` body is decompressed (on /v1 and /api alike). aiohttp can do that in its
HTTP parser, but a body that is not what its header says can leave the handler waiting forever there (a
``deflate`` body that never starts decoding raises in the parser after the handler has begun reading, and the
request hangs until the client gives up). So the servers run with aiohttp's decoding off
(:data:`SERVER_OPTIONS`, used by every runner, tests included) and the handlers read bodies here: decoded with
a cap on the decoded size (a small gzip can inflate to gigabytes), and every problem a clear 4xx.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

from aiohttp import web

from oneapi.errors import InvalidInputError, OneAPIError

MAX_DECODED: Final = 32 * 1024 * 1024  # the same cap as a body sent plain (server.MAX_BODY)
SERVER_OPTIONS: Final[dict[str, Any]] = {"auto_decompress": False}
_WBITS: Final = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyTooLargeError(OneAPIError):
    status = 413
    default_code = "request_body_too_large"


async def read_body(request: web.Request) -> bytes:
    """The body as the client meant it: read (aiohttp enforces client_max_size on what arrives, a 413), then
    decoded by its Content-Encoding. Raises InvalidInputError (400) or BodyTooLargeError (413)."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLargeError("request body is too large") from None
    header = request.headers.get("Content-Encoding", "")
    return decode(raw, header) if header.strip() else raw


def decode(raw: bytes, header: str) -> bytes:
    """Undo the codings ``header`` lists, last applied first."""
    codings = [c.strip().lower() for c in header.split(",") if c.strip().lower() not in ("", "identity")]
    for coding in reversed(codings):
        wbits = _WBITS.get(coding)
        if wbits is None:
            raise InvalidInputError(f"Content-Encoding {coding!r} is not supported: send gzip, deflate or none",
                                    code="unsupported_content_encoding")
        raw = _inflate(raw, wbits, coding)
    return raw


def _inflate(raw: bytes, wbits: int, coding: str) -> bytes:
    attempts = [wbits, -zlib.MAX_WBITS] if coding == "deflate" else [wbits]  # some clients send raw deflate
    for attempt in attempts:
        inflater = zlib.decompressobj(attempt)
        try:
            out = inflater.decompress(raw, MAX_DECODED + 1)
        except zlib.error:
            continue
        if len(out) > MAX_DECODED or inflater.unconsumed_tail:
            raise BodyTooLargeError(f"request body is too large once decoded (more than {MAX_DECODED} bytes)")
        if inflater.eof:
            return out
    raise InvalidInputError(f"request body is not valid {coding} data, as its Content-Encoding says",
                            code="invalid_content_encoding")
