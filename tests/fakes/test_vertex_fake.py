"""Proof that the fake Vertex AI speaks Google's published formats: google-auth's service-account credentials
get a token from the fake's token endpoint (the JWT-bearer grant), google-genai in Vertex mode generates and
streams content with them, and the anthropic SDK's AnthropicVertex client gets Claude's answers through
rawPredict and streamRawPredict. A key the fake does not know is refused at the token endpoint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import google.auth.exceptions
import pytest
from anthropic import AsyncAnthropicVertex
from google import genai
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from tests.fakes.vertex_upstream import PROJECT, FakeVertex, new_account, start_fake

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeVertex, str, dict[str, Any]]]:
    upstream = FakeVertex()
    url, account, stop = await start_fake(upstream)
    yield upstream, url, account
    await stop()


def credentials(account: dict[str, Any]) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_info(account, scopes=[SCOPE])


async def test_google_auth_gets_a_token(fake: tuple[FakeVertex, str, dict[str, Any]]) -> None:
    upstream, _, account = fake
    creds = credentials(account)
    import asyncio
    await asyncio.to_thread(creds.refresh, Request())
    assert creds.token and creds.token.startswith("ya29.") and upstream.exchanges == 1


async def test_an_unknown_key_is_refused(fake: tuple[FakeVertex, str, dict[str, Any]]) -> None:
    upstream, _, _ = fake
    stranger, _ = new_account(upstream.token_uri)
    import asyncio
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        await asyncio.to_thread(credentials(stranger).refresh, Request())


async def test_genai_in_vertex_mode(fake: tuple[FakeVertex, str, dict[str, Any]]) -> None:
    upstream, url, account = fake
    client = genai.Client(vertexai=True, project=PROJECT, location="us-central1", credentials=credentials(account),
                          http_options=genai.types.HttpOptions(base_url=url + "/", api_version="v1"))
    answer = await client.aio.models.generate_content(
        model="gemini-2.0-flash-001", contents="Say hello please",
        config=genai.types.GenerateContentConfig(system_instruction="Be brief", temperature=0.2))
    assert answer.text == "echo: Say hello please"
    assert answer.usage_metadata is not None and answer.usage_metadata.prompt_token_count == 5
    path = upstream.requests[-1][0]
    assert path == f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/" \
                   "gemini-2.0-flash-001:generateContent"
    pieces = [c.text async for c in await client.aio.models.generate_content_stream(
        model="gemini-2.0-flash-001", contents="a b c")]
    assert "".join(p or "" for p in pieces) == "echo: a b c" and len(pieces) > 1


async def test_anthropic_vertex(fake: tuple[FakeVertex, str, dict[str, Any]]) -> None:
    upstream, url, account = fake
    creds = credentials(account)
    import asyncio
    await asyncio.to_thread(creds.refresh, Request())
    client = AsyncAnthropicVertex(region="us-east5", project_id=PROJECT, access_token=creds.token,
                                  base_url=url + "/v1", max_retries=0)
    message = await client.messages.create(model="claude-3-5-sonnet-v2@20241022", max_tokens=64,
                                           messages=[{"role": "user", "content": "Say hello please"}])
    assert message.content[0].text == "echo: Say hello please"  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (3, 4)
    assert upstream.requests[-1][0].endswith("/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:rawPredict")
    text = ""
    async with client.messages.stream(model="claude-3-5-haiku@20241022", max_tokens=64,
                                      messages=[{"role": "user", "content": "a b"}]) as stream:
        async for piece in stream.text_stream:
            text += piece
    assert text == "echo: a b"
    assert upstream.requests[-1][0].endswith(":streamRawPredict")


async def test_genai_embeddings_in_vertex_mode(fake: tuple[FakeVertex, str, dict[str, Any]]) -> None:
    upstream, url, account = fake
    client = genai.Client(vertexai=True, project=PROJECT, location="us-central1", credentials=credentials(account),
                          http_options=genai.types.HttpOptions(base_url=url + "/", api_version="v1"))
    result = await client.aio.models.embed_content(
        model="text-embedding-005", contents=["a b", "c"],
        config=genai.types.EmbedContentConfig(output_dimensionality=16))
    assert result.embeddings is not None and [len(e.values or []) for e in result.embeddings] == [16, 16]
    assert result.embeddings[0].statistics is not None and result.embeddings[0].statistics.token_count == 2
    assert upstream.requests[-1][0].endswith("/publishers/google/models/text-embedding-005:predict")


async def test_genai_function_calling_in_vertex_mode(fake: tuple[FakeVertex, str, dict[str, Any]]) -> None:
    _, url, account = fake
    client = genai.Client(vertexai=True, project=PROJECT, location="us-central1", credentials=credentials(account),
                          http_options=genai.types.HttpOptions(base_url=url + "/", api_version="v1"))
    tool = genai.types.Tool(function_declarations=[genai.types.FunctionDeclaration(
        name="weather", parameters=genai.types.Schema(type="OBJECT", properties={
            "city": genai.types.Schema(type="STRING")}))])
    answer = await client.aio.models.generate_content(model="gemini-2.0-flash-001", contents="Paris",
                                                      config=genai.types.GenerateContentConfig(tools=[tool]))
    assert answer.function_calls and answer.function_calls[0].name == "weather"
    assert answer.function_calls[0].args == {"city": "Paris"}
