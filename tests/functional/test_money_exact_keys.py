"""A token key, an access token and a voucher code are each one exact string (issue: one token, many spellings,
many balances), on every backend.

Measured before the fix: a relay key with junk appended found the same token (peewee cut the lookup value to the
column's 48 characters), every spelling got a balance of its own in the ledger, a token capped at 990 quota
served 935 requests, and a spelling used before a token was disabled kept working; MariaDB also matched other
letter cases.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from oneapi.store.queries import tokens as token_q
from tests.functional.conftest import Api
from tests.functional.relay_env import RelayEnv

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def call(env: RelayEnv, auth: str) -> int:
    async with aiohttp.ClientSession() as session, session.post(
            env.base_url + "/v1/chat/completions", json=CHAT, headers={"Authorization": auth}) as resp:
        await resp.read()
        return resp.status


def spellings(key: str) -> list[str]:
    """Every way a client might misspell ``key`` that must not find it."""
    swapped = key[:10] + key[10:].swapcase()
    return [key + "x", key + "0" * 10, key + " junk", key[:-1], key[:16], key[:-1] + ("A" if key[-1] != "A"
            else "B"), key.upper() if key.upper() != key else key.lower(), swapped, key + "%00",
            key + "-1-2", "sk-" + key + "x", key * 2]


async def test_only_the_exact_key_finds_its_token(relay_any: RelayEnv) -> None:
    env = relay_any
    _, url = await env.fake()
    await env.add_channel(url)
    token = await env.services.tokens.create(1, {"name": "capped", "remain_quota": 50_000})
    key = token["key"]
    assert key != key.upper() and key != key.lower()  # a generated key mixes cases

    assert await call(env, f"Bearer sk-{key}") == 200
    for wrong in spellings(key):
        assert await call(env, f"Bearer sk-{wrong}") == 401, wrong
        assert await call(env, f"Bearer {wrong}") == 401, wrong
    # KEY- names an empty channel id: an admin's pinning error (One API's 400), never the token's answer
    assert await call(env, f"Bearer sk-{key}-") == 400
    # the ledger holds one account for the token, under its id, whatever was tried
    ledger = env.services.ledger
    assert list(ledger._token_ids.values()).count(token["id"]) == 1
    assert [k for k, v in ledger._token_ids.items() if v == token["id"]] == [key]


async def test_many_spellings_cannot_spend_beyond_the_cap(relay_any: RelayEnv) -> None:
    """The issue's measurement: eleven spellings of one key against a token capped at 990 quota."""
    env = relay_any
    fake, url = await env.fake()
    fake.record = False
    await env.add_channel(url)
    await env.set_option("PreConsumedQuota", "0")
    token = await env.services.tokens.create(1, {"name": "capped", "remain_quota": 990})
    key = token["key"]
    keys = [key] + [key + "x" * i for i in range(1, 11)]

    statuses = await asyncio.gather(*(call(env, f"Bearer sk-{k}") for k in keys * 20))
    row = await env.token_row(key)
    assert row["used_quota"] + row["remain_quota"] == 990  # conservation
    # only the real key was served, and only while its cap allowed
    assert all(s == 401 for s, k in zip(statuses, keys * 20, strict=True) if k != key)
    served = sum(1 for s in statuses if s == 200)
    logs = await env.consume_logs()
    assert served == len(logs) and row["used_quota"] == sum(log["quota"] for log in logs)
    # at most one request in flight can overdraw (reservations held it back), never ten times the cap
    assert row["remain_quota"] > -990


async def test_disable_and_delete_take_effect_on_the_next_request(relay_any: RelayEnv) -> None:
    env = relay_any
    _, url = await env.fake()
    await env.add_channel(url)
    token = await env.services.tokens.create(1, {"name": "t", "remain_quota": 100_000})
    key = token["key"]
    for attempt in (key, key + "junk", key.swapcase()):  # spellings tried before the change
        await call(env, f"Bearer sk-{attempt}")
    assert await call(env, f"Bearer sk-{key}") == 200

    await env.services.tokens.update(1, {"id": token["id"], "status": 2}, status_only=True)
    for attempt in (key, key + "junk", key.swapcase()):
        assert await call(env, f"Bearer sk-{attempt}") == 401, attempt
    await env.services.tokens.update(1, {"id": token["id"], "status": 1}, status_only=True)
    assert await call(env, f"Bearer sk-{key}") == 200

    await env.services.tokens.delete(1, token["id"])
    for attempt in (key, key + "junk"):
        assert await call(env, f"Bearer sk-{attempt}") == 401, attempt
    assert await env.services.store.read(token_q.find_by_key, key) is None


async def test_a_disabled_user_is_refused_on_the_next_request(relay_any: RelayEnv) -> None:
    env = relay_any
    _, url = await env.fake()
    await env.add_channel(url)
    user_id = await env.services.accounts.create({"role": 100}, {"username": "bob", "password": "password123"})
    token = await env.services.tokens.create(user_id, {"name": "t", "unlimited_quota": True})
    await env.services.store.write(_give_quota, user_id)
    await env.services.ledger.user_changed(user_id)
    assert await call(env, f"Bearer sk-{token['key']}") == 200
    await env.services.accounts.manage({"role": 100}, {"username": "bob", "action": "disable"})
    assert await call(env, f"Bearer sk-{token['key']}") == 403


def _give_quota(db: Any, user_id: int) -> None:
    from oneapi.store.queries import users

    users.add_quota(db, user_id, 1_000_000)


async def test_the_token_lookup_is_exact_in_the_database(relay_any: RelayEnv) -> None:
    """Below the format check: the query itself compares bytes (MariaDB's collation ignores case)."""
    env = relay_any
    token = await env.services.tokens.create(1, {"name": "t", "unlimited_quota": True})
    key = token["key"]
    store = env.services.store
    assert (await store.read(token_q.find_by_key, key))["id"] == token["id"]  # type: ignore[index]
    for wrong in (key.swapcase(), key.upper(), key.lower(), key[:-1], key + "x", key + " "):
        if wrong != key:
            assert await store.read(token_q.find_by_key, wrong) is None, wrong


async def test_access_tokens_are_exact(api_any: Api) -> None:
    token = api_any.root_token
    assert (await api_any.call("GET", "/api/user/self", token))["success"] is True
    for wrong in (token + "x", token + "0" * 40, token[:-1], token.upper() if token.upper() != token else token.lower(),
                  token.swapcase(), token + " junk"):
        reply = await api_any.call("GET", "/api/user/self", wrong, expect_status=None)
        assert reply["success"] is False, wrong
    # stored truncation cannot be reached either
    from oneapi.store.queries import users

    assert await api_any.services.store.read(users.find_by_access_token, token + "x") is None
    assert await api_any.services.store.read(users.find_by_access_token, token.swapcase()) is None


async def test_voucher_codes_are_exact(api_any: Api) -> None:
    keys = await api_any.ok("POST", "/api/redemption/", json={"name": "v", "quota": 700, "count": 1})
    _uid, token = await api_any.make_user("bob")
    code = keys[0]
    for wrong in (code.upper(), code[:-1] + "g"):
        body = await api_any.call("POST", "/api/user/topup", token, json={"key": wrong})
        assert body["success"] is False, wrong
    body = await api_any.call("POST", "/api/user/topup", token, json={"key": code})
    assert body["success"] is True and body["data"] == 700
