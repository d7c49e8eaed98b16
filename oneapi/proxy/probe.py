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
from typing import Any, cast

import aiohttp

from oneapi.errors import InvalidInputError, OneAPIError
from oneapi.proxy.adaptors.base import CredentialExchange, RelayRequest, TranslatingAdaptor
from oneapi.proxy.adaptors.openai import base_url
from oneapi.proxy.errors import upstream_error
from oneapi.proxy.failures import UNREADABLE, category, detail
from oneapi.proxy.health import should_disable
from oneapi.proxy.sse import parse_json
from oneapi.proxy.state import Relay
from oneapi.proxy.upstream import read_limited, send
from oneapi.services.channels import TestOutcome
from oneapi.services.routing import RouteChannel

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
        relay = self._relay
        channel = RouteChannel.from_row(row)
        model = test_model(channel, model)
        adaptor = relay.adaptor_for(channel.type)
        if adaptor is None:
            return TestOutcome(False, f"channel type {channel.type} is not supported by this server yet", 0.0,
                               model)
        translating = None if adaptor.passthrough else cast(TranslatingAdaptor, adaptor)
        upstream_model = channel.upstream_model(model)
        data = {"model": model, "messages": [{"role": "user", "content": relay.config.test_prompt}]}
        body = json.dumps(data).encode()
        started = time.monotonic()
        try:
            credential = ""
            if hasattr(adaptor, "credential_request"):
                credential = await relay.credentials.get(cast(CredentialExchange, adaptor), channel)
            request = RelayRequest(
                mode="chat", path="/v1/chat/completions", query="", body=body, json=data, model=model,
                upstream_model=upstream_model, stream=False, content_type="application/json",
                accept="application/json", system_prompt=channel.system_prompt, credential=credential)
            call = adaptor.build(channel, request)
            response = await send(relay, call, stream=False)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return TestOutcome(False, f"upstream request failed ({category(exc)}): {detail(exc)}",
                               time.monotonic() - started, model)
        except OneAPIError as exc:  # a refused credential exchange, an unconvertible request
            return TestOutcome(False, exc.message, time.monotonic() - started, model,
                               fatal=should_disable(exc.http_status, exc) is not None)
        try:
            if response.status != 200:
                raw = await read_limited(response)
                error = translating.error(response.status, raw) if translating else \
                    upstream_error(response.status, raw)
                message = getattr(error, "message", str(error))
                fatal = isinstance(error, OneAPIError) and should_disable(response.status, error) is not None
                return TestOutcome(False, message, time.monotonic() - started, model, fatal=fatal)
            raw = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return TestOutcome(False, f"reading the answer failed ({category(exc)}): {detail(exc)}",
                               time.monotonic() - started, model)
        finally:
            response.release()
        seconds = time.monotonic() - started
        if translating is not None:
            try:
                answer, _ = translating.parse_response(request, raw)
            except OneAPIError as exc:
                return TestOutcome(False, exc.message, seconds, model,
                                   fatal=should_disable(exc.http_status, exc) is not None)
            except UNREADABLE as exc:
                return TestOutcome(False, f"could not read the answer: {exc}", seconds, model)
            content = _content(answer)
            # PaLM and a few others report no usage: the answer itself is the proof there.
            return TestOutcome(content is not None, content if content is not None else "no content", seconds,
                               model)
        answer = parse_json(raw)
        content = _content(answer)
        if content is None or not isinstance(answer, dict) or not isinstance(answer.get("usage"), dict):
            return TestOutcome(False, "the answer has no choices[0].message.content or no usage", seconds, model)
        return TestOutcome(True, content, seconds, model)

    async def balance(self, row: dict[str, Any]) -> float:
        channel = RouteChannel.from_row(row)
        base = base_url(channel)
        query = _BALANCE.get(channel.type)
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


_BALANCE = {1: RelayProber._openai, 8: RelayProber._openai, 4: RelayProber._credit_grants,
            12: RelayProber._credit_grants, 13: RelayProber._credit_grants, 44: RelayProber._siliconflow,
            36: RelayProber._deepseek, 20: RelayProber._openrouter}
