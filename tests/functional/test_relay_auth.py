"""Relay authentication (SPEC 1.2) end to end: the Authorization forms, every token check in SPEC's order with
the short error shape of SPEC 1.3, KEY-CHANNELID pinning, and admin changes taking effect on the next call."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import openai
import pytest

from oneapi.store.queries import tokens as token_q
from tests.functional.relay_env import ROOT_KEY, RelayEnv
from tests.openai_schema import assert_valid

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


class Reply:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


async def post(env: RelayEnv, auth: str | None, body: Any = CHAT, path: str = "/v1/chat/completions",
               method: str = "POST", headers: dict[str, str] | None = None) -> Reply:
    hdrs = dict(headers or {})
    if auth is not None:
        hdrs["Authorization"] = auth
    if isinstance(body, bytes):
        kw: dict[str, Any] = {"data": body}
    else:
        kw = {"json": body} if method == "POST" else {}
    async with aiohttp.ClientSession() as session, session.request(
            method, env.base_url + path, headers=hdrs, **kw) as resp:
        return Reply(resp.status, resp.headers, await resp.read())


def assert_short(reply: Reply, status: int, *needles: str) -> str:
    """SPEC 1.3's short shape, completed to OpenAI's error object: message, type, param and code (One API left out
    the last two, which the schema requires; null where there is none), the request id at the end of the
    message."""
    assert reply.status == status, reply.body
    body = reply.json()
    assert list(body) == ["error"]
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert_valid(body, "ErrorResponse")
    assert body["error"]["type"] == "one_api_error" or body["error"]["code"] == "model_not_found"
    rid = reply.headers["X-Oneapi-Request-Id"]
    message = body["error"]["message"]
    assert message.endswith(f" (request id: {rid})"), message
    for needle in needles:
        assert needle in message, message
    return str(message)


async def make_token(env: RelayEnv, user_id: int = 1, **fields: Any) -> dict[str, Any]:
    return await env.services.tokens.create(user_id, {"name": fields.pop("name", "t"), **fields})


async def set_token_row(env: RelayEnv, token: dict[str, Any], **changes: Any) -> None:
    """Change a token's row directly in the database, then tell the ledger as every service does."""
    await env.services.store.write(token_q.update, token["id"], token["user_id"], changes)
    await env.services.ledger.token_changed(token["key"])


async def common_user(env: RelayEnv, name: str = "alice", quota: int = 10_000_000) -> tuple[int, str]:
    """A common user with quota and a relay key."""
    root = await env.services.accounts.get(1)
    assert root is not None
    user_id = await env.services.accounts.create(root, {"username": name, "password": "password123"})
    await env.services.accounts.topup(root, {"user_id": user_id, "quota": quota})
    return user_id, await env.new_token(user_id, unlimited_quota=True)


@pytest.fixture
async def env(relay_env: RelayEnv) -> RelayEnv:
    _, url = await relay_env.fake()
    await relay_env.add_channel(url)
    return relay_env


# -- the header ----------------------------------------------------------------------------------

async def test_no_header_and_empty_key(env: RelayEnv) -> None:
    assert_short(await post(env, None), 401, "未提供令牌")
    for empty in ("", "Bearer sk-", "sk-"):
        assert_short(await post(env, empty), 401, "未提供令牌")


async def test_unknown_key(env: RelayEnv) -> None:
    assert_short(await post(env, "Bearer sk-" + "x" * 48), 401, "无效的令牌")
    assert_short(await post(env, "Bearer " + "y" * 5000), 401, "无效的令牌")  # absurdly long: no lookup
    with pytest.raises(openai.AuthenticationError) as info:
        await env.client("sk-nope").chat.completions.create(**CHAT)
    assert info.value.status_code == 401 and "无效的令牌" in info.value.message


@pytest.mark.parametrize("form", ["Bearer sk-{key}", "sk-{key}", "{key}", "Bearer {key}", "Bearer   sk-{key}"])
async def test_key_forms(env: RelayEnv, form: str) -> None:
    reply = await post(env, form.format(key=ROOT_KEY))
    assert reply.status == 200, reply.body
    assert reply.json()["choices"][0]["message"]["content"] == "echo: hello there"


async def test_sync_and_async_sdk_both_authenticate(env: RelayEnv) -> None:
    import asyncio

    answer = await asyncio.to_thread(env.sync_client().chat.completions.create, **CHAT)
    assert answer.choices[0].message.content == "echo: hello there"
    answer = await env.client(ROOT_KEY).chat.completions.create(**CHAT)  # without sk-
    assert answer.choices[0].message.content == "echo: hello there"


# -- token checks, each one and their order ------------------------------------------------------

async def test_disabled_token(env: RelayEnv) -> None:
    token = await make_token(env)
    await env.services.tokens.update(1, {"id": token["id"], "status": 2}, status_only=True)
    assert_short(await post(env, "Bearer sk-" + token["key"]), 401, "该令牌状态不可用")


async def test_expired_token(env: RelayEnv) -> None:
    token = await make_token(env, expired_time=int(time.time()) - 60)
    assert_short(await post(env, "Bearer sk-" + token["key"]), 401, "该令牌已过期")
    # the status says expired (3): same message
    fresh = await make_token(env)
    await set_token_row(env, fresh, status=token_q.STATUS_EXPIRED)
    assert_short(await post(env, "Bearer sk-" + fresh["key"]), 401, "该令牌已过期")


async def test_token_expiring_in_the_future_works(env: RelayEnv) -> None:
    token = await make_token(env, expired_time=int(time.time()) + 3600, unlimited_quota=True)
    assert (await post(env, "Bearer sk-" + token["key"])).status == 200


async def test_exhausted_token(env: RelayEnv) -> None:
    empty = await make_token(env, remain_quota=0)
    assert_short(await post(env, "Bearer sk-" + empty["key"]), 401, "该令牌额度已用尽")
    # the status says exhausted (4): the message names the token
    marked = await make_token(env, name="spent", remain_quota=100)
    await set_token_row(env, marked, status=token_q.STATUS_EXHAUSTED)
    assert_short(await post(env, "Bearer sk-" + marked["key"]), 401, f"令牌 spent（#{marked['id']}）额度已用尽")


async def test_unlimited_token_with_no_remaining_quota_works(env: RelayEnv) -> None:
    token = await make_token(env, remain_quota=0, unlimited_quota=True)
    assert (await post(env, "Bearer sk-" + token["key"])).status == 200


async def test_subnet_restriction(env: RelayEnv) -> None:
    outside = await make_token(env, subnet="10.0.0.0/8", unlimited_quota=True)
    assert_short(await post(env, "Bearer sk-" + outside["key"]), 403,
                 "该令牌只能在指定网段使用：10.0.0.0/8，当前 ip：127.0.0.1")
    inside = await make_token(env, subnet="10.0.0.0/8, 127.0.0.0/8", unlimited_quota=True)
    assert (await post(env, "Bearer sk-" + inside["key"])).status == 200
    single = await make_token(env, subnet="127.0.0.1", unlimited_quota=True)
    assert (await post(env, "Bearer sk-" + single["key"])).status == 200


async def test_subnet_uses_the_forwarded_address_from_a_trusted_proxy(env: RelayEnv) -> None:
    # loopback is a trusted proxy by default (TRUSTED_PROXIES), so X-Forwarded-For names the client
    token = await make_token(env, subnet="10.0.0.0/8", unlimited_quota=True)
    key = "Bearer sk-" + token["key"]
    assert (await post(env, key, headers={"X-Forwarded-For": "10.1.2.3"})).status == 200
    assert_short(await post(env, key, headers={"X-Forwarded-For": "192.168.1.1"}), 403, "当前 ip：192.168.1.1")


async def test_token_model_list(env: RelayEnv) -> None:
    token = await make_token(env, models="gpt-4o", unlimited_quota=True)
    key = "Bearer sk-" + token["key"]
    assert_short(await post(env, key), 403, "该令牌无权使用模型：gpt-4o-mini")
    assert (await post(env, key, {**CHAT, "model": "gpt-4o"})).status == 200
    with pytest.raises(openai.PermissionDeniedError):
        await env.client("sk-" + token["key"]).embeddings.create(model="text-embedding-3-small", input="x")


async def test_checks_run_in_spec_order(env: RelayEnv) -> None:
    user_id, _ = await common_user(env)
    now = int(time.time())
    # status before expiry / quota / subnet
    t = await make_token(env, user_id, expired_time=now - 5, remain_quota=0, subnet="10.0.0.0/8", models="x")
    await env.services.tokens.update(user_id, {"id": t["id"], "status": 2}, status_only=True)
    assert_short(await post(env, "Bearer sk-" + t["key"]), 401, "该令牌状态不可用")
    # expiry before quota
    t = await make_token(env, user_id, expired_time=now - 5, remain_quota=0, subnet="10.0.0.0/8")
    assert_short(await post(env, "Bearer sk-" + t["key"]), 401, "该令牌已过期")
    # quota before subnet
    t = await make_token(env, user_id, remain_quota=0, subnet="10.0.0.0/8")
    assert_short(await post(env, "Bearer sk-" + t["key"]), 401, "该令牌额度已用尽")
    # subnet before the user's status and the model list
    subnet = await make_token(env, user_id, unlimited_quota=True, subnet="10.0.0.0/8", models="gpt-4o")
    models = await make_token(env, user_id, unlimited_quota=True, models="gpt-4o")
    assert_short(await post(env, "Bearer sk-" + subnet["key"]), 403, "该令牌只能在指定网段使用")
    root = await env.services.accounts.get(1)
    await env.services.accounts.manage(root, {"username": "alice", "action": "disable"})
    assert_short(await post(env, "Bearer sk-" + subnet["key"]), 403, "该令牌只能在指定网段使用")
    # a banned user before the model list and before the body is even read
    assert_short(await post(env, "Bearer sk-" + models["key"]), 403, "用户已被封禁")
    assert_short(await post(env, "Bearer sk-" + models["key"], b"not json"), 403, "用户已被封禁")


# -- the user behind the token -------------------------------------------------------------------

async def test_disabled_user_is_refused_at_once_and_enabled_again(env: RelayEnv) -> None:
    _, key = await common_user(env)
    client = env.client(key)
    assert (await client.chat.completions.create(**CHAT)).choices  # the ledger now caches this user
    assert (await post(env, "Bearer " + key, path="/v1/models", method="GET")).status == 200

    root = await env.services.accounts.get(1)
    await env.services.accounts.manage(root, {"username": "alice", "action": "disable"})
    assert_short(await post(env, "Bearer " + key), 403, "用户已被封禁")
    assert_short(await post(env, "Bearer " + key, path="/v1/models", method="GET"), 403, "用户已被封禁")
    with pytest.raises(openai.PermissionDeniedError):
        await client.chat.completions.create(**CHAT)

    await env.services.accounts.manage(root, {"username": "alice", "action": "enable"})
    assert (await client.chat.completions.create(**CHAT)).choices


async def test_deleted_user_is_refused(env: RelayEnv) -> None:
    _, key = await common_user(env)
    assert (await post(env, "Bearer " + key)).status == 200
    root = await env.services.accounts.get(1)
    await env.services.accounts.manage(root, {"username": "alice", "action": "delete"})
    assert_short(await post(env, "Bearer " + key), 403, "用户已被封禁")


# -- token changes through the services ----------------------------------------------------------

async def test_token_changes_take_effect_on_the_next_call(env: RelayEnv) -> None:
    token = await make_token(env, remain_quota=1_000_000)
    key = "Bearer sk-" + token["key"]
    assert (await post(env, key)).status == 200  # cached by the ledger from here on

    await env.services.tokens.update(1, {"id": token["id"], "status": 2}, status_only=True)
    assert_short(await post(env, key), 401, "该令牌状态不可用")
    await env.services.tokens.update(1, {"id": token["id"], "status": 1}, status_only=True)
    assert (await post(env, key)).status == 200

    await env.services.tokens.update(1, {"id": token["id"], "name": "t", "remain_quota": 1_000_000,
                                         "models": "gpt-4o"}, status_only=False)
    assert_short(await post(env, key), 403, "该令牌无权使用模型：gpt-4o-mini")

    await env.services.tokens.delete(1, token["id"])
    assert_short(await post(env, key), 401, "无效的令牌")


# -- KEY-CHANNELID -------------------------------------------------------------------------------

async def test_common_user_cannot_pin_a_channel(env: RelayEnv) -> None:
    channel_id = env.relay.routes.channels()[0].id
    _, key = await common_user(env)
    assert_short(await post(env, f"Bearer {key}-{channel_id}"), 403, "普通用户不支持指定渠道")


async def test_pinning_an_unknown_or_disabled_channel(env: RelayEnv) -> None:
    assert_short(await post(env, f"Bearer sk-{ROOT_KEY}-999"), 400, "无效的渠道 Id")
    assert_short(await post(env, f"Bearer sk-{ROOT_KEY}-abc"), 400, "无效的渠道 Id")
    channel_id = env.relay.routes.channels()[0].id
    await env.services.channels.set_status(channel_id, 2)
    assert_short(await post(env, f"Bearer sk-{ROOT_KEY}-{channel_id}"), 403, "该渠道已被禁用")


async def test_admin_pins_a_lower_priority_channel(relay_env: RelayEnv) -> None:
    fake_a, url_a = await relay_env.fake()
    fake_b, url_b = await relay_env.fake()
    await relay_env.add_channel(url_a, name="A", priority=10)
    b = await relay_env.add_channel(url_b, name="B", priority=0)

    client = relay_env.client(f"sk-{ROOT_KEY}-{b}")
    for _ in range(3):
        answer = await client.chat.completions.create(**CHAT)
        assert answer.choices[0].message.content == "echo: hello there"
    assert len(fake_b.requests) == 3 and fake_a.requests == []

    # without the suffix the higher tier wins
    await relay_env.client().chat.completions.create(**CHAT)
    assert len(fake_a.requests) == 1
    logs = await relay_env.consume_logs()
    assert sorted(log["channel_id"] for log in logs) == sorted([b, b, b, b - 1])


async def test_pinned_channel_is_not_retried(relay_env: RelayEnv) -> None:
    fake_a, url_a = await relay_env.fake()
    fake_b, url_b = await relay_env.fake()
    await relay_env.add_channel(url_a, name="A")
    b = await relay_env.add_channel(url_b, name="B")
    await relay_env.set_option("RetryTimes", "3")
    fake_b.fail_next(500, times=5)
    with pytest.raises(openai.InternalServerError):
        await relay_env.client(f"sk-{ROOT_KEY}-{b}").chat.completions.create(**CHAT)
    assert len(fake_b.requests) == 1 and fake_a.requests == []


async def test_pinned_channel_may_serve_a_model_it_does_not_list(relay_env: RelayEnv) -> None:
    # One API's distributor takes the pinned channel as it is; the upstream decides about the model
    fake, url = await relay_env.fake()
    channel_id = await relay_env.add_channel(url, models="gpt-4o")
    answer = await relay_env.client(f"sk-{ROOT_KEY}-{channel_id}").chat.completions.create(**CHAT)
    assert answer.choices[0].message.content == "echo: hello there"
    assert fake.requests[-1].json()["model"] == "gpt-4o-mini"


# -- no channel ----------------------------------------------------------------------------------

async def test_no_channel_for_the_model(env: RelayEnv) -> None:
    reply = await post(env, "Bearer " + env.root_key, {**CHAT, "model": "no-such-model"})
    assert_short(reply, 404, "当前分组 default 下对于模型 no-such-model 无可用渠道")
    assert reply.json()["error"]["code"] == "model_not_found" and reply.json()["error"]["param"] == "model"
    _, key = await common_user(env)
    root = await env.services.accounts.get(1)
    user_id = (await env.services.accounts.get_for(root, 2))["id"]
    await env.services.accounts.update(root, {"id": user_id, "username": "alice", "display_name": "alice",
                                              "group": "vip", "quota": 10_000_000})
    reply = await post(env, "Bearer " + key)
    assert_short(reply, 404, "当前分组 vip 下对于模型 gpt-4o-mini 无可用渠道")
