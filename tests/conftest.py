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
