"""The Lua scripts of the shared balances, against a real Redis (``ONEAPI_TEST_REDIS_URL``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oneapi.services.shared_balances import IDLE_TTL, SharedBalances, token_key, user_key
from oneapi.store.redis_link import RedisLink


@pytest.fixture
async def nodes(redis_url: str) -> AsyncIterator[tuple[SharedBalances, SharedBalances]]:
    links = [RedisLink(redis_url, node_id="node-a"), RedisLink(redis_url, node_id="node-b")]
    for link in links:
        await link.connect()
    yield SharedBalances(links[0], stale_after=600), SharedBalances(links[1], stale_after=600)
    for link in links:
        await link.close()


async def loaded(balances: SharedBalances, user: int = 100, token: int = 50) -> None:
    await balances.load_user(1, user)
    await balances.load_token(7, "the-token-key", token)


async def test_a_missing_balance_asks_to_be_loaded_user_first(nodes: tuple[SharedBalances, ...]) -> None:
    a, _ = nodes
    assert (await a.reserve(1, 7, "the-token-key", True, 10)).reload == "user"
    await a.load_user(1, 100)
    assert (await a.reserve(1, 7, "the-token-key", True, 10)).reload == "token"
    await a.load_token(7, "the-token-key", 50)
    assert (await a.reserve(1, 7, "the-token-key", True, 10)).granted
    assert (await a.reserve(1, 7, "", False, 10)).granted  # an unlimited token: only the user is asked


async def test_holds_count_for_every_node_and_settling_takes_the_charge(nodes: tuple[SharedBalances, ...]) -> None:
    a, b = nodes
    await loaded(a)
    assert (await a.reserve(1, 7, "the-token-key", True, 30)).granted
    assert (await b.reserve(1, 7, "the-token-key", True, 20)).granted
    short = await b.reserve(1, 7, "the-token-key", True, 1)  # the token's 50 are all held
    assert not short.granted and short.short == "token"
    await a.settle(1, 7, True, held=30, charge=12)  # 18 back, 12 charged
    assert (await b.reserve(1, 7, "the-token-key", True, 18)).granted
    assert not (await b.reserve(1, 7, "the-token-key", True, 1)).granted
    raw = await a.link.client.hgetall(token_key(7))
    assert raw["a"] == "38" and raw["h:node-b"] == "38" and "h:node-a" not in raw
    await b.settle(1, 7, True, held=38, charge=0)  # a refund
    await b.settle(1, 7, True, held=0, charge=0)
    assert await a.link.client.hget(user_key(1), "a") == "88"
    assert 0 < await a.link.client.ttl(user_key(1)) <= IDLE_TTL


async def test_the_user_is_checked_as_one_api_does(nodes: tuple[SharedBalances, ...]) -> None:
    a, _ = nodes
    await loaded(a, user=10, token=1000)
    assert (await a.reserve(1, 7, "the-token-key", True, 10)).granted  # down to exactly 0
    verdict = await a.reserve(1, 7, "the-token-key", True, 1)
    assert not verdict.granted and verdict.short == "user"


async def test_a_dead_nodes_holds_are_dropped(nodes: tuple[SharedBalances, ...]) -> None:
    a, b = nodes
    await loaded(a)
    assert (await b.reserve(1, 7, "the-token-key", True, 50)).granted
    assert not (await a.reserve(1, 7, "the-token-key", True, 1)).granted
    await b.link.client.delete(RedisLink.node_key("node-b"))  # its heartbeat lapsed: the node died
    assert (await a.reserve(1, 7, "the-token-key", True, 50)).granted
    assert "h:node-b" not in await a.link.client.hgetall(token_key(7))


async def test_a_token_id_given_to_another_token_is_loaded_again(nodes: tuple[SharedBalances, ...]) -> None:
    a, _ = nodes
    await loaded(a)
    assert (await a.reserve(1, 7, "the-token-key", True, 10)).granted
    assert (await a.reserve(1, 7, "another-token-key", True, 10)).reload == "token"
    assert await a.load_token(7, "another-token-key", 5) == 5  # a fresh hash: the old token's holds are gone
    assert not (await a.reserve(1, 7, "another-token-key", True, 6)).granted


async def test_a_load_keeps_a_fresh_balance_unless_forced(nodes: tuple[SharedBalances, ...]) -> None:
    a, b = nodes
    await loaded(a)
    assert await b.load_user(1, 999) == 100  # another node loaded it first: that one stands
    assert await b.load_user(1, 70, force=True) == 70


async def test_a_stale_balance_asks_to_be_loaded_again(redis_url: str) -> None:
    link = RedisLink(redis_url, node_id="node-s")
    await link.connect()
    try:
        balances = SharedBalances(link, stale_after=600)
        await loaded(balances)
        await link.client.hset(user_key(1), "t", "1")  # loaded long ago
        assert (await balances.reserve(1, 7, "the-token-key", True, 1)).reload == "user"
    finally:
        await link.close()


async def test_forget_drops_the_balances_and_keeps_the_holds(nodes: tuple[SharedBalances, ...]) -> None:
    a, b = nodes
    await loaded(a)
    assert (await b.reserve(1, 7, "the-token-key", True, 30)).granted
    await a.forget({1}, {7})
    assert (await a.reserve(1, 7, "the-token-key", True, 1)).reload == "user"
    await a.settle(1, 7, True, held=0, charge=5)  # a charge while forgotten: the database will have it
    await loaded(a, token=45)
    assert (await a.reserve(1, 7, "the-token-key", True, 15)).granted  # 45 - 30 held by b
    assert not (await a.reserve(1, 7, "the-token-key", True, 1)).granted


async def test_a_burst_larger_than_the_pool_waits_for_connections_instead_of_taking_the_link_down(
        nodes: tuple[SharedBalances, ...]) -> None:
    """redis-py's default pool refused the 101st concurrent call ("Too many connections"), and the link then
    counted Redis as down: under 300 concurrent requests every node fell back to its own balance."""
    import asyncio

    from oneapi.store.redis_link import POOL_SIZE

    a, _ = nodes
    await loaded(a, user=100_000, token=100_000)
    # 40 times the pool: the last call waits far longer than a call may take (2 s), yet Redis is not "down"
    verdicts = await asyncio.gather(*(a.reserve(1, 7, "the-token-key", True, 1) for _ in range(POOL_SIZE * 40)))
    assert all(v.granted for v in verdicts) and a.link.up


async def test_calls_made_together_go_to_redis_as_one_script_call_each_decided_in_turn(
        nodes: tuple[SharedBalances, ...]) -> None:
    import asyncio

    from oneapi.store.redis_names import RedisUnavailableError

    a, _ = nodes
    await loaded(a, user=1000, token=95)
    calls = 0
    run = a.link.run

    async def counted(*args: object) -> object:
        nonlocal calls
        calls += 1
        return await run(*args)  # type: ignore[arg-type]

    a.link.run = counted  # type: ignore[method-assign]
    verdicts = await asyncio.gather(*(a.reserve(1, 7, "the-token-key", True, 10) for _ in range(20)),
                                    a.reserve(1, 7, "another-key", True, 1))  # a token id reused: load it
    assert [v.granted for v in verdicts[:20]] == [True] * 9 + [False] * 11
    assert {v.short for v in verdicts[9:20]} == {"token"} and verdicts[20].reload == "token"
    assert calls == 1
    await asyncio.gather(*(a.settle(1, 7, True, held=10, charge=3) for _ in range(9)))
    assert calls == 2
    raw = await a.link.client.hgetall(token_key(7))
    assert raw["a"] == str(95 - 27) and "h:node-a" not in raw
    a.link.lost(ConnectionError("simulated"))
    results = await asyncio.gather(*(a.reserve(1, 7, "the-token-key", True, 1) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, RedisUnavailableError) for r in results)
