"""``oneapi serve --workers N`` (issue 14): N processes on one port over one Redis behave as one server.

One balance across the workers, every charge kept through a kill -9 of a worker (the supervisor starts it
again), the admin socket's dashboard counting every worker's requests, and no worker outliving the supervisor.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import _wipe, open_backend
from tests.fakes.openai_upstream import FakeOpenAI, start_fake
from tests.functional.server_process import Server, clean_env, free_port, oneapi_cmd, run_cli
from tests.functional.test_admin_socket import socket_request
from tests.functional.test_multinode import chat

pytestmark = pytest.mark.slow

ACCESS = "workers-test-access-token-000000"[:32]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="oa-wk-", dir="/tmp"))  # short: the admin socket must fit sun_path
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_more_than_one_worker_without_redis_is_refused_with_the_reason(home: Path) -> None:
    for args, env, needle in [(["--workers", "2"], {}, "2 workers need REDIS_CONN_STRING"),
                              ([], {"ONEAPI_WORKERS": "3"}, "ONEAPI_WORKERS: 3 workers need REDIS_CONN_STRING"),
                              (["--workers", "0"], {"REDIS_CONN_STRING": "redis://127.0.0.1:1/0"}, "--workers"),
                              (["--workers", "many"], {}, "many")]:
        result = run_cli("serve", "--port", str(free_port()), *args, home=home, **env)
        assert result.returncode == 2, (args, result.stderr)
        assert needle in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
async def test_two_workers_share_one_balance_keep_every_charge_and_report_together(
        home: Path, backend: str, redis_url: str) -> None:
    db = open_backend(backend, home)
    db_env = {} if backend == "sqlite" else {"SQL_DSN": os.environ["ONEAPI_TEST_MYSQL_DSN"]}
    fake = FakeOpenAI()
    fake.record = False
    fake_url, stop_fake = await start_fake(fake)
    env = clean_env(home, INITIAL_ROOT_ACCESS_TOKEN=ACCESS, GLOBAL_API_RATE_LIMIT="0", REDIS_CONN_STRING=redis_url,
                    ONEAPI_WORKERS="2", **db_env)
    server = Server(oneapi_cmd(), home, free_port(), env)
    try:
        await asyncio.to_thread(server.wait_ready)
        status, ping = socket_request(home / "oneapi.sock")
        assert status == 200 and ping["data"]["workers"] == 2
        workers = children(server.proc.pid)
        assert len(workers) == 2 and ping["data"]["pid"] in workers

        async with aiohttp.ClientSession(headers={"Authorization": ACCESS}) as admin:
            async with admin.post(server.url("/api/channel/"), json={
                    "type": 1, "name": "fake", "key": "k", "base_url": fake_url, "models": "gpt-4o-mini"}) as resp:
                assert (await resp.json())["success"]
            await asyncio.sleep(0.3)  # the other worker hears of the channel
        probe = await _new_token(server, "probe", 10**9)
        async with aiohttp.ClientSession() as session:
            assert (await chat(session, server, probe["key"]))[0] == 200
        price = await _logged_quota(db, "probe", 1)

        covered = 30
        small = await _new_token(server, "small", covered * price)
        before = {pid: cpu_seconds(pid) for pid in workers}
        connector = aiohttp.TCPConnector(limit=0, force_close=True)  # new connections: both workers get some
        async with aiohttp.ClientSession(connector=connector) as session:
            answers = await asyncio.gather(*(chat(session, server, small["key"], stream=i % 2 == 0)
                                             for i in range(600)))
        served = [rid for code, rid in answers if code == 200]
        assert {code for code, _ in answers} <= {200, 403}
        assert 0 < len(served) <= covered
        busy = {pid: cpu_seconds(pid) - before[pid] for pid in workers}
        # CPU time is counted in 10 ms ticks: an idle worker shows 0 or 0.01 s; one that took its share of 600
        # requests (the kernel spreads new connections by their addresses) far more.
        assert all(seconds >= 0.03 for seconds in busy.values()), f"a worker took no requests: {busy}"
        assert sorted(await _logged_ids(db, "small", len(served))) == sorted(served)

        await asyncio.sleep(1.5)  # the other worker's figures reach worker 0 every second
        status, figures = socket_request(home / "oneapi.sock", "/admin/stats")
        assert "stopped answering" not in server.output()  # the burst was decided in Redis, not per worker
        assert figures["data"]["total_requests"] == 1 + len(served), figures["data"]

        # kill -9 worker 1 under load: the supervisor starts it again, and no answered request loses its charge
        load = await _new_token(server, "load", 10**9)
        completed: list[str] = []
        stop = asyncio.Event()

        async def client() -> None:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
                while not stop.is_set():
                    code, rid = await chat(session, server, load["key"], stream=len(completed) % 2 == 0)
                    if code == 200:
                        completed.append(rid)

        clients = [asyncio.create_task(client()) for _ in range(12)]
        await asyncio.sleep(1.0)
        victim = next(pid for pid in workers if pid != ping["data"]["pid"])
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while len(children(server.proc.pid)) < 2 or victim in children(server.proc.pid):
            assert time.monotonic() < deadline, server.output()
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.gather(*clients)
        assert "worker 1 stopped (signal SIGKILL); starting it again" in server.output()
        logged = await _logged_ids(db, "load", len(completed))
        assert len(logged) == len(set(logged)), "a request was charged twice"
        assert not set(completed) - set(logged), "an answered request has no consume log"
    finally:
        pids = children(server.proc.pid)
        code = server.stop()
        await stop_fake()
        _wipe(db)
        db.close_connections()
    assert code == 0, server.output()
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()], "a worker outlived the supervisor"


def test_workers_do_not_outlive_a_killed_supervisor(home: Path, redis_url: str) -> None:
    server = Server(oneapi_cmd(), home, free_port(),
                    clean_env(home, REDIS_CONN_STRING=redis_url, ONEAPI_WORKERS="2"))
    server.wait_ready()
    workers = children(server.proc.pid)
    assert len(workers) == 2
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    deadline = time.monotonic() + 40
    while any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in workers):
        assert time.monotonic() < deadline, "workers kept running after the supervisor was killed"
        time.sleep(0.2)


async def _new_token(server: Server, name: str, quota: int) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers={"Authorization": ACCESS}) as admin, admin.post(
            server.url("/api/token/"), json={"name": name, "remain_quota": quota}) as resp:
        answer = await resp.json()
    assert answer["success"], answer
    return dict(answer["data"])


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


async def _logged_quota(db: object, token_name: str, expected: int) -> int:
    rows = await _logged(db, token_name, expected)
    return int(rows[0]["quota"])


async def _logged_ids(db: object, token_name: str, expected: int) -> list[str]:
    return [row["request_id"] for row in await _logged(db, token_name, expected)]


async def _logged(db: object, token_name: str, expected: int) -> list[dict[str, object]]:
    from oneapi.store.queries import logs as log_q

    def read() -> list[dict[str, object]]:
        t = db.tables  # type: ignore[attr-defined]
        rows = list(t.log.select(t.log.request_id, t.log.quota)
                    .where((t.log.type == log_q.TYPE_CONSUME) & (t.log.token_name == token_name)).dicts())
        db.close_connections()  # type: ignore[attr-defined]
        return rows

    deadline = time.monotonic() + 15
    while True:
        rows = await asyncio.to_thread(read)
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.2)


