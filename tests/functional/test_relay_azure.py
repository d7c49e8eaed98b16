"""Azure OpenAI channels (type 3; SPEC 6.2 and 11) through oneapi with the official openai SDK: deployment URL,
``api-key`` header, api-version from the channel config, the prompt-filter chunk dropped from streams, usage
requested only from API versions that accept ``stream_options`` (else counted), and embeddings."""

from __future__ import annotations

import json
import math
from typing import Any

import aiohttp
import openai
import pytest

from oneapi.services import pricing
from tests.fakes.openai_upstream import FakeOpenAI, embedding_vector
from tests.functional.relay_env import RelayEnv

AZURE = 3
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there friend"}]
ANSWER = "echo: hello there friend"


async def azure_env(env: RelayEnv, api_version: str | None = "2024-06-01", **fields: Any) -> tuple[FakeOpenAI, int]:
    fake, url = await env.fake(azure=True)
    config = json.dumps({"api_version": api_version}) if api_version else ""
    channel_id = await env.add_channel(url, type=AZURE, key="azure-secret", config=config,
                                       models="gpt-3.5-turbo,gpt-4o,text-embedding-3-small", **fields)
    return fake, channel_id


def text_cost(env: RelayEnv, model: str, prompt: int, completion: int) -> int:
    price = pricing.price_for(env.relay.prices(), model, AZURE, "default")
    return math.ceil((prompt + completion * price.completion_ratio) * (price.model_ratio * price.group_ratio))


async def test_chat_goes_to_the_deployment_with_api_key_and_version(relay_env: RelayEnv) -> None:
    fake, channel_id = await azure_env(relay_env)
    answer = await relay_env.client().chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES)
    assert answer.choices[0].message.content == ANSWER
    assert answer.model == "gpt-35-turbo"  # Azure answers with the deployment name

    sent = fake.requests[-1]
    assert sent.path == "/openai/deployments/gpt-35-turbo/chat/completions"
    assert sent.query == {"api-version": "2024-06-01"}
    assert sent.headers["api-key"] == "azure-secret"
    assert "authorization" not in sent.headers
    assert sent.json() == {"model": "gpt-3.5-turbo", "messages": MESSAGES}

    [log] = await relay_env.consume_logs()
    assert (log["model_name"], log["channel_id"]) == ("gpt-3.5-turbo", channel_id)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (11, 4)  # Azure's usage
    assert log["quota"] == text_cost(relay_env, "gpt-3.5-turbo", 11, 4)


async def test_non_stream_answer_keeps_azure_fields(relay_env: RelayEnv) -> None:
    await azure_env(relay_env)
    async with aiohttp.ClientSession() as session, session.post(
            relay_env.base_url + "/v1/chat/completions", json={"model": "gpt-3.5-turbo", "messages": MESSAGES},
            headers={"Authorization": relay_env.root_key}) as resp:
        body = await resp.json()
    assert body["prompt_filter_results"][0]["prompt_index"] == 0


async def test_legacy_other_field_and_default_api_version(relay_env: RelayEnv) -> None:
    fake, _ = await azure_env(relay_env, api_version=None, other="2023-05-15")
    await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert fake.requests[-1].query == {"api-version": "2023-05-15"}
    assert fake.requests[-1].path == "/openai/deployments/gpt-4o/chat/completions"


async def read_sse(env: RelayEnv, body: dict[str, Any]) -> list[Any]:
    async with aiohttp.ClientSession() as session, session.post(
            env.base_url + "/v1/chat/completions", json=body, headers={"Authorization": env.root_key}) as resp:
        assert resp.status == 200
        text = (await resp.read()).decode()
    payloads = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


@pytest.mark.parametrize("api_version", ["2024-03-01-preview", "2024-06-01"])
async def test_stream_on_an_old_api_version_is_counted(relay_env: RelayEnv, api_version: str) -> None:
    fake, _ = await azure_env(relay_env, api_version)
    events = await read_sse(relay_env, {"model": "gpt-3.5-turbo", "messages": MESSAGES, "stream": True})
    assert "stream_options" not in fake.requests[-1].json()  # old versions refuse it
    assert events and all(e["choices"] for e in events)  # the prompt-filter chunk never reaches the client
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == ANSWER

    [log] = await relay_env.consume_logs()
    tok = relay_env.relay.tokenizer
    prompt = tok.count_messages(MESSAGES, "gpt-3.5-turbo")
    completion = tok.count_text(ANSWER, "gpt-3.5-turbo")
    assert (log["prompt_tokens"], log["completion_tokens"]) == (prompt, completion)  # no usage: counted
    assert completion > 0 and log["quota"] == text_cost(relay_env, "gpt-3.5-turbo", prompt, completion)
    assert log["is_stream"] is True


async def test_stream_on_a_recent_api_version_uses_azures_usage(relay_env: RelayEnv) -> None:
    fake, _ = await azure_env(relay_env, "2024-10-21")
    stream = await relay_env.client().chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES,
                                                              stream=True)
    text, empty, usage = "", 0, 0
    async for chunk in stream:
        empty += not chunk.choices
        usage += chunk.usage is not None
        text += "".join(c.delta.content or "" for c in chunk.choices)
    assert (text, empty, usage) == (ANSWER, 0, 0)  # neither the filter chunk nor the usage we asked for
    assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (11, 4)


async def test_stream_usage_the_client_asked_for_reaches_it(relay_env: RelayEnv) -> None:
    await azure_env(relay_env, "2024-10-21")
    events = await read_sse(relay_env, {"model": "gpt-3.5-turbo", "messages": MESSAGES, "stream": True,
                                        "stream_options": {"include_usage": True}})
    with_usage = [e for e in events if e.get("usage")]
    assert len(with_usage) == 1 and with_usage[0]["usage"]["total_tokens"] == 15
    assert all(e["choices"] or e.get("usage") for e in events)  # the filter chunk is still dropped


async def test_stream_with_the_sync_client(relay_env: RelayEnv) -> None:
    import asyncio

    await azure_env(relay_env, "2024-03-01-preview")

    def run() -> str:
        with relay_env.sync_client() as client:
            stream = client.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES, stream=True)
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert await asyncio.to_thread(run) == ANSWER


async def test_embeddings(relay_env: RelayEnv) -> None:
    fake, _ = await azure_env(relay_env)
    result = await relay_env.client().embeddings.create(model="text-embedding-3-small", input="the quick brown fox")
    assert result.data[0].embedding == embedding_vector("the quick brown fox")
    sent = fake.requests[-1]
    assert sent.path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert sent.query == {"api-version": "2024-06-01"} and sent.headers["api-key"] == "azure-secret"
    [log] = await relay_env.consume_logs()
    assert (log["model_name"], log["prompt_tokens"]) == ("text-embedding-3-small", 4)


async def test_model_mapping_picks_the_deployment(relay_env: RelayEnv) -> None:
    fake, _ = await azure_env(relay_env, model_mapping='{"gpt-4o": "gpt-3.5-turbo"}')
    await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert fake.requests[-1].path == "/openai/deployments/gpt-35-turbo/chat/completions"
    [log] = await relay_env.consume_logs()
    assert log["model_name"] == "gpt-3.5-turbo"


async def test_azure_error_is_passed_on(relay_env: RelayEnv) -> None:
    fake, _ = await azure_env(relay_env)
    before = await relay_env.user_row()
    fake.fail_next(429, {"message": "Requests to the ChatCompletions_Create Operation have exceeded the limit",
                         "code": "429"})
    with pytest.raises(openai.RateLimitError) as info:
        await relay_env.client().chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES)
    assert info.value.status_code == 429
    assert await relay_env.consume_logs() == []
    assert (await relay_env.user_row())["quota"] == before["quota"]
