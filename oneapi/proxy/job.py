"""One client request travelling through the relay (``Job``) and one try of it on a channel (``Attempt``): the
data every stage of the relay shares, kept apart from the stages so that they import it, not each other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from oneapi.proxy import media
from oneapi.proxy.adaptors.base import InlineImage, Mode, RelayRequest, UpstreamCall
from oneapi.proxy.auth import Caller
from oneapi.proxy.output_budget import OutputBudget
from oneapi.proxy.state import Relay
from oneapi.services import pricing
from oneapi.services.ledger import Reservation
from oneapi.wire.channel import RouteChannel

if TYPE_CHECKING:
    from oneapi.proxy.inbound import Inbound

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive",
               "X-Accel-Buffering": "no"}


@dataclass
class Job:
    """One client request travelling through the relay."""

    relay: Relay
    request: web.Request
    caller: Caller
    mode: Mode
    body: bytes
    data: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool
    max_tokens: int
    started: float
    request_id: str
    form: list[media.FormPart] | None = None  # audio uploads: the multipart parts
    images: dict[str, InlineImage] | None = None  # fetched once, for adaptors that need image bytes
    prompt_counts: dict[str, int] = field(default_factory=dict)
    # The client speaks another API than OpenAI's (``inbound``): ``data`` is its request translated into an
    # OpenAI one, and the inbound format forwards natively to channels of its own protocol and translates
    # the answers of the others.
    inbound: Inbound | None = None

    def open_stream(self, passed: Mapping[str, str] | None = None) -> web.StreamResponse:
        """The client's SSE answer, before it is prepared: OpenAI's events as written (with the upstream's
        headers that are ``passed`` on), or the inbound format's translation of them."""
        if self.inbound is not None:
            return self.inbound.stream_response(self)
        return web.StreamResponse(status=200, headers={**SSE_HEADERS, **(passed or {})})

    def prompt_tokens(self, model: str) -> int:
        """Prompt tokens as counted locally (pre-charge, and the fallback when the upstream gives no usage)."""
        if model not in self.prompt_counts:
            tok, data = self.relay.tokenizer, self.data
            if self.mode == "chat":
                count = tok.count_messages(data.get("messages"), model)
            elif self.mode == "completions":
                count = tok.count_prompt(data.get("prompt"), model)
            elif self.mode in ("embeddings", "moderations"):
                count = tok.count_input(data.get("input"), model)
            elif self.mode == "edits":
                count = tok.count_text(str(data.get("instruction") or ""), model)
            else:
                count = 0
            self.prompt_counts[model] = count
        return self.prompt_counts[model]


@dataclass
class Attempt:
    channel: RouteChannel
    upstream_model: str
    price: pricing.Price
    reservation: Reservation
    call: UpstreamCall
    system_prompt_reset: bool
    request: RelayRequest
    # PreConsumeMaxOutput: the charge never exceeds the reservation, and a stream stops at the completion
    # tokens the reservation pays for (None: One API's pre-consumption, settled at whatever the answer costs).
    budget: OutputBudget | None = None
    native: bool = False  # the channel speaks the job's inbound format: its answer is forwarded as it is
