"""Images in messages, made inline for providers that want bytes (Claude, Gemini): data URLs are decoded,
http(s) URLs fetched with USER_CONTENT_REQUEST_TIMEOUT / USER_CONTENT_REQUEST_PROXY and a size limit.

Only the relay's handler calls this (it does I/O); adaptors then find the bytes in ``RelayRequest.images``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Iterator
from typing import Any

import aiohttp

from oneapi.proxy.adaptors.base import InlineImage
from oneapi.proxy.errors import RelayError
from oneapi.proxy.state import Relay

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGES = 32


def image_urls(messages: Any) -> Iterator[str]:
    """Every ``image_url.url`` in an OpenAI messages list, in order."""
    if not isinstance(messages, list):
        return
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                if isinstance(url, str) and url:
                    yield url


def decode_data_url(url: str) -> InlineImage:
    header, _, data = url.partition(",")
    if not header.startswith("data:") or ";base64" not in header or not data:
        raise RelayError("image data URLs must look like data:image/png;base64,...", status=400,
                         code="invalid_image_url")
    mime = header[5:].split(";")[0] or "image/png"
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        raise RelayError("the image data URL is not valid base64", status=400, code="invalid_image_url") from None
    if len(raw) > MAX_IMAGE_BYTES:
        raise RelayError("image too large", status=400, code="image_too_large")
    return InlineImage(mime, base64.b64encode(raw).decode())


async def fetch(relay: Relay, url: str) -> InlineImage:
    timeout = aiohttp.ClientTimeout(total=relay.config.user_content_request_timeout)
    try:
        async with relay.upstream().get(url, timeout=timeout, proxy=relay.config.user_content_request_proxy or None,
                                        allow_redirects=True, max_redirects=3) as resp:
            if resp.status != 200:
                raise RelayError(f"fetching the image {url[:200]} failed with status {resp.status}", status=400,
                                 code="image_fetch_failed")
            if resp.content_length and resp.content_length > MAX_IMAGE_BYTES:
                raise RelayError("image too large", status=400, code="image_too_large")
            data = bytearray()
            async for piece in resp.content.iter_chunked(65536):
                data += piece
                if len(data) > MAX_IMAGE_BYTES:
                    raise RelayError("image too large", status=400, code="image_too_large")
            mime = resp.headers.get("Content-Type", "image/jpeg").split(";")[0].strip() or "image/jpeg"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise RelayError(f"fetching the image {url[:200]} failed: {type(exc).__name__}", status=400,
                         code="image_fetch_failed") from None
    return InlineImage(mime, base64.b64encode(bytes(data)).decode())


async def inline_images(relay: Relay, messages: Any) -> dict[str, InlineImage]:
    urls = list(dict.fromkeys(image_urls(messages)))
    if len(urls) > MAX_IMAGES:
        raise RelayError(f"at most {MAX_IMAGES} images per request", status=400, code="too_many_images")
    found: dict[str, InlineImage] = {}
    remote = []
    for url in urls:
        if url.startswith("data:"):
            found[url] = decode_data_url(url)
        elif url.startswith(("http://", "https://")):
            remote.append(url)
        else:
            raise RelayError("image URLs must be http(s) or data: URLs", status=400, code="invalid_image_url")
    for url, image in zip(remote, await asyncio.gather(*(fetch(relay, u) for u in remote)), strict=True):
        found[url] = image
    return found
