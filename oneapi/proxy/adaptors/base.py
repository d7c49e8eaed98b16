"""What every adaptor receives and returns. Adaptors are pure translators: data in, data out, no I/O.

The relay hands an adaptor a :class:`RelayRequest` (the client's request, parsed once) and a channel; the
adaptor returns the :class:`UpstreamCall` to make. OpenAI-protocol adaptors mark themselves ``passthrough``:
the relay then forwards the upstream's bytes as they arrive and only reads usage from them.

The registry's typed loaders (``adaptors/__init__.py``) make mypy check each adaptor against the protocol the
relay calls it through; each module also ends with ``if TYPE_CHECKING: _CHECKED: TranslatingAdaptor = ADAPTOR``
(or ``Adaptor``, plus ``CredentialExchange`` where it exchanges keys, which the registry's type does not say), so a
method renamed or retyped in an adaptor fails ``mypy oneapi`` (``tests/unit/test_adaptor_protocols.py`` sees that
no module leaves the line out).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from oneapi.wire.channel import RouteChannel

Mode = Literal["chat", "completions", "embeddings", "moderations", "edits", "images", "speech",
               "transcriptions", "translations"]


@dataclass(frozen=True)
class InlineImage:
    """An image the relay fetched (or decoded from a data URL) for providers that want bytes, not URLs."""

    mime_type: str
    data_base64: str


@dataclass(frozen=True)
class RelayRequest:
    mode: Mode
    path: str                      # the client's path, e.g. /v1/chat/completions
    query: str                     # the client's query string, without '?'
    body: bytes                    # the client's body, exactly as received (after gzip decoding)
    json: dict[str, Any] | None    # the parsed body (None for multipart audio)
    model: str                     # the model the client asked for
    upstream_model: str            # after the channel's model_mapping
    stream: bool
    content_type: str
    accept: str
    include_usage: bool = False    # the client asked for stream usage (stream_options.include_usage)
    system_prompt: str = ""        # the channel's system prompt to enforce, if any
    images: Mapping[str, InlineImage] = field(default_factory=dict)  # image URL → bytes, for inline_images adaptors
    credential: str = ""           # from the adaptor's credential exchange (e.g. Baidu's access token), if any
    now: float = field(default_factory=time.time)  # the clock for signatures and JWTs, so adaptors stay pure


@dataclass(frozen=True)
class UpstreamCall:
    """One upstream request. ``method`` "WS" opens a websocket to ``url`` (ws:// or wss://), sends ``body`` as
    the first text frame, and hands every received frame to the adaptor as one line (frame + ``\n``)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream_usage_requested: bool = False  # we asked the upstream for a usage chunk the client did not ask for
    drop_empty_chunks: bool = False       # Azure: drop content-filter chunks with no choices and no usage
    # A multi-step exchange (Replicate: create a prediction, then poll or stream it). Given this call's answer
    # (status, body), ``follow`` names the next call, or the answer it put together from the answers so far
    # (Collected), or None when this answer is the one to deliver. Pure.
    follow: Callable[[int, bytes], FollowUp | Collected | None] | None = None
    # Made once this call's (streamed) answer has ended; its body is appended to the answer (Replicate: the
    # finished prediction, whose metrics are the stream's usage). Best effort: a failure just ends the answer.
    epilogue: UpstreamCall | None = None


@dataclass(frozen=True)
class FollowUp:
    """The next call of a multi-step exchange, made ``delay`` seconds after the previous answer (polling)."""

    call: UpstreamCall
    delay: float = 0.0
    # Made instead, best effort, when the exchange is given up here (its time bound reached, or the client
    # gone): Replicate cancels the prediction, which it would otherwise run, and bill, to the end.
    abandon: UpstreamCall | None = None


@dataclass(frozen=True)
class Collected:
    """The answer to deliver (with the last call's status), put together from several calls' answers (Bedrock's
    Titan embeds one text per call)."""

    body: bytes


ResponseFormat = Literal["text", "json_object", "json_schema"]
EVERY_FORMAT: frozenset[ResponseFormat] = frozenset({"text", "json_object", "json_schema"})


class AdaptorBase:
    """What an adaptor serves beyond plain text, declared as class attributes so the relay can route around a
    channel that cannot honour a request and refuse in one place (``proxy/capabilities.py``) instead of
    letting an adaptor drop a field silently. A new adaptor inherits the cautious defaults below and states
    what its provider really offers; the README's relay section tabulates these values.
    """

    # n > 1: True when the provider returns several choices itself (Gemini's candidateCount); False: such a
    # request is refused (400 n_not_supported) rather than answered with one choice. No adaptor fans out.
    serves_n: bool = False
    # The response_format types mapped to a native mechanism of the provider; any other is refused (400).
    response_formats: frozenset[ResponseFormat] = frozenset({"text"})
    serves_tools: bool = False   # tools / functions are sent to the provider (else 400 tools_not_supported)
    serves_images: bool = False  # image_url parts are sent to the provider (else 400 images_not_supported)


class Adaptor(Protocol):
    name: str  # the provider as a refusal names it ("anthropic channels do not support tools", capabilities.py)
    passthrough: bool
    serves_n: bool
    response_formats: frozenset[ResponseFormat]
    serves_tools: bool
    serves_images: bool

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        """The upstream request for this client request on this channel."""
        ...


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


class StreamTranslator(Protocol):
    """Provider stream bytes in, OpenAI ``chat.completion.chunk`` dicts out (SPEC 1.5). Pure and incremental."""

    usage: Usage | None  # what the provider reported, once known

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        ...

    def finish(self) -> list[dict[str, Any]]:
        """Chunks still owed at the end of the stream (e.g. a final finish_reason)."""
        ...


class TranslatingAdaptor(Protocol):
    """A provider with its own protocol: requests and answers are translated both ways."""

    name: str                  # see Adaptor
    passthrough: bool          # False
    inline_images: bool        # True: the relay fetches http(s) image URLs into RelayRequest.images first
    serves_n: bool             # see AdaptorBase
    response_formats: frozenset[ResponseFormat]
    serves_tools: bool
    serves_images: bool

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        ...

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        """A 200 answer → the OpenAI response object and the provider's usage (None: count tokens).
        Raises UpstreamError when the body carries a provider error."""
        ...

    def stream_translator(self, request: RelayRequest) -> StreamTranslator:
        ...

    def error(self, status: int, body: bytes) -> Exception:
        """A non-200 answer → an UpstreamError in OpenAI's shape, keeping the provider's status and code."""
        ...


class CredentialExchange(Protocol):
    """An adaptor whose key must first be exchanged for a short-lived credential (Baidu's access token).

    The relay runs the exchange (I/O), caches the credential per channel key until shortly before it expires,
    shares one exchange among simultaneous requests, and passes it in ``RelayRequest.credential``.
    """

    def credential_request(self, channel: RouteChannel) -> UpstreamCall:
        ...

    def parse_credential(self, status: int, body: bytes) -> tuple[str, float]:
        """(credential, lifetime in seconds); raises UpstreamError when the exchange was refused."""
        ...

    def credential_rejected(self, error: Exception) -> bool:
        """The upstream refused the credential as invalid or expired: exchange again (once) and retry."""
        ...
