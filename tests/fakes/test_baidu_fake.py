"""Proof that the fake Baidu upstream speaks Baidu's published format: the official ``qianfan`` SDK is satisfied.

qianfan (v1 API, "application" API Key / Secret Key auth) is pointed at the fake through its config's
``BASE_URL`` (env ``QIANFAN_BASE_URL``): it exchanges the key at ``{BASE_URL}/oauth/2.0/token`` and calls
``{BASE_URL}/rpc/2.0/ai_custom/v1/wenxinworkshop/...?access_token=...`` — the fake's endpoints. Its token manager
reads the *global* config, so the fixture sets ``BASE_URL`` there (and lets it refresh a token at any time) and
restores it afterwards. The SDK is synchronous (requests), so it runs in a thread. Each test uses its own API
Key so tokens the SDK cached for another test's fake are never reused.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import qianfan
import qianfan.errors

from tests.fakes.baidu_upstream import PREFIX, FakeBaidu, start_baidu
from tests.fakes.openai_upstream import embedding_vector


def body_of(result: qianfan.QfResponse | Any) -> dict[str, Any]:
    """The body of a non-stream qianfan answer."""
    assert isinstance(result, qianfan.QfResponse)
    body: dict[str, Any] = result.body
    return body


@pytest.fixture
async def baidu() -> AsyncIterator[tuple[FakeBaidu, str, str, str]]:
    ak, sk = f"ak-{uuid.uuid4().hex[:12]}", f"sk-{uuid.uuid4().hex}"
    fake = FakeBaidu(clients={ak: sk})
    url, stop = await start_baidu(fake)
    config = qianfan.get_config()
    saved = (config.BASE_URL, config.ACCESS_TOKEN_REFRESH_MIN_INTERVAL)
    config.BASE_URL, config.ACCESS_TOKEN_REFRESH_MIN_INTERVAL = url, 0
    yield fake, url, ak, sk
    config.BASE_URL, config.ACCESS_TOKEN_REFRESH_MIN_INTERVAL = saved
    await stop()


async def test_qianfan_chat_with_system(baidu: tuple[FakeBaidu, str, str, str]) -> None:
    fake, _, ak, sk = baidu
    chat = qianfan.ChatCompletion(ak=ak, sk=sk)
    answer = await asyncio.to_thread(chat.do, model="ERNIE-3.5-8K", system="You are terse",
                                     messages=[{"role": "user", "content": "Say hello please"}])
    assert body_of(answer)["result"] == "echo: Say hello please"
    assert body_of(answer)["usage"] == {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10}
    assert len(fake.token_requests) == 1
    sent = fake.requests[-1]
    assert sent.path == PREFIX + "/chat/completions"
    assert sent.query["access_token"] in fake.tokens
    assert sent.json()["system"] == "You are terse"


async def test_qianfan_stream(baidu: tuple[FakeBaidu, str, str, str]) -> None:
    fake, _, ak, sk = baidu
    fake.reply_text("one two three four five six")
    chat = qianfan.ChatCompletion(ak=ak, sk=sk)

    def run() -> list[dict[str, Any]]:
        return [part.body for part in chat.do(model="ERNIE-Speed-8K", stream=True,
                                              messages=[{"role": "user", "content": "count"}])]

    parts = await asyncio.to_thread(run)
    assert "".join(p["result"] for p in parts) == "one two three four five six"
    assert [p["is_end"] for p in parts] == [False, False, True]
    assert parts[-1]["usage"] == {"prompt_tokens": 1, "completion_tokens": 6, "total_tokens": 7}
    assert fake.requests[-1].path == PREFIX + "/chat/ernie_speed"


async def test_qianfan_embeddings(baidu: tuple[FakeBaidu, str, str, str]) -> None:
    fake, _, ak, sk = baidu
    embedding = qianfan.Embedding(ak=ak, sk=sk)
    answer = await asyncio.to_thread(embedding.do, model="bge-large-zh", texts=["hello world", "bye"])
    assert [d["embedding"] for d in body_of(answer)["data"]] == [embedding_vector("hello world"),
                                                                 embedding_vector("bye")]
    assert body_of(answer)["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert fake.requests[-1].path == PREFIX + "/embeddings/bge_large_zh"


async def test_qianfan_exchanges_again_when_the_token_expired(baidu: tuple[FakeBaidu, str, str, str]) -> None:
    fake, _, ak, sk = baidu
    chat = qianfan.ChatCompletion(ak=ak, sk=sk)
    messages = [{"role": "user", "content": "hi"}]
    await asyncio.to_thread(chat.do, model="ERNIE-3.5-8K", messages=messages)
    fake.expire_tokens()
    answer = await asyncio.to_thread(chat.do, model="ERNIE-3.5-8K", messages=messages)
    assert body_of(answer)["result"] == "echo: hi"
    assert len(fake.token_requests) == 2  # the SDK saw 111 and exchanged its key again


async def test_qianfan_refuses_a_wrong_secret(baidu: tuple[FakeBaidu, str, str, str]) -> None:
    _, _, ak, _ = baidu
    chat = qianfan.ChatCompletion(ak=ak, sk="not-the-secret")
    with pytest.raises(qianfan.errors.AuthError, match="SK"):
        await asyncio.to_thread(chat.do, model="ERNIE-3.5-8K", messages=[{"role": "user", "content": "hi"}])


# -- the published format, checked directly -----------------------------------------------------------------

async def _post(url: str, body: Any = None, **query: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, \
            session.post(url, params=query, data=json.dumps(body or {}).encode(),
                         headers={"Content-Type": "application/json"}) as response:
        return response.status, await response.json()


async def test_token_endpoint_refusals(baidu: tuple[FakeBaidu, str, str, str]) -> None:
    _, url, ak, sk = baidu
    token_url = url + "/oauth/2.0/token"
    assert await _post(token_url, grant_type="client_credentials", client_id="nobody", client_secret=sk) == (
        401, {"error": "invalid_client", "error_description": "unknown client id"})
    assert await _post(token_url, grant_type="client_credentials", client_id=ak, client_secret="x") == (
        401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    status, body = await _post(token_url, grant_type="password", client_id=ak, client_secret=sk)
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    status, body = await _post(token_url, grant_type="client_credentials", client_id=ak, client_secret=sk)
    assert status == 200 and body["access_token"].startswith("24.") and body["expires_in"] == 2592000


async def test_api_refusals_are_200_bodies_with_error_codes(baidu: tuple[FakeBaidu, str, str, str]) -> None:
    fake, url, ak, sk = baidu
    _, token = await _post(url + "/oauth/2.0/token", grant_type="client_credentials", client_id=ak, client_secret=sk)
    chat = url + PREFIX + "/chat/completions"
    user = {"role": "user", "content": "hi"}
    cases: list[tuple[Any, dict[str, str], int]] = [
        ({"messages": [user]}, {}, 110),
        ({"messages": [user]}, {"access_token": "24.forged"}, 110),
        ({"messages": [user, {"role": "assistant", "content": "yo"}]}, {}, 336006),
        ({"messages": [{"role": "assistant", "content": "yo"}]}, {}, 336003),
        ({"messages": [{"role": "user", "content": ""}]}, {}, 336003),
        ({"messages": [user], "max_tokens": 5}, {}, 336003),
        ({"messages": [user], "temperature": 0}, {}, 336003),
        ({"messages": [user], "penalty_score": 0}, {}, 336003),
    ]
    for body, query, code in cases:
        params = query if query or code == 110 else {"access_token": token["access_token"]}
        status, answer = await _post(chat, body, **params)
        assert (status, answer["error_code"]) == (200, code), (body, answer)
    status, answer = await _post(url + PREFIX + "/chat/no-such-endpoint", {"messages": [user]},
                                 access_token=token["access_token"])
    assert answer["error_code"] == 3
    fake.expire_tokens()
    status, answer = await _post(chat, {"messages": [user]}, access_token=token["access_token"])
    assert (answer["error_code"], answer["error_msg"]) == (111, "Access token expired")
