"""One exchange with a channel's upstream, as the relay and the channel test both make it.

The steps every call to a provider takes, whoever asks: the adaptor builds the call (a request it cannot convert
is ``convert_request_failed``), the shared session sends it (a network failure is ``do_request_failed``, the
detail the operator's), an answer that is not 200 becomes the adaptor's own error, and a credential the
provider rejects (Baidu's expired access token) is exchanged again once and the whole call made anew. The relay
adds routing, billing and delivery around it (``relay.py``); the channel test (``probe.py``) a short message and
a verdict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import aiohttp

from oneapi.proxy.adaptors.base import Adaptor, CredentialExchange, RelayRequest, TranslatingAdaptor, UpstreamCall
from oneapi.proxy.answer_headers import rate_limit_headers
from oneapi.proxy.errors import RelayError, UpstreamError, upstream_error
from oneapi.proxy.failures import NETWORK_ERRORS, network_failure
from oneapi.proxy.state import Relay
from oneapi.proxy.upstream import read_limited, send
from oneapi.wire.channel import RouteChannel

T = TypeVar("T")


def translating(adaptor: Adaptor | TranslatingAdaptor) -> TranslatingAdaptor | None:
    """The adaptor as a translator of its provider's own protocol; None for an OpenAI-protocol pass-through."""
    return None if adaptor.passthrough else cast(TranslatingAdaptor, adaptor)


def build_call(adaptor: Adaptor | TranslatingAdaptor, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
    """The adaptor's upstream call for ``request`` on ``channel``."""
    try:
        return adaptor.build(channel, request)
    except (ValueError, TypeError, KeyError) as exc:
        raise RelayError(f"could not convert the request for this channel: {exc}", status=500,
                         code="convert_request_failed") from None


async def send_call(relay: Relay, channel: RouteChannel, call: UpstreamCall, *,
                    stream: bool) -> aiohttp.ClientResponse:
    """Send ``call`` on the shared session; a network failure is the relay's ``do_request_failed``."""
    try:
        return await send(relay, call, stream=stream)
    except NETWORK_ERRORS as exc:
        raise network_failure(channel.id, "upstream request", exc) from None


async def refusal(reader: TranslatingAdaptor | None, response: aiohttp.ClientResponse,
                  status: int | None = None) -> Exception:
    """The error an answer that is not a success carries, read by the translating adaptor that knows the
    provider's error shape (None: OpenAI's); ``status`` is the one to report when it differs from the
    answer's. The upstream's retry and rate-limit headers ride on it to the client."""
    raw = await read_limited(response)
    error = reader.error(status or response.status, raw) if reader is not None else \
        upstream_error(status or response.status, raw)
    if isinstance(error, UpstreamError):
        error.headers = rate_limit_headers(response.headers)
    return error


async def with_credential(relay: Relay, channel: RouteChannel, adaptor: Adaptor | TranslatingAdaptor,
                          exchange: Callable[[str], Awaitable[T]]) -> T:
    """``exchange(credential)`` with the channel's credential: "" unless the adaptor trades the key for one
    (then cached). A credential the provider rejects is traded again once and the exchange made anew."""
    trader = cast(CredentialExchange, adaptor) if hasattr(adaptor, "credential_request") else None
    if trader is None:
        return await exchange("")
    try:
        return await exchange(await relay.credentials.get(trader, channel))
    except UpstreamError as exc:
        if not trader.credential_rejected(exc):
            raise
        relay.credentials.forget(channel)
    return await exchange(await relay.credentials.get(trader, channel))
