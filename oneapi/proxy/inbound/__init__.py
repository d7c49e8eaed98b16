"""Inbound formats: the relay spoken in another provider's API than OpenAI's (``/v1/messages``: Anthropic's;
``/v1beta/models/{model}:generateContent``: Gemini's).

An inbound format is a layer beside the OpenAI routes, not a second relay. Its handler reads and checks the
client's request in that API's terms, translates it into an OpenAI chat request and hands the relay a ``Job``
carrying itself as ``inbound``; from there the request takes the relay's one path — token checks, routing,
reservation, retries, settlement, logs. The relay asks the format two things (:class:`Inbound`):

* a native adaptor for a channel that speaks the format (an Anthropic channel for ``/v1/messages``, a Gemini
  channel for ``generateContent``): the client's body is then forwarded with only the model mapped, and
  :meth:`Inbound.deliver_native` forwards the answer's bytes as they arrive, reading the usage from them for
  billing (``native``);
* the stream response for the other channels, which turns the OpenAI events the relay writes into the
  format's own events (``stream``).

The handler turns a translated JSON answer into the format's, and registers the renderer that answers every
error of the request in the format's shape.

The translations themselves are pure modules (``messages_request``, ``messages_answer``, ``gemini_request``,
``gemini_answer``), tested with golden data; the handler modules (``messages``, ``gemini``) own the I/O, and
``access`` the token checks every format shares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from oneapi.proxy.adaptors.base import Adaptor
from oneapi.wire.channel import RouteChannel

if TYPE_CHECKING:
    import aiohttp

    from oneapi.proxy.job import Attempt, Job


class Inbound(Protocol):
    def native_adaptor(self, channel: RouteChannel) -> Adaptor | None:
        """The adaptor forwarding the client's request as it is, when ``channel`` speaks the client's API;
        None to translate. Raises a RelayError (400) when the request cannot be translated for ``channel``."""
        ...

    def stream_response(self, job: Job) -> web.StreamResponse:
        """The client's stream for an answer the relay writes as OpenAI events."""
        ...

    async def deliver_native(self, job: Job, state: Attempt, response: aiohttp.ClientResponse) -> web.StreamResponse:
        """Forward a native channel's answer (raising its error for the retry loop) and settle it."""
        ...
