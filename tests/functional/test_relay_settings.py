"""Settings that reach translating adaptors, and channel tests through them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes import anthropic_upstream, gemini_upstream
from tests.functional.app_server import AppTestServer
from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env


@pytest.fixture
async def tuned_env(tmp_path: Path) -> AsyncIterator[RelayEnv]:
    config = relay_config(GEMINI_VERSION="v1beta", GEMINI_SAFETY_SETTING="BLOCK_ONLY_HIGH")
    async for env in start_relay_env(sqlite_db(tmp_path), config):
        yield env


async def test_gemini_version_and_safety_settings_come_from_the_config(tuned_env: RelayEnv) -> None:
    fake = gemini_upstream.FakeGemini()
    url, stop = await gemini_upstream.start_fake(fake)
    tuned_env.stops.append(stop)
    await tuned_env.add_channel(url, type=24, key="g-key", models="gemini-pro")
    answer = await tuned_env.client().chat.completions.create(
        model="gemini-pro", messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content
    sent = fake.requests[-1]
    assert sent.path.startswith("/v1beta/models/gemini-pro:")  # gemini-pro alone would use v1
    assert {s["threshold"] for s in sent.json()["safetySettings"]} == {"BLOCK_ONLY_HIGH"}


async def test_channel_test_runs_through_a_translating_adaptor(relay_env: RelayEnv) -> None:
    fake = anthropic_upstream.FakeAnthropic()
    url, stop = await anthropic_upstream.start_fake(fake)
    relay_env.stops.append(stop)
    channel_id = await relay_env.add_channel(url, type=14, key="a-key", models="claude-3-5-haiku-20241022")
    result = await relay_env.services.channels.test(channel_id)
    assert result["success"] is True and result["modelName"] == "claude-3-5-haiku-20241022"
    assert fake.requests[-1].path == "/v1/messages"
    fake.keys = {"a-key"}
    broken = await relay_env.add_channel(url, type=14, key="wrong-key", models="claude-3-5-haiku-20241022")
    failed = await relay_env.services.channels.test(broken)
    assert failed["success"] is False and failed["message"] and failed["fatal"] is True  # 401: cannot work


async def test_counted_usage_is_reported_to_the_client(relay_env: RelayEnv) -> None:
    fake = gemini_upstream.FakeGemini()
    url, stop = await gemini_upstream.start_fake(fake)
    relay_env.stops.append(stop)
    await relay_env.add_channel(url, type=24, key="g-key", models="text-embedding-004")
    result = await relay_env.client().embeddings.create(model="text-embedding-004", input=["one two", "three"])
    assert [d.index for d in result.data] == [0, 1]
    assert result.usage.prompt_tokens > 0 and result.usage.total_tokens == result.usage.prompt_tokens
    logs = await relay_env.consume_logs()
    assert logs[0]["prompt_tokens"] == result.usage.prompt_tokens


async def test_api_answers_are_gzipped_and_unknown_pages_get_a_not_found_page(relay_env: RelayEnv) -> None:
    import aiohttp

    async with aiohttp.ClientSession(auto_decompress=True) as session:
        async with session.get(relay_env.base_url + "/api/channel/models",
                               headers={"Authorization": "root-access-token-0123456789abcd",
                                        "Accept-Encoding": "gzip"}) as resp:
            assert resp.headers.get("Content-Encoding") == "gzip"
            assert (await resp.json())["object"] == "list"  # One API's bare answer, outside the envelope
        async with session.get(relay_env.base_url + "/some/page") as resp:
            assert resp.status == 404 and "text/html" in resp.headers["Content-Type"]
        async with session.get(relay_env.base_url + "/api/nope") as resp:
            assert resp.status == 404
        async with session.get(relay_env.base_url + "/v1/nope") as resp:
            assert resp.status == 404 and (await resp.json())["error"]["message"] == "Invalid URL (GET /v1/nope)"


async def test_a_malformed_upstream_event_ends_the_stream_cleanly_and_bills_what_was_delivered(
        relay_env: RelayEnv) -> None:
    import json

    from aiohttp import web

    def event(delta: object) -> bytes:
        body = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    async def chat(request: web.Request) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        await out.write(event({"role": "assistant", "content": "hello there"}))
        await out.write(event({"tool_calls": 1}))  # not a list: nothing may crash on it
        await out.write(b"data: [DONE]\n\n")
        return out

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    server = AppTestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await relay_env.add_channel(f"http://127.0.0.1:{server.port}")
        before = await relay_env.user_row()
        stream = await relay_env.client().chat.completions.create(
            model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "hi"}])
        text = ""
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
        assert text == "hello there"
        after = await relay_env.user_row()
        assert after["quota"] < before["quota"]  # the delivered text was billed, not refunded
    finally:
        await server.close()


async def test_an_unreadable_provider_event_mid_stream_ends_it_with_an_error_event_and_bills_what_was_said(
        relay_env: RelayEnv) -> None:
    """The stream loop's malformed-event branch: a translated stream (Zhipu's v4) whose provider sends an event
    its translator cannot read, after the first words, ends with stream_interrupted, and those words are
    billed (counted: the provider's usage never came)."""
    import asyncio
    import json

    import openai
    from aiohttp import web

    def zhipu(content: str) -> bytes:
        body = {"id": "z1", "created": 1, "model": "glm-4",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}}]}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    async def chat(request: web.Request) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        await out.write(zhipu("hello there"))
        await asyncio.sleep(0.2)  # the first words reach the client before the unreadable event comes
        await out.write(b'data: {"id": "z1", "choices": 5}\n\n')  # choices must be a list
        await out.write(zhipu(" never said"))
        await out.write(b"data: [DONE]\n\n")
        return out

    app = web.Application()
    app.router.add_post("/api/paas/v4/chat/completions", chat)
    server = AppTestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await relay_env.add_channel(f"http://127.0.0.1:{server.port}", type=16, key="zid.zsecret", models="glm-4")
        before = await relay_env.user_row()
        stream = await relay_env.client().chat.completions.create(
            model="glm-4", stream=True, messages=[{"role": "user", "content": "hi"}])
        said = ""
        with pytest.raises(openai.APIError) as broken:  # the SDK raises the stream's error event
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    said += chunk.choices[0].delta.content
        assert said == "hello there"
        assert isinstance(broken.value.body, dict) and broken.value.body["code"] == "stream_interrupted"
        assert "could not read" in broken.value.message
        after = await relay_env.user_row()
        assert after["quota"] < before["quota"]  # the delivered words were billed, not refunded
        [row] = await relay_env.consume_logs()
        assert row["completion_tokens"] == 2  # "hello there", counted
    finally:
        await server.close()


async def test_a_channel_test_the_adaptor_cannot_build_is_a_failed_verdict_not_an_exception(
        relay_env: RelayEnv) -> None:
    """The channel test takes the relay's exchange: a request the adaptor cannot build (a Zhipu key without its
    <id>.<secret> shape) is convert_request_failed there, and a failed test with the reason here."""
    channel_id = await relay_env.add_channel("http://127.0.0.1:9", type=16, key="no-dot-in-this-key",
                                             models="glm-4")
    result = await relay_env.services.channels.test(channel_id)
    assert result["success"] is False
    assert "could not convert the request" in result["message"] and "<id>.<secret>" in result["message"]
