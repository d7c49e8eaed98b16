"""JSON answers from providers with their own protocol: the adaptor translates, this module delivers and bills.

(Their streams take the relay's one stream loop, ``streaming.py``, through the ``stream_filters.Translating``
filter.)
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from oneapi.proxy.adaptors.base import TranslatingAdaptor, Usage
from oneapi.proxy.adaptors.common import usage_object
from oneapi.proxy.errors import UpstreamError
from oneapi.proxy.failures import NETWORK_ERRORS, UNREADABLE, network_failure, unreadable
from oneapi.proxy.job import Attempt, Job
from oneapi.proxy.settlement import choice_text, settle


async def read_answer(state: Attempt, response: aiohttp.ClientResponse,
                      adaptor: TranslatingAdaptor) -> tuple[bytes, dict[str, Any], Usage | None]:
    """The upstream's whole answer and what its adaptor reads in it: (the bytes, the OpenAI answer, the usage
    the provider reported). A broken read is a network failure, an answer the adaptor cannot read the provider's
    fault; both are retried elsewhere."""
    try:
        body = await response.read()
    except NETWORK_ERRORS as exc:
        raise network_failure(state.channel.id, "reading the upstream answer", exc) from None
    try:
        return (body, *adaptor.parse_response(state.request, body))
    except UpstreamError:
        raise
    except UNREADABLE as exc:
        raise unreadable(state.channel.id, "answer", exc) from None


async def deliver_json(job: Job, state: Attempt, response: aiohttp.ClientResponse,
                       adaptor: TranslatingAdaptor) -> web.Response:
    _, answer, usage = await read_answer(state, response, adaptor)
    if job.mode == "images":  # priced per image before the call (Replicate's), as OpenAI's image answers are
        settle(job, state, 0, 0, quota=state.reservation.amount)
        return web.json_response(answer)

    def text() -> str:
        return choice_text(answer.get("choices"), "message")

    prompt = job.prompt_tokens(state.upstream_model)
    if usage is None:  # the provider gave none: count, bill, and tell the client what was counted
        completion = job.relay.tokenizer.count_text(text(), state.upstream_model)
        usage = Usage(prompt, completion)
        answer["usage"] = (usage_object(usage) if job.mode != "embeddings"
                           else {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens})
    settle(job, state, usage.prompt_tokens, usage.completion_tokens, delivered=text)
    return web.json_response(answer)
