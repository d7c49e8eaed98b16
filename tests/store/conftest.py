"""Store fixtures: fresh databases on SQLite always, MariaDB/PostgreSQL when their DSN env vars are set.

``database`` here overrides the one in ``tests/conftest.py`` with the same contract (a migrated, empty
database per backend; skip with the reason when a server is not configured). On a server it keeps a schema
that is already fully migrated and only empties the tables (TRUNCATE also restarts ids), several times
faster than dropping and migrating for every test. ``raw_database`` is an empty, *unmigrated* database, for
tests that build a One API schema by hand or check what migrating does; it drops everything afterwards
(skipping SQLite's own ``sqlite_sequence``, which a GORM-made table with AUTOINCREMENT brings).

The server databases must not be shared with a concurrent test run: tests drop and truncate their tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from oneapi.store.database import Database, open_specs
from oneapi.store.dsn import DatabaseSpec, parse
from oneapi.store.migrations import migrate_database, pending

_ENV = {"mysql": "ONEAPI_TEST_MYSQL_DSN", "postgres": "ONEAPI_TEST_POSTGRES_DSN"}


def _user_tables(database: object) -> list[str]:
    # SQLite's own tables (sqlite_sequence after AUTOINCREMENT) cannot be dropped
    return [t for t in database.get_tables() if not t.startswith("sqlite_")]  # type: ignore[attr-defined]


def wipe(db: Database) -> None:
    """Drop every table so the next test starts from an empty database."""
    for database in db.databases():
        for table in _user_tables(database):
            database.execute_sql(f"DROP TABLE IF EXISTS {table.join(database.quote)}"
                                 + (" CASCADE" if db.kind == "postgres" else ""))


def _is_migrated(db: Database) -> bool:
    """Exactly oneapi's tables and columns, every migration recorded."""
    models = [*db.tables.main(), db.tables.log, db.tables.migration, db.tables.journal_mark, db.tables.session]
    if sorted(_user_tables(db.main)) != sorted(m._meta.table_name for m in models) or pending(db):
        return False
    return all({c.name for c in db.main.get_columns(m._meta.table_name)}
               == {f.column_name for f in m._meta.sorted_fields} for m in models)


def _empty_tables(db: Database) -> None:
    tables = [t for t in _user_tables(db.main) if t != db.tables.migration._meta.table_name]
    if db.kind == "postgres":
        db.main.execute_sql(f"TRUNCATE TABLE {', '.join(t.join(db.main.quote) for t in tables)} RESTART IDENTITY")
    else:
        for table in tables:
            db.main.execute_sql(f"TRUNCATE TABLE {table.join(db.main.quote)}")


def open_backend(backend: str, tmp_path: Path) -> Database:
    if backend == "sqlite":
        return open_specs(DatabaseSpec("sqlite", str(tmp_path / "one-api.db")))
    dsn = os.environ.get(_ENV[backend]) or None
    if not dsn:
        pytest.skip(f"{_ENV[backend]} is not set: no {backend} server to test against")
    db = open_specs(parse(dsn))
    try:
        db.main.connect(reuse_if_open=True)
    except Exception as exc:  # unreachable server
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"{backend} at {db.spec.describe()} is unreachable: {exc}")
    return db


@pytest.fixture
def raw_database(backend: str, tmp_path: Path) -> Iterator[Database]:
    """An empty, unmigrated database on each backend."""
    db = open_backend(backend, tmp_path)
    wipe(db)
    yield db
    wipe(db)
    db.close_connections()


@pytest.fixture
def database(backend: str, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each backend (used synchronously by query tests)."""
    db = open_backend(backend, tmp_path)
    if db.kind != "sqlite" and _is_migrated(db):
        _empty_tables(db)
    else:
        wipe(db)
        migrate_database(db)
    yield db
    db.close_connections()
