"""Proof that the fake Workers AI API answers as Cloudflare documents its OpenAI-compatible endpoints: the client
Cloudflare's documentation uses for them — the official ``openai`` SDK with ``base_url`` =
``.../client/v4/accounts/{account_id}/ai/v1`` and the API token as key — gets chat completions (plain and
streamed) and embeddings; a bad token or account gets Cloudflare's v4 error envelope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from tests.fakes.cloudflare_upstream import ACCOUNT, FakeCloudflare, start_fake

TOKEN = "cf-fake-token"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeCloudflare, str]]:
    upstream = FakeCloudflare({TOKEN})
    url, stop = await start_fake(upstream)
    yield upstream, url
    await stop()


def client(url: str, account: str = ACCOUNT, token: str = TOKEN) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/client/v4/accounts/{account}/ai/v1", api_key=token, max_retries=0)


async def test_chat_and_stream(fake: tuple[FakeCloudflare, str]) -> None:
    upstream, url = fake
    answer = await client(url).chat.completions.create(
        model="@cf/meta/llama-3.1-8b-instruct", messages=[{"role": "user", "content": "Make some robot noises"}])
    assert answer.choices[0].message.content == "echo: Make some robot noises"
    assert answer.usage is not None and answer.usage.prompt_tokens == 7
    assert upstream.openai.requests[-1].path == f"/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
    stream = await client(url).chat.completions.create(
        model="@cf/qwen/qwq-32b", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"


async def test_embeddings(fake: tuple[FakeCloudflare, str]) -> None:
    _, url = fake
    result = await client(url).embeddings.create(model="@cf/baai/bge-m3", input=["I love matcha", "tea"])
    assert len(result.data) == 2 and result.usage.prompt_tokens == 4


@pytest.mark.parametrize(("account", "token", "status", "code"), [
    (ACCOUNT, "wrong", 401, 10000),
    ("f" * 32, TOKEN, 404, 7003),
])
async def test_refusals_in_cloudflares_envelope(fake: tuple[FakeCloudflare, str], account: str, token: str,
                                                status: int, code: int) -> None:
    _, url = fake
    with pytest.raises(openai.APIStatusError) as raised:
        await client(url, account, token).chat.completions.create(
            model="@cf/meta/llama-3.1-8b-instruct", messages=[{"role": "user", "content": "x"}])
    assert raised.value.status_code == status
    body = raised.value.response.json()
    assert body["success"] is False and body["errors"][0]["code"] == code and body["result"] is None
