"""Shared fixtures: a fresh database on each configured backend.

SQLite always runs. MariaDB/MySQL and PostgreSQL run when ``ONEAPI_TEST_MYSQL_DSN`` /
``ONEAPI_TEST_POSTGRES_DSN`` name a database that tests may wipe (``.ci/run`` sets them); otherwise those
cases skip with the reason. ``ONEAPI_TEST_REDIS_URL`` likewise for Redis.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oneapi.config import Config
from oneapi.services.ledger import Ledger
from oneapi.store.database import Database, open_specs
from oneapi.store.dsn import DatabaseSpec, parse
from oneapi.store.facade import Store
from oneapi.store.journal import Journal
from oneapi.store.migrations import migrate_database

BACKENDS = ("sqlite", "mysql", "postgres")
_ENV = {"mysql": "ONEAPI_TEST_MYSQL_DSN", "postgres": "ONEAPI_TEST_POSTGRES_DSN"}


LedgerFactory = Callable[..., Ledger]


@pytest.fixture
def new_ledger(tmp_path: Path) -> Iterator[LedgerFactory]:
    """Makes ledgers over a store, each with a journal of its own in ``tmp_path``; closes the journals after
    the test (a ledger's own ``close()`` does that too, and closing twice is harmless)."""
    journals: list[Journal] = []

    def make(store: Store, **kwargs: Any) -> Ledger:
        journal = Journal.open(tmp_path / f"journal-{len(journals)}")
        journals.append(journal)
        return Ledger(store, journal, **kwargs)

    yield make
    for journal in journals:
        journal.close()


@contextlib.contextmanager
def own_home(config: Config) -> Iterator[Config]:
    """``config`` with a fresh data directory of its own (the ledger's journal lives there: one server per
    directory), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="oneapi-home-") as home:
        yield dataclasses.replace(config, data_dir=home)


def backend_dsn(backend: str) -> str | None:
    return None if backend == "sqlite" else os.environ.get(_ENV[backend]) or None


def _wipe(db: Database) -> None:
    """Drop every table so each test starts from an empty database."""
    for database in db.databases():
        for table in database.get_tables():
            database.execute_sql(f"DROP TABLE IF EXISTS {table.join(database.quote)}"
                                 + (" CASCADE" if db.kind == "postgres" else ""))


def open_backend(backend: str, tmp_path: Path) -> Database:
    if backend == "sqlite":
        return open_specs(DatabaseSpec("sqlite", str(tmp_path / "one-api.db")))
    dsn = backend_dsn(backend)
    if not dsn:
        pytest.skip(f"{_ENV[backend]} is not set: no {backend} server to test against")
    db = open_specs(parse(dsn))
    try:
        _wipe(db)
    except Exception as exc:  # unreachable server
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"{backend} at {db.spec.describe()} is unreachable: {exc}")
    return db


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(backend: str, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each backend (used synchronously by query tests)."""
    db = open_backend(backend, tmp_path)
    migrate_database(db)
    yield db
    _wipe(db)
    db.close_connections()


@pytest.fixture
async def store(database: Database) -> AsyncIterator[Store]:
    """The async facade over ``database``; its threads are stopped after the test."""
    s = Store(database, read_threads=2)
    yield s
    await s.close()


def redis_test_url() -> str | None:
    return os.environ.get("ONEAPI_TEST_REDIS_URL") or None


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis database tests may wipe (``ONEAPI_TEST_REDIS_URL``, set by ``.ci/run``), emptied before and
    after the test; skips with the reason when unset (or unreachable outside CI)."""
    import redis

    url = redis_test_url()
    if url is None:
        pytest.skip("ONEAPI_TEST_REDIS_URL is not set: no Redis to test against")
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Redis at {url} is unreachable: {exc}")
    yield url
    client.flushdb()
    client.close()


class RedisServer:
    """A private ``redis-server`` on a free port, which a test may stop and start again (a Redis restart that
    keeps nothing on disk, as Redis may)."""

    def __init__(self, directory: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: Any = None

    def start(self) -> None:
        import subprocess
        import time

        import redis

        self._proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis server (skips when ``redis-server`` is not installed, unless in CI)."""
    import shutil

    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
