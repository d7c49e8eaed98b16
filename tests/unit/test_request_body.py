"""oneapi.http.body: request bodies decoded by oneapi itself (aiohttp's decoding is off: SERVER_OPTIONS)."""

from __future__ import annotations

import gzip
import zlib

import pytest

from oneapi.errors import InvalidInputError
from oneapi.http.body import MAX_DECODED, BodyTooLargeError, decode

TEXT = b'{"model": "gpt-4o-mini"}'


@pytest.mark.parametrize(("header", "raw"), [
    ("gzip", gzip.compress(TEXT)), ("x-gzip", gzip.compress(TEXT)), ("deflate", zlib.compress(TEXT)),
    ("deflate", zlib.compress(TEXT)[2:-4]),  # raw deflate, as some clients send it
    ("identity", TEXT), ("gzip, identity", gzip.compress(TEXT)), ("deflate, gzip", gzip.compress(zlib.compress(TEXT))),
    (" GZIP ", gzip.compress(TEXT)),
])
def test_bodies_are_decoded_by_their_content_encoding(header: str, raw: bytes) -> None:
    assert decode(raw, header) == TEXT


@pytest.mark.parametrize(("header", "raw", "needle"), [
    ("gzip", b"not gzip", "not valid gzip"), ("deflate", b"[" * 70, "not valid deflate"),
    ("gzip", gzip.compress(TEXT)[:-6], "not valid gzip"),  # cut short
    ("br", b"x", "not supported"), ("zstd", b"x", "not supported"), ("compress", b"x", "not supported"),
])
def test_a_body_that_is_not_what_its_header_says_is_a_400(header: str, raw: bytes, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle) as info:
        decode(raw, header)
    assert info.value.http_status == 400


def test_a_small_body_that_inflates_beyond_the_cap_is_a_413() -> None:
    bomb = gzip.compress(b"\0" * (MAX_DECODED + 1))
    assert len(bomb) < 100_000
    with pytest.raises(BodyTooLargeError) as info:
        decode(bomb, "gzip")
    assert info.value.http_status == 413
