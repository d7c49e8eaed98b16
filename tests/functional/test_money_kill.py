"""kill -9 loses no charge (issue: money that cannot leak, part 2), on SQLite and MariaDB.

A real ``oneapi serve`` process relays a sustained load (plain and streamed chats) to a fake upstream, is killed
with SIGKILL in the middle of it, and is started again. Every answer a client received in full must then have
its consume log and its quota, nothing may be charged twice, and no reservation may be left over.

Measured before the fix: three such trials lost 184, 82 and 160 consume logs of completed answers, and left
1,485, 3,645 and 540 quota charged with no log (reservations written but never settled).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from oneapi.store.database import Database, open_specs
from oneapi.store.dsn import DatabaseSpec, parse
from oneapi.store.queries import logs as log_q
from tests.conftest import _wipe
from tests.fakes.openai_upstream import FakeOpenAI, start_fake
from tests.functional.server_process import Server, clean_env, free_port, oneapi_cmd

pytestmark = pytest.mark.slow

ACCESS = "kill-test-access-token-000000000"[:32]
TOKEN_QUOTA = 500_000_000


def server_database(backend: str, home: Path) -> tuple[dict[str, str], Database]:
    if backend == "sqlite":
        return {}, open_specs(DatabaseSpec("sqlite", str(home / "one-api.db")))
    dsn = os.environ.get("ONEAPI_TEST_MYSQL_DSN")
    if not dsn:
        pytest.skip("ONEAPI_TEST_MYSQL_DSN is not set: no MariaDB server to test against")
    db = open_specs(parse(dsn))
    _wipe(db)
    return {"SQL_DSN": dsn}, db


async def api(session: aiohttp.ClientSession, server: Server, method: str, path: str, body: Any = None) -> Any:
    async with session.request(method, server.url(path), json=body, headers={"Authorization": ACCESS}) as resp:
        answer = await resp.json()
    assert answer["success"], answer
    return answer["data"]


async def one_call(session: aiohttp.ClientSession, server: Server, key: str, stream: bool) -> str | None:
    """A chat call; the request id when the whole answer arrived, else None."""
    body = {"model": "gpt-4o-mini", "stream": stream,
            "messages": [{"role": "user", "content": "tell me a short story about a cat"}]}
    try:
        async with session.post(server.url("/v1/chat/completions"), json=body,
                                headers={"Authorization": f"Bearer sk-{key}"}) as resp:
            raw = await resp.read()
            if resp.status != 200:
                return None
            if stream and not raw.rstrip().endswith(b"data: [DONE]"):
                return None
            if not stream:
                json.loads(raw)
            return resp.headers["X-Oneapi-Request-Id"]
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None


async def load(server: Server, key: str, stop: asyncio.Event, completed: list[str]) -> None:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async def worker(i: int) -> None:
            n = 0
            while not stop.is_set():
                request_id = await one_call(session, server, key, stream=(i + n) % 2 == 0)
                n += 1
                if request_id is not None:
                    completed.append(request_id)
                elif server.proc.poll() is not None:
                    return
        await asyncio.gather(*(worker(i) for i in range(24)))


def _totals(db: Database, token_key: str) -> dict[str, Any]:
    t = db.tables
    logs = list(t.log.select().where(t.log.type == log_q.TYPE_CONSUME).dicts())
    token = t.token.get(t.token.key == token_key)
    root = t.user.get(t.user.id == 1)
    return {"logs": logs, "token": (token.remain_quota, token.used_quota), "user": (root.quota, root.used_quota)}


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
async def test_kill_9_under_load_loses_no_charge(tmp_path: Path, backend: str) -> None:
    db_env, db = server_database(backend, tmp_path)
    fake = FakeOpenAI()
    fake.record = False
    fake.chunk_delay = 0.002
    fake_url, stop_fake = await start_fake(fake)
    env = clean_env(tmp_path, INITIAL_ROOT_ACCESS_TOKEN=ACCESS, GLOBAL_API_RATE_LIMIT="0", **db_env)
    server = Server(oneapi_cmd(), tmp_path, free_port(), env)
    try:
        await asyncio.to_thread(server.wait_ready)
        async with aiohttp.ClientSession() as session:
            await api(session, server, "POST", "/api/channel/",
                      {"type": 1, "name": "fake", "key": "k", "base_url": fake_url, "models": "gpt-4o-mini"})
            token = await api(session, server, "POST", "/api/token/", {"name": "load", "remain_quota": TOKEN_QUOTA})
            root_before = (await api(session, server, "GET", "/api/user/self"))["quota"]
        key = token["key"]

        completed: list[str] = []
        stop = asyncio.Event()
        runner = asyncio.create_task(load(server, key, stop, completed))
        await asyncio.sleep(2.5)
        served_before_kill = len(completed)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        stop.set()
        await asyncio.wait_for(runner, 30)
        assert served_before_kill > 50, f"too little load to mean anything ({served_before_kill} calls)"

        server = Server(oneapi_cmd(), tmp_path, free_port(), env)
        await asyncio.to_thread(server.wait_ready)
        assert "replayed the journal" in server.output()
        totals = await asyncio.to_thread(_totals, db, key)
        logged = [row["request_id"] for row in totals["logs"]]
        assert len(logged) == len(set(logged)), "a request was charged twice"
        missing = set(completed) - set(logged)
        assert not missing, f"{len(missing)} of {len(completed)} completed answers have no consume log"
        charged = sum(row["quota"] for row in totals["logs"])
        remain, used = totals["token"]
        assert used == charged and remain + used == TOKEN_QUOTA, "a reservation was left over, or a charge lost"
        quota, user_used = totals["user"]
        assert user_used == charged and quota == root_before - charged
    finally:
        assert server.stop() == 0, server.output()
        await stop_fake()
        db.close_connections()


async def test_a_shutdown_the_database_refuses_names_the_journal_and_the_next_start_writes_it(
        tmp_path: Path) -> None:
    """SIGTERM while the database refuses the last batch: exit 1 with one line naming where the charges are
    kept; the next start writes them. (Before the journal such charges were lost and the exit code was 1.)"""
    import sqlite3

    fake = FakeOpenAI()
    fake_url, stop_fake = await start_fake(fake)
    # BATCH_UPDATE_INTERVAL keeps the charge pending until shutdown
    env = clean_env(tmp_path, INITIAL_ROOT_ACCESS_TOKEN=ACCESS, GLOBAL_API_RATE_LIMIT="0",
                    BATCH_UPDATE_ENABLED="true", BATCH_UPDATE_INTERVAL="600")
    server = Server(oneapi_cmd(), tmp_path, free_port(), env)
    try:
        await asyncio.to_thread(server.wait_ready)
        async with aiohttp.ClientSession() as session:
            await api(session, server, "POST", "/api/channel/",
                      {"type": 1, "name": "fake", "key": "k", "base_url": fake_url, "models": "gpt-4o-mini"})
            token = await api(session, server, "POST", "/api/token/", {"name": "t", "remain_quota": 100_000})
            request_id = await one_call(session, server, token["key"], stream=False)
        assert request_id is not None
        with sqlite3.connect(tmp_path / "one-api.db") as conn:
            conn.execute("ALTER TABLE users RENAME TO users_away")
        code = server.stop()
        output = server.output()
        assert code == 1, output
        assert "kept in" in output and str(tmp_path / "journal") in output and "Traceback" not in output.split(
            "oneapi: ")[-1]
        with sqlite3.connect(tmp_path / "one-api.db") as conn:
            conn.execute("ALTER TABLE users_away RENAME TO users")

        server = Server(oneapi_cmd(), tmp_path, free_port(), env)
        await asyncio.to_thread(server.wait_ready)
        assert "replayed the journal" in server.output()
        with sqlite3.connect(tmp_path / "one-api.db") as conn:
            logged = conn.execute("SELECT request_id, quota FROM logs WHERE type = 2").fetchall()
            used = conn.execute("SELECT used_quota FROM tokens WHERE id = ?", (token["id"],)).fetchone()[0]
        assert [row[0] for row in logged] == [request_id] and used == logged[0][1] > 0
    finally:
        assert server.stop() == 0, server.output()
        await stop_fake()
