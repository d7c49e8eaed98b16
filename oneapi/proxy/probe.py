"""Channel tests and balance queries (SPEC 4.4, 4.5): the relay's half of ``services.channels.Prober``.

Their messages are for admins, who configured the channel: they keep the failure's detail (the service masks
credentials in them before anyone sees them).

A test runs the real adaptor path (convert → request → parse) with one short chat message and no billing.
Balance queries read the upstream account's credit through each vendor's API, from the channel's base_url.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from oneapi.channel_types import ChannelType, known_type
from oneapi.errors import InvalidInputError, OneAPIError
from oneapi.proxy.adaptors import unserved_reason
from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.proxy.adaptors.openai import base_url
from oneapi.proxy.exchange import build_call, refusal, send_call, translating, with_credential
from oneapi.proxy.failures import NETWORK_ERRORS, UNREADABLE, category, detail, network_failure, unreadable
from oneapi.proxy.health import should_disable
from oneapi.proxy.sse import parse_json
from oneapi.proxy.state import Relay
from oneapi.services.channels import TestOutcome
from oneapi.services.routing import route_channel
from oneapi.wire.channel import RouteChannel

DEFAULT_TEST_MODEL = "gpt-3.5-turbo"
BALANCE_TIMEOUT = aiohttp.ClientTimeout(total=15)


def test_model(channel: RouteChannel, requested: str) -> str:
    """SPEC 4.4: ``?model=`` or gpt-3.5-turbo; when that is not among the channel's models, its first model."""
    model = requested or DEFAULT_TEST_MODEL
    if channel.models and model not in channel.models:
        return channel.models[0]
    return model


class RelayProber:
    def __init__(self, relay: Relay) -> None:
        self._relay = relay

    async def test(self, row: dict[str, Any], model: str) -> TestOutcome:
        """The relay's own exchange (``exchange.py``: build, credential, send, the adaptor's error) with one
        short chat message, unbilled; the verdict and its reason for the admin."""
        relay = self._relay
        channel = route_channel(row)
        model = test_model(channel, model)
        adaptor = relay.adaptor_for(channel.type)
        if adaptor is None:
            return TestOutcome(False, unserved_reason(channel.type), 0.0, model)
        reader = translating(adaptor)
        data = {"model": model, "messages": [{"role": "user", "content": relay.config.test_prompt}]}
        body = json.dumps(data).encode()

        async def exchange(credential: str) -> Any:
            """The answer, as OpenAI's (a translating adaptor's reading of it: an error in a 200 body, such as
            Baidu's expired token, is raised here, inside ``with_credential``)."""
            request = RelayRequest(
                mode="chat", path="/v1/chat/completions", query="", body=body, json=data, model=model,
                upstream_model=channel.upstream_model(model), stream=False, content_type="application/json",
                accept="application/json", system_prompt=channel.system_prompt, credential=credential)
            response = await send_call(relay, channel, build_call(adaptor, channel, request), stream=False)
            try:
                if response.status != 200:
                    raise await refusal(reader, response)
                try:
                    raw = await response.read()
                except NETWORK_ERRORS as exc:
                    raise network_failure(channel.id, "reading the answer", exc) from None
            finally:
                response.release()
            if reader is None:
                return parse_json(raw)
            try:
                return reader.parse_response(request, raw)[0]
            except UNREADABLE as exc:
                raise unreadable(channel.id, "answer", exc) from None

        started = time.monotonic()
        try:
            answer = await with_credential(relay, channel, adaptor, exchange)
        except OneAPIError as exc:  # refused, unconvertible, unreachable, unreadable: the admin reads it all
            return TestOutcome(False, _admin_message(exc), time.monotonic() - started, model,
                               fatal=should_disable(exc.http_status, exc) is not None)
        except NETWORK_ERRORS as exc:  # a credential exchange that could not reach its endpoint
            return TestOutcome(False, f"upstream request failed ({category(exc)}): {detail(exc)}",
                               time.monotonic() - started, model)
        seconds = time.monotonic() - started
        content = _content(answer)
        if reader is not None:
            # PaLM and a few others report no usage: the answer itself is the proof there.
            return TestOutcome(content is not None, content if content is not None else "no content", seconds,
                               model)
        if content is None or not isinstance(answer, dict) or not isinstance(answer.get("usage"), dict):
            return TestOutcome(False, "the answer has no choices[0].message.content or no usage", seconds, model)
        return TestOutcome(True, content, seconds, model)

    async def balance(self, row: dict[str, Any]) -> float:
        channel = route_channel(row)
        base = base_url(channel)
        kind = known_type(channel.type)
        query = _BALANCE.get(kind) if kind is not None else None
        if query is None:
            raise InvalidInputError("尚未实现 (balance queries are not available for this channel type)")
        return await query(self, base, channel.key)

    async def _get(self, url: str, key: str) -> Any:
        session = self._relay.upstream()
        try:
            async with session.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=BALANCE_TIMEOUT,
                                   proxy=self._relay.config.relay_proxy or None) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise InvalidInputError(f"status code: {resp.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise InvalidInputError(f"balance query failed ({category(exc)}): {detail(exc)}") from None
        data = parse_json(body)
        if not isinstance(data, dict):
            raise InvalidInputError("balance query answered with something that is not a JSON object")
        return data

    async def _openai(self, base: str, key: str) -> float:
        sub = await self._get(f"{base}/v1/dashboard/billing/subscription", key)
        now = datetime.now(UTC)
        start = (now - timedelta(days=100)) if not sub.get("has_payment_method") else now.replace(day=1)
        usage = await self._get(f"{base}/v1/dashboard/billing/usage?start_date={start:%Y-%m-%d}"
                                f"&end_date={now + timedelta(days=1):%Y-%m-%d}", key)
        return _number(sub.get("hard_limit_usd")) - _number(usage.get("total_usage")) / 100

    async def _credit_grants(self, base: str, key: str) -> float:
        data = await self._get(f"{base}/dashboard/billing/credit_grants", key)
        return _number(data.get("total_available", data.get("total_remaining")))

    async def _siliconflow(self, base: str, key: str) -> float:
        data = await self._get(f"{base}/v1/user/info", key)
        if data.get("code") not in (20000, "20000"):
            raise InvalidInputError(f"SiliconFlow answered code {data.get('code')}: {data.get('message')}")
        return _number((data.get("data") or {}).get("totalBalance"))

    async def _deepseek(self, base: str, key: str) -> float:
        data = await self._get(f"{base}/user/balance", key)
        for info in data.get("balance_infos") or []:
            if isinstance(info, dict) and info.get("currency") == "CNY":
                return _number(info.get("total_balance"))
        raise InvalidInputError("DeepSeek reported no CNY balance")

    async def _openrouter(self, base: str, key: str) -> float:
        data = (await self._get(f"{base}/v1/credits", key)).get("data") or {}
        return _number(data.get("total_credits")) - _number(data.get("total_usage"))


def _admin_message(exc: OneAPIError) -> str:
    """The error as the admin reads it: a network failure's detail (which the client never sees) included."""
    detail_ = getattr(exc, "detail", None)
    return f"{exc.message} ({detail_})" if isinstance(detail_, str) and detail_ else exc.message


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        raise InvalidInputError(f"balance query answered a non-number: {value!r}") from None


def _content(answer: Any) -> str | None:
    if not isinstance(answer, dict):
        return None
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else None


_BALANCE = {ChannelType.OPENAI: RelayProber._openai, ChannelType.CUSTOM: RelayProber._openai,
            ChannelType.CLOSEAI: RelayProber._credit_grants, ChannelType.API2GPT: RelayProber._credit_grants,
            ChannelType.AIGC2D: RelayProber._credit_grants, ChannelType.SILICONFLOW: RelayProber._siliconflow,
            ChannelType.DEEPSEEK: RelayProber._deepseek, ChannelType.OPENROUTER: RelayProber._openrouter}
