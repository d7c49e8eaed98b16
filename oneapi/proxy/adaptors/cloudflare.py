"""Cloudflare Workers AI (channel type 37) through its OpenAI-compatible endpoints. Pure, no I/O.

Workers AI serves OpenAI's protocol for chat completions and embeddings
(https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/):
``{base}/client/v4/accounts/{account_id}/ai/v1/chat/completions`` and ``.../ai/v1/embeddings`` with
``Authorization: Bearer <API token>``. So this adaptor is a pass-through, like the OpenAI one: the body goes as
the client sent it (re-encoded only for a mapped model, the channel's system prompt, or the stream usage
request), and the answer's bytes come back as they arrive, usage read from them.

* The account id is the channel config's ``user_id`` (One API's field; ``account_id`` is read too). A base URL
  that already names the account (``.../client/v4/accounts/<id>/ai`` or ``.../ai/v1``) needs none.
* An AI Gateway base URL (``https://gateway.ai.cloudflare.com/v1/{account}/{gateway}/workers-ai``) is used as
  it is, as One API does: the gateway forwards to the account it names.
* Other modes (completions, images, audio, moderations) have no OpenAI-compatible endpoint on Workers AI: they
  are answered 501 ``mode_not_supported``, so the relay tries another channel. (One API sent completions to
  ``/ai/run/{model}`` and read the answer as OpenAI's, which it is not.)
* A channel without an account id fails with a 500 naming the setting (retried on another channel) rather than
  calling ``/accounts//ai``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oneapi.proxy.adaptors.base import EVERY_FORMAT, Adaptor, AdaptorBase, RelayRequest, UpstreamCall
from oneapi.proxy.adaptors.common import openai_error
from oneapi.proxy.adaptors.openai import CLOUDFLARE_GATEWAY, base_url
from oneapi.proxy.adaptors.openai import _headers as openai_headers  # the OpenAI adaptor's own rules, shared
from oneapi.proxy.adaptors.openai import _rewrite as openai_body
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError

PATHS = {"chat": "/v1/chat/completions", "embeddings": "/v1/embeddings"}
ACCOUNTS = "/client/v4/accounts/"


def account_id(channel: RouteChannel) -> str:
    for name in ("user_id", "account_id"):
        value = channel.config.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def api_prefix(channel: RouteChannel) -> str:
    """The URL the OpenAI paths (``/v1/...``) are appended to."""
    base = base_url(channel).rstrip("/").removesuffix("/v1")
    if base.startswith(CLOUDFLARE_GATEWAY) and base.endswith("/workers-ai"):
        return base
    if ACCOUNTS in base:  # the account is already in the base URL
        return base if base.endswith("/ai") else base + "/ai"
    account = account_id(channel)
    if not account:
        raise openai_error(500, f"channel #{channel.id} (Cloudflare) has no account id: set user_id in its config "
                                '(e.g. {"user_id": "<account id>"})', "one_api_error", "channel_config_invalid")
    return f"{base}{ACCOUNTS}{account}/ai"


class CloudflareAdaptor(AdaptorBase):
    name = "cloudflare"
    passthrough = True
    # OpenAI-compatible endpoints, passed through: Workers AI judges what the request asks.
    serves_n = True
    response_formats = EVERY_FORMAT
    serves_tools = True
    serves_images = True

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        path = PATHS.get(request.mode)
        if path is None:
            raise RelayError(f"Cloudflare Workers AI channels serve chat completions and embeddings, not "
                             f"{request.mode}", status=501, code="mode_not_supported")
        url = api_prefix(channel) + path
        body, added_usage = openai_body(request, stream_options=request.mode == "chat")
        headers = openai_headers(request, {"Authorization": f"Bearer {channel.key}"})
        return UpstreamCall("POST", url, headers, body, added_usage)


ADAPTOR = CloudflareAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: Adaptor = ADAPTOR
