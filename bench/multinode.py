"""``python -m bench.multinode``: the multi-node measurements of the README, repeatable.

Three ``oneapi serve`` nodes (a master and two slaves) over one SQL database and one Redis, with the benchmark's
fake upstream. Printed:

1. a burst of 600 concurrent chats, spread across the nodes, on a token whose quota covers 40 of them: how many
   were served, and whether remain + used is conserved and used equals the consume logs;
2. how long an admin change made on the master takes to be seen on a slave (a token disabled, then enabled);
3. the CPU one process spends on Redis per request (a reservation and its settle), 3 000 at once.

Needs BENCH_SQL_DSN (MySQL/MariaDB or PostgreSQL: SQLite is one node's; its tables are dropped and recreated:
give a database of its own) and BENCH_REDIS_URL (default redis://127.0.0.1:6379/9, emptied).
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.__main__ import ACCESS, api, free_port, redis_url, start, stop, wait_port

NODES = 3
BURST = 600
COVERED = 40
BODY = {"model": "gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}


async def chat(session: aiohttp.ClientSession, port: int, key: str) -> int:
    async with session.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=BODY,
                            headers={"Authorization": f"Bearer sk-{key}"}) as resp:
        await resp.read()
        return resp.status


def token_state(port: int, token_id: int) -> dict[str, Any]:
    found = api(port, "GET", f"/api/token/{token_id}", None)
    assert isinstance(found, dict)
    return found


def logged_quota(port: int, token_name: str) -> tuple[int, int]:
    """(consume logs, their quota) of a token, from the admin API."""
    count = total = 0
    page = 0
    while True:
        rows = api(port, "GET", f"/api/log/?type=2&token_name={token_name}&p={page}", None)
        assert isinstance(rows, list)
        count += len(rows)
        total += sum(int(row["quota"]) for row in rows)
        if not rows:
            return count, total
        page += 1


async def burst(ports: list[int]) -> None:
    probe = api(ports[0], "POST", "/api/token/", {"name": "probe", "remain_quota": 10**9})
    assert isinstance(probe, dict)
    async with aiohttp.ClientSession() as session:
        assert await chat(session, ports[1], probe["key"]) == 200
    await asyncio.sleep(1.0)
    _, price = logged_quota(ports[0], "probe")
    quota = COVERED * price
    token = api(ports[0], "POST", "/api/token/", {"name": "burst", "remain_quota": quota})
    assert isinstance(token, dict)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.perf_counter()
        statuses = await asyncio.gather(*(chat(session, ports[i % NODES], token["key"]) for i in range(BURST)))
        took = time.perf_counter() - started
    await asyncio.sleep(1.5)  # the last charges reach the database
    served = statuses.count(200)
    logs, charged = logged_quota(ports[0], "burst")
    state = token_state(ports[0], token["id"])
    conserved = state["remain_quota"] + state["used_quota"] == quota
    print(f"1. {BURST} concurrent chats on {NODES} nodes, token quota covering {COVERED}: served {served} in "
          f"{took:.2f} s (others refused 403: {statuses.count(403)}, anything else: "
          f"{BURST - served - statuses.count(403)})")
    print(f"   consume logs {logs} (= served: {logs == served}), used {state['used_quota']} = logged "
          f"{charged}: {state['used_quota'] == charged}; remain + used conserved: {conserved}")


async def change_latency(ports: list[int]) -> None:
    token = api(ports[0], "POST", "/api/token/", {"name": "switch", "remain_quota": 10**9})
    assert isinstance(token, dict)
    async with aiohttp.ClientSession() as session:
        assert await chat(session, ports[2], token["key"]) == 200
        seen = []
        for status, expected in ((2, 401), (1, 200)) * 3:
            api(ports[0], "PUT", "/api/token/?status_only=true", {"id": token["id"], "status": status})
            started = time.perf_counter()
            while await chat(session, ports[2], token["key"]) != expected:
                if time.perf_counter() - started > 10:
                    raise SystemExit("bench: a change was not seen on the slave within 10 s")
            seen.append((time.perf_counter() - started) * 1000)
    print(f"2. a token disabled or enabled on the master, seen on a slave after (ms, six changes): "
          f"{' '.join(f'{ms:.1f}' for ms in seen)}")


async def redis_cost(url: str) -> None:
    from oneapi.services.shared_balances import SharedBalances
    from oneapi.store.redis_link import RedisLink

    link = RedisLink(url)
    await link.connect()
    balances = SharedBalances(link, 600)
    await balances.load_user(1, 10**12)
    await balances.load_token(7, "bench", 10**12)
    n = 3000
    before = resource.getrusage(resource.RUSAGE_SELF)

    async def pair() -> None:
        await balances.reserve(1, 7, "bench", True, 5)
        await balances.settle(1, 7, True, 5, 3)

    await asyncio.gather(*(pair() for _ in range(n)))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / n * 1e6
    print(f"3. Redis per request in one process ({n} at once): {cpu:.0f} µs of CPU for a reservation and its settle")
    await link.client.flushdb()
    await link.close()


def main() -> None:
    dsn = os.environ.get("BENCH_SQL_DSN")
    url = redis_url()
    if not dsn or url is None:
        raise SystemExit("bench.multinode needs BENCH_SQL_DSN (MySQL/MariaDB or PostgreSQL, a database of its own) "
                         "and a Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6379/9)")
    _drop_tables(dsn)
    procs: list[subprocess.Popen[bytes]] = []
    upstream_port = free_port()
    ports = [free_port() for _ in range(NODES)]
    with tempfile.TemporaryDirectory() as root:
        try:
            procs.append(start(["-m", "bench.servers", "upstream", str(upstream_port)]))
            for index, port in enumerate(ports):
                home = Path(root) / f"node{index}"
                home.mkdir()
                env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "REDIS_", "LOG_SQL_"))}
                env.update(ONEAPI_HOME=str(home), INITIAL_ROOT_ACCESS_TOKEN=ACCESS, GLOBAL_API_RATE_LIMIT="0",
                           SQL_DSN=dsn, REDIS_CONN_STRING=url, SESSION_SECRET="bench",
                           NODE_TYPE="master" if index == 0 else "slave")
                procs.append(start(["-m", "oneapi", "serve", "--port", str(port)], env=env, cwd=str(home)))
                wait_port(port)
            wait_port(upstream_port)
            api(ports[0], "POST", "/api/channel/", {"type": 1, "name": "bench", "key": "k", "models": "gpt-4o-mini",
                                                    "base_url": f"http://127.0.0.1:{upstream_port}"})
            time.sleep(0.5)
            print(f"oneapi multi-node benchmark — {os.cpu_count()} CPUs, {NODES} nodes, database "
                  f"{dsn.split('@')[-1]}, Redis {url}\n")
            asyncio.run(burst(ports))
            asyncio.run(change_latency(ports))
            asyncio.run(redis_cost(url))
        finally:
            stop(procs)


def _drop_tables(dsn: str) -> None:
    from oneapi.store.database import open_specs
    from oneapi.store.dsn import parse

    db = open_specs(parse(dsn))
    quote = "`" if db.kind == "mysql" else '"'
    for table in db.main.get_tables():
        db.main.execute_sql(f"DROP TABLE {quote}{table}{quote}")
    db.close_connections()


if __name__ == "__main__":
    main()
