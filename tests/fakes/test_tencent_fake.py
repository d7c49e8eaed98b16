"""Proof that the fake Hunyuan upstream speaks Tencent Cloud API 3.0: the official
``tencentcloud-sdk-python-hunyuan`` SDK signs its calls (TC3-HMAC-SHA256, ``SignedHeaders=content-type;host``) and
is satisfied with the answers.

The SDK is pointed at the fake with ``HttpProfile(protocol="http", endpoint="127.0.0.1:<port>")`` (the profile's
parameter is ``protocol``; ``scheme`` is the attribute it sets). It is synchronous (requests), so it runs in a
thread. The fake also refuses what Tencent refuses: bad signatures, unknown SecretIds, stale timestamps, unknown
parameters — checked here with both the SDK and hand-signed requests.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.hunyuan.v20230901 import hunyuan_client, models

from oneapi.proxy.adaptors.tencent import authorization
from tests.fakes.openai_upstream import embedding_vector
from tests.fakes.tencent_upstream import SECRET_ID, SECRET_KEY, FakeTencent, start_tencent

MESSAGES = [{"Role": "system", "Content": "You are terse"}, {"Role": "user", "Content": "Say hello please"}]


@pytest.fixture
async def tencent() -> AsyncIterator[tuple[FakeTencent, str]]:
    fake = FakeTencent()
    url, stop = await start_tencent(fake)
    yield fake, url
    await stop()


def sdk(url: str, secret_id: str = SECRET_ID, secret_key: str = SECRET_KEY) -> hunyuan_client.HunyuanClient:
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=url.removeprefix("http://")))
    return hunyuan_client.HunyuanClient(credential.Credential(secret_id, secret_key), "", profile)


def chat_request(**fields: Any) -> models.ChatCompletionsRequest:
    request = models.ChatCompletionsRequest()
    request.from_json_string(json.dumps({"Model": "hunyuan-lite", "Messages": MESSAGES, **fields}))
    return request


async def test_sdk_chat_non_stream(tencent: tuple[FakeTencent, str]) -> None:
    fake, url = tencent
    answer = await asyncio.to_thread(sdk(url).ChatCompletions, chat_request(Temperature=0.5, TopP=0.9))
    assert answer.Choices[0].Message.Content == "echo: Say hello please"
    assert answer.Choices[0].FinishReason == "stop"
    assert (answer.Usage.PromptTokens, answer.Usage.CompletionTokens, answer.Usage.TotalTokens) == (6, 4, 10)
    assert answer.RequestId
    sent = fake.requests[-1]
    assert sent.headers["x-tc-action"] == "ChatCompletions" and sent.headers["x-tc-version"] == "2023-09-01"
    assert "SignedHeaders=content-type;host," in sent.headers["authorization"]


async def test_sdk_chat_stream(tencent: tuple[FakeTencent, str]) -> None:
    fake, url = tencent
    fake.reply_text("one two three four five six")

    def run() -> list[dict[str, Any]]:
        return [json.loads(event["data"]) for event in sdk(url).ChatCompletions(chat_request(Stream=True))]

    events = await asyncio.to_thread(run)
    assert "".join(e["Choices"][0]["Delta"]["Content"] for e in events) == "one two three four five six"
    assert [e["Choices"][0]["FinishReason"] for e in events] == ["", "", "stop"]
    assert "Response" not in events[0]
    assert events[-1]["Usage"] == {"PromptTokens": 6, "CompletionTokens": 6, "TotalTokens": 12}


async def test_sdk_get_embedding(tencent: tuple[FakeTencent, str]) -> None:
    _, url = tencent
    request = models.GetEmbeddingRequest()
    request.InputList = ["hello world", "bye"]
    answer = await asyncio.to_thread(sdk(url).GetEmbedding, request)
    assert [d.Embedding for d in answer.Data] == [embedding_vector("hello world"), embedding_vector("bye")]
    assert [d.Index for d in answer.Data] == [0, 1]
    assert (answer.Usage.PromptTokens, answer.Usage.TotalTokens) == (3, 3)


@pytest.mark.parametrize(("secret_id", "secret_key", "code"), [
    (SECRET_ID, "wrong-secret-key", "AuthFailure.SignatureFailure"),
    ("AKIDunknown", SECRET_KEY, "AuthFailure.SecretIdNotFound"),
])
async def test_sdk_sees_auth_failures(tencent: tuple[FakeTencent, str], secret_id: str, secret_key: str,
                                      code: str) -> None:
    _, url = tencent
    with pytest.raises(TencentCloudSDKException) as caught:
        await asyncio.to_thread(sdk(url, secret_id, secret_key).ChatCompletions, chat_request())
    assert caught.value.get_code() == code


async def test_sdk_sees_stale_timestamps_and_unknown_parameters(tencent: tuple[FakeTencent, str]) -> None:
    fake, url = tencent
    fake.clock = lambda: time.time() + 301
    with pytest.raises(TencentCloudSDKException) as stale:
        await asyncio.to_thread(sdk(url).ChatCompletions, chat_request())
    assert stale.value.get_code() == "AuthFailure.SignatureExpire"
    fake.clock = time.time
    with pytest.raises(TencentCloudSDKException) as unknown:
        await asyncio.to_thread(sdk(url).call_json, "ChatCompletions",
                                {"Model": "hunyuan-lite", "Messages": MESSAGES, "max_tokens": 5})
    assert unknown.value.get_code() == "UnknownParameter" and "max_tokens" in unknown.value.get_message()


# -- hand-signed requests (signed headers content-type;host;x-tc-action, as the relay sends) -----------------

async def _call(url: str, body: dict[str, Any], *, action: str = "ChatCompletions", host: str | None = None,
                content_type: str = "application/json", timestamp: int | None = None) -> dict[str, Any]:
    payload = json.dumps(body).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    signed_host = host or url.removeprefix("http://")
    headers = {"Content-Type": content_type, "X-TC-Action": action, "X-TC-Version": "2023-09-01",
               "X-TC-Timestamp": str(ts),
               "Authorization": authorization(SECRET_ID, SECRET_KEY, signed_host, action, payload, ts)}
    async with aiohttp.ClientSession() as session, session.post(url + "/", data=payload, headers=headers) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
        answer: dict[str, Any] = (await resp.json())["Response"]
        return answer


async def test_signature_covers_host_action_and_body(tencent: tuple[FakeTencent, str]) -> None:
    _, url = tencent
    ok = await _call(url, {"Model": "hunyuan-lite", "Messages": MESSAGES})
    assert ok["Choices"][0]["Message"]["Content"] == "echo: Say hello please"
    wrong_host = await _call(url, {"Model": "hunyuan-lite", "Messages": MESSAGES},
                             host="hunyuan.tencentcloudapi.com")  # One API's quirk: the default host signed
    assert wrong_host["Error"]["Code"] == "AuthFailure.SignatureFailure"
    charset = await _call(url, {"Model": "hunyuan-lite", "Messages": MESSAGES},
                          content_type="application/json; charset=utf-8")
    assert charset["Error"]["Code"] == "InvalidParameter"
    day_old = await _call(url, {"Model": "hunyuan-lite", "Messages": MESSAGES}, timestamp=int(time.time()) - 86400)
    assert day_old["Error"]["Code"] == "AuthFailure.SignatureExpire"


@pytest.mark.parametrize(("body", "code"), [
    ({"Model": "hunyuan-lite", "Messages": MESSAGES, "max_tokens": 3}, "UnknownParameter"),
    ({"Model": "hunyuan-lite", "Messages": [{"Role": "user", "Content": "x", "name": "n"}]}, "UnknownParameter"),
    ({"Model": "gpt-4", "Messages": MESSAGES}, "InvalidParameterValue.Model"),
    ({"Model": "hunyuan-lite", "Messages": [{"Role": "assistant", "Content": "x"}]}, "InvalidParameter"),
    ({"Model": "hunyuan-lite", "Messages": [{"Role": "user", "Content": "x"}, {"Role": "user", "Content": "y"}]},
     "InvalidParameter"),
    ({"Model": "hunyuan-lite", "Messages": [{"Role": "user", "Content": ""}]}, "InvalidParameter"),
    ({"Model": "hunyuan-lite", "Messages": MESSAGES, "Temperature": 2.5}, "InvalidParameterValue.ParameterValueError"),
])
async def test_bodies_are_validated(tencent: tuple[FakeTencent, str], body: dict[str, Any], code: str) -> None:
    _, url = tencent
    assert (await _call(url, body))["Error"]["Code"] == code


async def test_embedding_takes_no_model(tencent: tuple[FakeTencent, str]) -> None:
    _, url = tencent
    answer = await _call(url, {"Model": "hunyuan-embedding", "InputList": ["a"]}, action="GetEmbedding")
    assert answer["Error"]["Code"] == "UnknownParameter"
    answer = await _call(url, {"Input": "a b"}, action="GetEmbedding")
    assert answer["Usage"] == {"PromptTokens": 2, "TotalTokens": 2}
