"""Image width and height from the first bytes of the file, without decoding pixels or doing I/O.

The tokenizer needs an image's size to estimate vision tokens (SPEC §5.4). One API asks Go's
``image.DecodeConfig`` for it, which only parses headers; this module does the same for the formats One API
registers — PNG, JPEG, GIF and WebP — in pure Python, so it is cheap, never touches the network, and works on
a prefix of the file. Anything it does not recognise, or a header cut short, gives ``None`` rather than an
exception: the caller falls back to an estimate.

``data_url_dimensions`` handles ``data:image/...;base64,...`` URLs and decodes at most ~1 MiB of the base64
text (a JPEG's size marker may sit behind an EXIF block, but never that far in for real images), so a huge
inline image costs a bounded amount of work.
"""

from __future__ import annotations

import base64
import binascii

# base64 characters of a data URL looked at: 1 MiB of text is 768 KiB of image, far past any header.
DATA_URL_SCAN_CHARS = 1024 * 1024

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the size: C0..CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# JPEG markers that stand alone, without a length field.
_JPEG_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01, 0xD8}


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """Return ``(width, height)`` of a PNG, JPEG, GIF or WebP image from its header, or ``None``.

    ``data`` may be only the start of the file; ``None`` means the format is unknown, the header is
    malformed or truncated, or a side is zero.
    """
    if data.startswith(_PNG_SIGNATURE):
        size = _png(data)
    elif data.startswith(b"\xff\xd8"):
        size = _jpeg(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        size = _gif(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        size = _webp(data)
    else:
        size = None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def data_url_dimensions(url: str) -> tuple[int, int] | None:
    """Return the size of the image in a ``data:image/...;base64,...`` URL, or ``None``.

    Only the first ``DATA_URL_SCAN_CHARS`` characters of the payload are decoded. URLs that are not base64
    image data URLs (``http(s)``, percent-encoded SVG, ...) give ``None``.
    """
    if url[:5].lower() != "data:":
        return None
    comma = url.find(",", 0, 256)
    if comma < 0:
        return None
    header = url[5:comma].lower()
    if not header.startswith("image/") or ";base64" not in header:
        return None
    text = "".join(url[comma + 1 : comma + 1 + DATA_URL_SCAN_CHARS].split())
    text = text[: len(text) - len(text) % 4]
    if "-" in text or "_" in text:  # tolerate the URL-safe alphabet some clients send
        text = text.replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(text)
    except (binascii.Error, ValueError):
        return None
    return image_dimensions(data)


def _be16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "big")


def _png(data: bytes) -> tuple[int, int] | None:
    # signature (8) + IHDR chunk length (4) + b"IHDR" + width (4, big-endian) + height (4)
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _gif(data: bytes) -> tuple[int, int] | None:
    # logical screen descriptor: width and height, little-endian, right after the 6-byte signature
    if len(data) < 10:
        return None
    return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")


def _jpeg(data: bytes) -> tuple[int, int] | None:
    """Walk the marker segments up to the first start-of-frame; stop at start-of-scan or end of data."""
    pos = 2
    end = len(data)
    while pos + 1 < end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no frame header seen
            return None
        if pos + 4 > end:
            return None
        length = _be16(data, pos + 2)
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            # length (2), sample precision (1), height (2), width (2)
            if pos + 9 > end:
                return None
            return _be16(data, pos + 7), _be16(data, pos + 5)
        pos += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        # lossy: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height (2 scale bits on top)
        if len(data) < 30 or data[23:26] != b"\x9d\x01\x2a":
            return None
        return (int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF)
    if chunk == b"VP8L":
        # lossless: signature byte 0x2f, then width-1 and height-1 as 14-bit fields
        if len(data) < 25 or data[20] != 0x2F:
            return None
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        # extended: flags (1) + reserved (3), then canvas width-1 and height-1 as 24-bit fields
        if len(data) < 30:
            return None
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None
