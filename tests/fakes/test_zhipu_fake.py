"""Proof that the fake Zhipu upstream speaks Zhipu's published format: the official ``zhipuai`` SDK (pointed at
the fake with ``base_url``) is satisfied, and the JWT checks refuse what the real service refuses.

The SDK is synchronous (httpx), so it runs in a thread (``asyncio.to_thread``) while the fake serves on this
loop. ``disable_token_cache=False`` makes the SDK sign a JWT (ms timestamps) instead of sending the raw key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import zhipuai
from zhipuai import ZhipuAI

from tests.fakes.zhipu_upstream import FakeZhipu, make_jwt, start_fake

KEY = "zhipu-id.zhipu-secret"
MESSAGES: Any = [{"role": "system", "content": "You are terse"}, {"role": "user", "content": "Say hello please"}]
# prompt_tokens = (3 words + 3) + (3 words + 3) = 12; the echo "echo: Say hello please" is 4 words.


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeZhipu, str]]:
    upstream = FakeZhipu({"zhipu-id": "zhipu-secret"})
    url, stop = await start_fake(upstream)
    yield upstream, url
    await stop()


def sdk(url: str, key: str = KEY, *, jwt: bool = True) -> ZhipuAI:
    return ZhipuAI(api_key=key, base_url=url + "/api/paas/v4", disable_token_cache=not jwt, max_retries=0)


async def post(url: str, body: Any, authorization: str | None) -> tuple[int, Any, str]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text), text
        except ValueError:
            return resp.status, None, text


async def test_sdk_chat_with_a_signed_jwt(fake: tuple[FakeZhipu, str]) -> None:
    upstream, url = fake
    answer = await asyncio.to_thread(lambda: sdk(url).chat.completions.create(model="glm-4", messages=MESSAGES,
                                                                               temperature=0))
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 4)
    seen = upstream.requests[-1]
    assert seen.auth_kind == "jwt" and seen.jwt_payload is not None
    assert seen.jwt_payload["api_key"] == "zhipu-id"
    assert seen.jwt_payload["exp"] > time.time() * 1000 > seen.jwt_payload["timestamp"] - 5000  # milliseconds
    assert seen.json()["do_sample"] is False and seen.json()["temperature"] == 0.01  # the SDK's own clamp


async def test_sdk_stream_ends_with_usage(fake: tuple[FakeZhipu, str]) -> None:
    _, url = fake

    def run() -> list[Any]:
        return list(sdk(url).chat.completions.create(model="glm-4-flash", messages=MESSAGES, stream=True))

    chunks = await asyncio.to_thread(run)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: Say hello please"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 16
    assert all(c.usage is None for c in chunks[:-1])


async def test_sdk_embeddings_take_a_list(fake: tuple[FakeZhipu, str]) -> None:
    _, url = fake
    result = await asyncio.to_thread(lambda: sdk(url).embeddings.create(model="embedding-3", input=["a b", "c"],
                                                                         dimensions=256))
    assert [d.index for d in result.data] == [0, 1] and len(result.data[0].embedding) == 256
    assert result.usage.prompt_tokens == 3 and result.usage.total_tokens == 3


async def test_sdk_tool_call(fake: tuple[FakeZhipu, str]) -> None:
    _, url = fake
    tools: Any = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    answer = await asyncio.to_thread(lambda: sdk(url).chat.completions.create(
        model="glm-4", messages=[{"role": "user", "content": "Paris"}], tools=tools))
    call = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "weather" and json.loads(call.function.arguments) == {"city": "Paris"}


async def test_sdk_raw_api_key_is_accepted_unless_jwt_only(fake: tuple[FakeZhipu, str]) -> None:
    upstream, url = fake
    answer = await asyncio.to_thread(lambda: sdk(url, jwt=False).chat.completions.create(model="glm-4",
                                                                                         messages=MESSAGES))
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert upstream.requests[-1].auth_kind == "api_key"
    upstream.jwt_only = True
    with pytest.raises(zhipuai.APIAuthenticationError):
        await asyncio.to_thread(lambda: sdk(url, jwt=False).chat.completions.create(model="glm-4", messages=MESSAGES))


async def test_sdk_wrong_secret_is_refused_with_zhipus_error(fake: tuple[FakeZhipu, str]) -> None:
    _, url = fake
    with pytest.raises(zhipuai.APIAuthenticationError) as raised:
        await asyncio.to_thread(lambda: sdk(url, "zhipu-id.not-the-secret").chat.completions.create(
            model="glm-4", messages=MESSAGES))
    assert raised.value.status_code == 401
    assert json.loads(raised.value.response.text)["error"]["code"] == "1004"


async def test_sdk_sees_a_scripted_error_and_a_broken_stream(fake: tuple[FakeZhipu, str]) -> None:
    upstream, url = fake
    upstream.fail_next(429, "1302")
    with pytest.raises(zhipuai.APIReachLimitError):
        await asyncio.to_thread(lambda: sdk(url).chat.completions.create(model="glm-4", messages=MESSAGES))
    upstream.stream_error_next("1301")
    with pytest.raises(zhipuai.APIResponseError):
        await asyncio.to_thread(lambda: list(sdk(url).chat.completions.create(model="glm-4", messages=MESSAGES,
                                                                              stream=True)))


# -- the JWT checks, over raw HTTP ------------------------------------------------------------------------

@pytest.mark.parametrize(("authorization", "code"), [
    (None, "1001"),
    ("Bearer not-a-token", "1002"),
    ("Basic abc", "1002"),
    ("Bearer " + make_jwt(KEY, int(time.time() * 1000), ttl_ms=-1000), "1003"),  # expired
    ("Bearer " + make_jwt(KEY, int(time.time()), ttl_ms=3600), "1003"),  # seconds, not milliseconds
    ("Bearer " + make_jwt("zhipu-id.wrong-secret", int(time.time() * 1000)), "1004"),
    ("Bearer " + make_jwt("someone-else.zhipu-secret", int(time.time() * 1000)), "1000"),
    ("Bearer " + make_jwt(KEY, int(time.time() * 1000), header={"alg": "HS512", "sign_type": "SIGN"}), "1002"),
    ("Bearer " + make_jwt(KEY, int(time.time() * 1000), header={"alg": "HS256"}), "1002"),
])
async def test_bad_tokens_are_refused(fake: tuple[FakeZhipu, str], authorization: str | None, code: str) -> None:
    _, url = fake
    status, body, _ = await post(url + "/api/paas/v4/chat/completions", {"model": "glm-4", "messages": MESSAGES},
                                 authorization)
    assert status == 401 and body["error"]["code"] == code and body["error"]["message"]


async def test_a_tampered_payload_is_refused(fake: tuple[FakeZhipu, str]) -> None:
    _, url = fake
    header, payload, signature = make_jwt(KEY, int(time.time() * 1000)).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["exp"] += 10 ** 9
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    status, body, _ = await post(url + "/api/paas/v4/chat/completions", {"model": "glm-4", "messages": MESSAGES},
                                 f"Bearer {header}.{forged}.{signature}")
    assert status == 401 and body["error"]["code"] == "1004"


@pytest.mark.parametrize(("field", "value"), [("temperature", 0), ("temperature", 1), ("top_p", 1.0),
                                              ("top_p", 0)])
async def test_sampling_outside_the_open_interval_is_refused(fake: tuple[FakeZhipu, str], field: str,
                                                             value: float) -> None:
    _, url = fake
    token = "Bearer " + make_jwt(KEY, int(time.time() * 1000))
    status, body, _ = await post(url + "/api/paas/v4/chat/completions",
                                 {"model": "glm-4", "messages": MESSAGES, field: value}, token)
    assert status == 400 and body["error"]["code"] == "1214" and field in body["error"]["message"]


# -- v3 (chatglm_*) ---------------------------------------------------------------------------------------

async def test_v3_invoke_answers_a_json_string_literal(fake: tuple[FakeZhipu, str]) -> None:
    upstream, url = fake
    upstream.reply_text('He said "hi"\nthen left')
    token = make_jwt(KEY, int(time.time() * 1000))
    status, body, _ = await post(url + "/api/paas/v3/model-api/chatglm_turbo/invoke",
                                 {"prompt": [{"role": "user", "content": "hello"}]}, token)  # bare token on v3
    assert status == 200 and body["success"] is True and body["code"] == 200
    assert body["data"]["choices"][0]["content"] == json.dumps('He said "hi"\nthen left', ensure_ascii=False)
    assert body["data"]["usage"] == {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}
    assert upstream.requests[-1].auth_kind == "bare"


async def test_v3_errors_arrive_inside_a_200(fake: tuple[FakeZhipu, str]) -> None:
    _, url = fake
    token = "Bearer " + make_jwt(KEY, int(time.time() * 1000))
    status, body, _ = await post(url + "/api/paas/v3/model-api/chatglm_pro/invoke",
                                 {"prompt": [{"role": "system", "content": "no system role in v3"}]}, token)
    assert status == 200 and body["success"] is False and body["code"] == 1214
    status, body, _ = await post(url + "/api/paas/v3/model-api/chatglm_pro/invoke",
                                 {"prompt": [{"role": "user", "content": "x"}]}, "Bearer zhipu-id.wrong")
    assert status == 200 and body == {"code": 1000, "msg": "身份验证失败。", "success": False}


@pytest.mark.parametrize(("incremental", "expected"), [
    (True, ["echo: o", "ne\ntwo", "\nthree"]),  # a piece starting with a newline starts with an empty data line
    (False, ["echo: o", "echo: one\ntwo", "echo: one\ntwo\nthree"]),
])
async def test_v3_sse_invoke_sends_raw_text_and_a_meta_line(fake: tuple[FakeZhipu, str], incremental: bool,
                                                            expected: list[str]) -> None:
    upstream, url = fake
    upstream.reply_text("echo: one\ntwo\nthree")
    token = "Bearer " + make_jwt(KEY, int(time.time() * 1000))
    status, _, text = await post(url + "/api/paas/v3/model-api/chatglm_std/sse-invoke",
                                 {"prompt": [{"role": "user", "content": "x"}], "incremental": incremental}, token)
    assert status == 200
    events = [e for e in text.split("\n\n") if e]
    added = ["\n".join(line[5:] for line in e.split("\n") if line.startswith("data:")) for e in events[:-1]]
    assert added == expected
    assert all(e.startswith("event:add\nid:") for e in events[:-1])
    last = events[-1].split("\n")
    assert last[0] == "event:finish" and last[2] == "data:" and last[3].startswith("meta:")
    meta = json.loads(last[3][5:])
    assert meta["task_status"] == "SUCCESS" and meta["usage"]["completion_tokens"] == 4
