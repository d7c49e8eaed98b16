"""Proof that the fake Spark upstream speaks iFlytek's published websocket protocol.

The official SDK (``spark-ai-python``, module ``sparkai``) signs its own URL and talks to the fake, non-stream,
stream and with a function; it is satisfied, and sees the refusals (bad signature, skewed date, ``header.code``
errors) the way it would see iFlytek's. The SDK is synchronous (websocket-client in a thread), so each call runs
in ``asyncio.to_thread`` while the fake serves on this loop. Protocol details the SDK does not exercise (the
signed host, the frame checks, scripting) are checked with a plain aiohttp websocket client.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from sparkai.core.messages import ChatMessage
from sparkai.errors import SparkAIConnectionError
from sparkai.llm.llm import ChatSparkLLM

from tests.fakes.spark_upstream import (
    BAD_DATE,
    BAD_SIGNATURE,
    MISSING_AUTH,
    NO_LICENSE,
    UNKNOWN_KEY,
    FakeSpark,
    sign,
    start_spark,
)

MESSAGES = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hello spark friend")]
WEATHER = [{"name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                            "unit": {"type": "string", "enum": ["c", "f"]}}}}]


@pytest.fixture
async def spark() -> AsyncIterator[tuple[FakeSpark, str]]:
    fake = FakeSpark()
    url, stop = await start_spark(fake)
    yield fake, url
    await stop()


def sdk(fake: FakeSpark, url: str, *, streaming: bool = False, secret: str | None = None,
        path: str = "/v3.5/chat", domain: str = "generalv3.5") -> ChatSparkLLM:
    return ChatSparkLLM(spark_api_url=url + path, spark_app_id=fake.app_id, spark_api_key=fake.api_key,
                        spark_api_secret=secret or fake.api_secret, spark_llm_domain=domain, streaming=streaming,
                        request_timeout=10)


def signed(url: str, path: str, secret: str, api_key: str, *, host: str | None = None,
           date: str | None = None) -> str:
    """A URL signed as iFlytek documents, optionally for another host or date than the real ones."""
    netloc = url.removeprefix("ws://")
    date = date or email.utils.formatdate(time.time(), usegmt=True)
    signature = sign(secret, host or netloc, date, path)
    origin = f'api_key="{api_key}", algorithm="hmac-sha256", headers="host date request-line", signature="{signature}"'
    query = urlencode({"authorization": base64.b64encode(origin.encode()).decode(), "date": date, "host": netloc})
    return f"{url}{path}?{query}"


async def dialogue(url: str, frame: dict[str, Any]) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(json.dumps(frame))
        return [json.loads(m.data) async for m in ws if m.type == aiohttp.WSMsgType.TEXT]


def frame(fake: FakeSpark, domain: str = "generalv3.5", text: Any = None, chat: dict[str, Any] | None = None,
          functions: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"header": {"app_id": fake.app_id},
                            "parameter": {"chat": {"domain": domain, **(chat or {})}},
                            "payload": {"message": {"text": text or [{"role": "user", "content": "hi there"}]}}}
    if functions is not None:
        body["payload"]["functions"] = {"text": functions}
    return body


# -- the official SDK ----------------------------------------------------------------------------------


async def test_sdk_non_stream_with_system_message(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    result = await asyncio.to_thread(sdk(fake, url).generate, [MESSAGES])
    assert result.generations[0][0].text == "echo: hello spark friend"
    assert result.llm_output is not None
    assert result.llm_output["token_usage"] == {"question_tokens": 3, "prompt_tokens": 5, "completion_tokens": 4,
                                                "total_tokens": 9}
    seen = fake.dialogues[-1]
    assert seen.path == "/v3.5/chat" and seen.refused is None
    assert seen.auth["api_key"] == fake.api_key and seen.auth["algorithm"] == "hmac-sha256"
    assert fake.frames[-1] == {
        "header": {"app_id": fake.app_id, "uid": "spark_sdk_user"},
        "parameter": {"chat": {"domain": "generalv3.5", "temperature": 0.5, "top_k": 4, "max_tokens": 2048}},
        "payload": {"message": {"text": [{"role": "system", "content": "be brief"},
                                         {"role": "user", "content": "hello spark friend"}]}}}


async def test_sdk_stream_gets_the_frames_in_order(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    chunks = await asyncio.to_thread(lambda: list(sdk(fake, url, streaming=True).stream(MESSAGES)))
    assert "".join(str(c.content) for c in chunks) == "echo: hello spark friend"
    assert len([c for c in chunks if c.content]) == FakeSpark.pieces
    assert chunks[-1].additional_kwargs["token_usage"]["completion_tokens"] == 4


async def test_sdk_function_call(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    messages = [ChatMessage(role="user", content="Paris")]
    result = await asyncio.to_thread(sdk(fake, url, path="/v3.1/chat", domain="generalv3").generate, [messages],
                                     function_definition=WEATHER)
    message: Any = result.generations[0][0].message
    assert message.function_call == {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}
    assert fake.frames[-1]["payload"]["functions"] == {"text": WEATHER}


async def test_sdk_on_lite_max32k_and_ultra(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    user = [ChatMessage(role="user", content="one two")]
    for path, domain in (("/v1.1/chat", "lite"), ("/chat/max-32k", "max-32k"), ("/v4.0/chat", "4.0Ultra")):
        result = await asyncio.to_thread(sdk(fake, url, path=path, domain=domain).generate, [user])
        assert result.generations[0][0].text == "echo: one two", path


async def test_sdk_sees_a_bad_signature_as_401(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    with pytest.raises(SparkAIConnectionError) as caught:
        await asyncio.to_thread(sdk(fake, url, secret="not-the-secret").generate, [MESSAGES])
    assert "401" in str(caught.value) and BAD_SIGNATURE in str(caught.value)
    assert fake.dialogues[-1].refused == 401 and fake.frames == []


async def test_sdk_sees_a_skewed_date_as_403(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    fake.clock_offset = 6 * 60  # the fake's clock runs six minutes ahead of the SDK's
    with pytest.raises(SparkAIConnectionError) as caught:
        await asyncio.to_thread(sdk(fake, url).generate, [MESSAGES])
    assert "403" in str(caught.value) and "valid date" in str(caught.value)
    fake.clock_offset = 4 * 60  # within five minutes: accepted
    result = await asyncio.to_thread(sdk(fake, url).generate, [MESSAGES])
    assert result.generations[0][0].text == "echo: hello spark friend"


async def test_sdk_sees_header_code_errors(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    fake.fail_next(10013, "input audit failed")
    with pytest.raises(SparkAIConnectionError) as caught:
        await asyncio.to_thread(sdk(fake, url).generate, [MESSAGES])
    assert caught.value.error_code == 10013 and "input audit failed" in caught.value.message
    wrong_app = ChatSparkLLM(spark_api_url=url + "/v3.5/chat", spark_app_id="someone-else", spark_api_key=fake.api_key,
                             spark_api_secret=fake.api_secret, spark_llm_domain="generalv3.5", request_timeout=10)
    with pytest.raises(SparkAIConnectionError) as caught:
        await asyncio.to_thread(wrong_app.generate, [MESSAGES])
    assert caught.value.error_code == 11200 and NO_LICENSE in caught.value.message


# -- protocol details ----------------------------------------------------------------------------------


async def test_the_signed_host_must_be_the_host_connected_to(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    answer = await dialogue(signed(url, "/v3.5/chat", fake.api_secret, fake.api_key), frame(fake))
    assert answer[-1]["header"]["status"] == 2 and answer[-1]["payload"]["usage"]["text"]["prompt_tokens"] == 2
    async with aiohttp.ClientSession() as session:
        for target, status, message in (
                (signed(url, "/v3.5/chat", fake.api_secret, fake.api_key, host="spark-api.xf-yun.com"), 401,
                 BAD_SIGNATURE),
                (signed(url, "/v3.5/chat", fake.api_secret, "other-key"), 401, UNKNOWN_KEY),
                (signed(url, "/v3.5/chat", fake.api_secret, fake.api_key,
                        date=email.utils.formatdate(time.time() - 301, usegmt=True)), 403, BAD_DATE),
                (signed(url, "/v3.5/chat", fake.api_secret, fake.api_key, date="yesterday"), 403, BAD_DATE),
                (url + "/v3.5/chat", 401, MISSING_AUTH)):
            async with session.get(target.replace("ws://", "http://")) as resp:
                assert resp.status == status and (await resp.json())["message"] == message, target


async def test_the_legacy_hmac_username_form_is_accepted(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    date = email.utils.formatdate(time.time(), usegmt=True)
    netloc = url.removeprefix("ws://")
    signature = sign(fake.api_secret, netloc, date, "/v1.1/chat")
    origin = (f'hmac username="{fake.api_key}", algorithm="hmac-sha256", headers="host date request-line", '
              f'signature="{signature}"')
    query = urlencode({"authorization": base64.b64encode(origin.encode()).decode(), "date": date, "host": netloc})
    answer = await dialogue(f"{url}/v1.1/chat?{query}", frame(fake, "lite"))
    assert "".join(f["payload"]["choices"]["text"][0]["content"] for f in answer) == "echo: hi there"


@pytest.mark.parametrize(("change", "code", "needle"), [
    ({"domain": "generalv3"}, 10005, "not served at /v3.5/chat"),
    ({"chat": {"top_k": 9}}, 10005, "top_k"),
    ({"chat": {"temperature": 3}}, 10005, "temperature"),
    ({"text": [{"role": "user", "content": "a"}, {"role": "system", "content": "late"}]}, 10005, "come first"),
    ({"text": [{"role": "tool", "content": "a"}]}, 10005, "role"),
    ({"functions": [{"type": "function", "function": {"name": "f"}}]}, 10005, "name is required"),
])
async def test_bad_frames_get_a_header_code(spark: tuple[FakeSpark, str], change: dict[str, Any], code: int,
                                            needle: str) -> None:
    fake, url = spark
    answer = await dialogue(signed(url, "/v3.5/chat", fake.api_secret, fake.api_key), frame(fake, **change))
    assert len(answer) == 1 and answer[0]["header"]["code"] == code and needle in answer[0]["header"]["message"]
    assert "payload" not in answer[0]


async def test_system_and_functions_only_where_spark_takes_them(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    system_first = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    answer = await dialogue(signed(url, "/v1.1/chat", fake.api_secret, fake.api_key),
                            frame(fake, "lite", text=system_first))
    assert answer[0]["header"]["code"] == 10005
    answer = await dialogue(signed(url, "/chat/pro-128k", fake.api_secret, fake.api_key),
                            frame(fake, "pro-128k", functions=WEATHER))
    assert answer[0]["header"]["code"] == 10005 and "not supported" in answer[0]["header"]["message"]


async def test_scripted_stall_drop_and_hang(spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    fake.drop_after(1)
    answer = await dialogue(signed(url, "/v3.5/chat", fake.api_secret, fake.api_key), frame(fake))
    assert [f["payload"]["choices"]["status"] for f in answer] == [0]
    fake.stall_after(2)
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(signed(url, "/v3.5/chat", fake.api_secret, fake.api_key)) as ws:
        await ws.send_str(json.dumps(frame(fake)))
        assert (await ws.receive(timeout=2)).type == aiohttp.WSMsgType.TEXT
        assert (await ws.receive(timeout=2)).type == aiohttp.WSMsgType.TEXT
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.3)
    fake.hang_handshake()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.ws_connect(signed(url, "/v3.5/chat", fake.api_secret, fake.api_key)),
                                   0.3)
