"""Per-token rate limits on /v1 (issue 14): requests per minute and tokens per minute, set on the token,
refused with 429, OpenAI's error object and a Retry-After the official openai SDK reads. One node, no Redis:
every configured backend (the limits ride on the token's row; the hot path reads them from the ledger's cache).

The fake upstream's usage is words-based (``tests/fakes/openai_upstream.py``): a chat of one message of ``w``
words costs ``w + 3`` prompt tokens, and its answer ``echo: <text>`` ``w + 1`` completion tokens."""

from __future__ import annotations

import openai
import pytest

from oneapi.services.shared_windows import window_key
from oneapi.services.token_limits import MINUTE
from tests.functional.relay_env import RelayEnv

MINI = "gpt-4o-mini"


async def chat(env: RelayEnv, key: str, text: str = "hello there") -> str:
    answer = await env.client(key).chat.completions.create(model=MINI, messages=[{"role": "user", "content": text}])
    return answer.choices[0].message.content or ""


async def refused(env: RelayEnv, key: str, text: str = "hello there") -> openai.RateLimitError:
    with pytest.raises(openai.RateLimitError) as caught:
        await chat(env, key, text)
    return caught.value


def assert_limit_error(exc: openai.RateLimitError) -> int:
    assert exc.status_code == 429
    body = exc.body
    assert isinstance(body, dict)
    assert body["code"] == "token_rate_limit_exceeded" and body["type"] == "one_api_error"
    assert "per minute" in body["message"] and "request id" in body["message"]
    seconds = int(exc.response.headers["retry-after"])
    assert 1 <= seconds <= 60
    assert f"retry in {seconds} s" in body["message"]
    return seconds


async def token_id(env: RelayEnv, key: str) -> int:
    return int((await env.token_row(key))["id"])


async def test_requests_per_minute_refuse_the_next_request_with_retry_after(relay_any: RelayEnv) -> None:
    env = relay_any
    fake, url = await env.fake()
    await env.add_channel(url)
    key = await env.new_token(unlimited_quota=True, rpm_limit=3)
    for _ in range(3):
        assert await chat(env, key) == "echo: hello there"
    assert_limit_error(await refused(env, key))
    assert_limit_error(await refused(env, key))  # refused requests are not counted, and still refused
    assert len(fake.requests) == 3  # the refused ones never reached the upstream
    for _ in range(5):  # a token without limits is not affected
        await chat(env, env.root_key)
    # the limits travel with the token: 0 lifts it at once, on this node
    token = await env.token_row(key)
    await env.services.tokens.update(1, {**token, "rpm_limit": 0}, False)
    assert await chat(env, key) == "echo: hello there"


async def test_tokens_per_minute_count_what_was_billed_and_refuse_once_reached(relay_any: RelayEnv) -> None:
    env = relay_any
    _, url = await env.fake()
    await env.add_channel(url)
    key = await env.new_token(unlimited_quota=True, tpm_limit=40)
    ten = " ".join(f"w{i}" for i in range(10))  # 13 prompt + 11 completion tokens billed
    await chat(env, key, ten)
    window = window_key("tpm", await token_id(env, key))
    assert env.services.token_limits.local.total(window, MINUTE) == 24
    (log,) = await env.consume_logs()
    assert log["prompt_tokens"] + log["completion_tokens"] == 24
    await chat(env, key, ten)  # 24 < 40: admitted, and the window holds 48 after it
    assert env.services.token_limits.local.total(window, MINUTE) == 48
    assert_limit_error(await refused(env, key, "x"))
    # streamed answers count too (from the usage chunk)
    other = await env.new_token(unlimited_quota=True, tpm_limit=10)
    stream = await env.client(other).chat.completions.create(
        model=MINI, messages=[{"role": "user", "content": ten}], stream=True, stream_options={"include_usage": True})
    async for _ in stream:
        pass
    assert env.services.token_limits.local.total(window_key("tpm", await token_id(env, other)), MINUTE) == 24
    assert_limit_error(await refused(env, other))


async def test_both_limits_on_one_token(relay_env: RelayEnv) -> None:
    env = relay_env
    _, url = await env.fake()
    await env.add_channel(url)
    key = await env.new_token(unlimited_quota=True, rpm_limit=2, tpm_limit=1000)
    await chat(env, key)
    await chat(env, key)
    exc = await refused(env, key)
    assert_limit_error(exc)
    assert "2 requests and 1000 tokens per minute" in str(exc.body["message"])  # type: ignore[index]
