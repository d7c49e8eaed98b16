"""Images in messages, made inline for providers that want bytes (Claude, Gemini): data URLs are decoded,
http(s) URLs fetched with USER_CONTENT_REQUEST_TIMEOUT / USER_CONTENT_REQUEST_PROXY and a size limit.

Only the relay's handler calls this (it does I/O); adaptors then find the bytes in ``RelayRequest.images``.

The URL is the user's, so the fetch is fenced (``address_guard``): it has a session of its own
(:func:`make_session`, opened and closed with the application, next to the upstream one) whose connector
resolves through :class:`~oneapi.proxy.address_guard.GuardedResolver` and connects through the guarded socket
factory, so loopback, private, link-local, multicast and reserved addresses are refused where the connection is
made (unless USER_CONTENT_REQUEST_ALLOW_PRIVATE lets loopback and private ones through). Only http and https
are fetched; redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each hop through the same checks.

With USER_CONTENT_REQUEST_PROXY the proxy, not oneapi, connects to the image's host: each hop's host is then
resolved and checked here first (every address must pass), and the proxy's own resolution is its own affair.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from oneapi.config import Config
from oneapi.proxy.adaptors.base import InlineImage
from oneapi.proxy.address_guard import (
    GuardedResolver,
    RefusedAddressError,
    check_literal,
    guarded_socket_factory,
)
from oneapi.proxy.errors import RelayError

if TYPE_CHECKING:  # for annotations only: importing it would make a cycle
    from oneapi.proxy.state import Relay

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGES = 32
MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)
SCHEMES = ("http", "https")


def make_session(config: Config, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """The session that fetches user-supplied URLs. ``resolver``: the DNS resolver under the guard (the
    system's when None; tests give a scripted one)."""
    allow_private = config.user_content_request_allow_private
    if config.user_content_request_proxy:
        # The proxy is the operator's and may well sit on a private address: connect to it freely; each hop's
        # host is checked by resolving it before the request (see ``_check_before_proxy``).
        connector = aiohttp.TCPConnector(limit=64, resolver=resolver)
    else:
        # No DNS cache: a rebinding name answers with a zero TTL anyway, and every connection must be judged by
        # the answer it is made with.
        connector = aiohttp.TCPConnector(limit=64, use_dns_cache=False,
                                         resolver=GuardedResolver(allow_private, resolver),
                                         socket_factory=guarded_socket_factory(allow_private))
    return aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True,
                                 skip_auto_headers=("User-Agent",))


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


def refused(url: str, exc: RefusedAddressError) -> RelayError:
    return RelayError(f"the image URL {url[:200]} is not fetched: {exc}; this server fetches images only from "
                      "public addresses", status=400, code="image_url_not_allowed")


def _refusal_in(exc: BaseException) -> RefusedAddressError | None:
    """The guard's refusal behind an aiohttp connection error, if that is what it was."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, RefusedAddressError):
            return seen
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return None


async def _check_before_proxy(relay: Relay, url: URL) -> None:
    """Through a proxy: refuse a hop whose host is, or resolves to, an address the guard refuses. A name this
    server cannot resolve is refused too: the proxy, often inside the private network, might resolve it to
    an internal address."""
    host = url.raw_host or ""
    allow_private = relay.config.user_content_request_allow_private
    check_literal(host, allow_private)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, url.port, type=socket.SOCK_STREAM)
    except OSError:
        raise RelayError(f"the image URL's host {host[:100]} cannot be resolved here, so it is not fetched",
                         status=400, code="image_url_not_allowed") from None
    for *_, address in infos:
        check_literal(str(address[0]), allow_private)


async def _get(relay: Relay, original: str) -> InlineImage:
    config = relay.config
    url = URL(original)
    for _ in range(MAX_REDIRECTS + 1):
        if url.scheme not in SCHEMES or not url.raw_host:
            raise RelayError(f"the image URL {original[:200]} leads to {str(url)[:200]}, which is not an http(s) "
                             "URL", status=400, code="invalid_image_url")
        if config.user_content_request_proxy:
            await _check_before_proxy(relay, url)
        async with relay.user_content().get(url, proxy=config.user_content_request_proxy or None,
                                            allow_redirects=False) as resp:
            if resp.status in REDIRECTS and resp.headers.get("Location"):
                url = url.join(URL(resp.headers["Location"]))
                continue
            if resp.status != 200:
                raise RelayError(f"fetching the image {original[:200]} failed with status {resp.status}",
                                 status=400, code="image_fetch_failed")
            if resp.content_length and resp.content_length > MAX_IMAGE_BYTES:
                raise RelayError("image too large", status=400, code="image_too_large")
            data = bytearray()
            async for piece in resp.content.iter_chunked(65536):
                data += piece
                if len(data) > MAX_IMAGE_BYTES:
                    raise RelayError("image too large", status=400, code="image_too_large")
            mime = resp.headers.get("Content-Type", "image/jpeg").split(";")[0].strip() or "image/jpeg"
            return InlineImage(mime, base64.b64encode(bytes(data)).decode())
    raise RelayError(f"fetching the image {original[:200]} took more than {MAX_REDIRECTS} redirects", status=400,
                     code="image_fetch_failed")


async def fetch(relay: Relay, url: str) -> InlineImage:
    try:
        async with asyncio.timeout(relay.config.user_content_request_timeout):
            return await _get(relay, url)
    except RefusedAddressError as exc:
        raise refused(url, exc) from None
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        refusal = _refusal_in(exc)
        if refusal is not None:
            raise refused(url, refusal) from None
        raise RelayError(f"fetching the image {url[:200]} failed: {type(exc).__name__}", status=400,
                         code="image_fetch_failed") from None


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
