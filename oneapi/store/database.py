"""Opening a oneapi database: SQLite by default, MySQL/MariaDB or PostgreSQL from ``SQL_DSN``.

A :class:`Database` bundles the peewee database(s) and the :class:`Tables` bound to them. peewee keeps one
connection per thread; the store's worker threads (``facade.py``) are the only threads that use them once the
server runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee as pw

from oneapi.config import Config, ConfigError
from oneapi.store.dsn import DatabaseSpec, DsnError, parse
from oneapi.store.models import Tables, bind_tables

log = logging.getLogger("oneapi.store")

_MYSQL_FOUND_ROWS = 2  # pymysql.constants.CLIENT.FOUND_ROWS


@dataclass
class Database:
    """One store's databases and tables. ``logs`` is ``main`` unless LOG_SQL_DSN names another database."""

    main: pw.Database
    logs: pw.Database
    tables: Tables
    spec: DatabaseSpec
    log_spec: DatabaseSpec

    @property
    def kind(self) -> str:
        return self.spec.kind

    def databases(self) -> list[pw.Database]:
        return [self.main] if self.logs is self.main else [self.main, self.logs]

    def close_connections(self) -> None:
        """Close this thread's connections (peewee's are per thread)."""
        for db in self.databases():
            if not db.is_closed():
                db.close()


def connect(spec: DatabaseSpec, *, busy_timeout_ms: int = 3000) -> pw.Database:
    """A peewee database for ``spec``; the connection opens lazily in whichever thread uses it."""
    params: dict[str, Any] = dict(spec.params)
    if spec.kind == "sqlite":
        Path(spec.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # lock_type IMMEDIATE: a transaction that reads then writes (redeeming a voucher) takes the write lock
        # at BEGIN, so two processes on one file wait for each other (busy_timeout) instead of one failing at
        # once with SQLITE_BUSY when it tries to upgrade its read lock.
        return pw.SqliteDatabase(
            str(Path(spec.database).expanduser()),
            timeout=busy_timeout_ms / 1000, lock_type="IMMEDIATE",
            pragmas={"journal_mode": "wal", "busy_timeout": busy_timeout_ms, "synchronous": "normal",
                     "foreign_keys": 0},
        )
    common: dict[str, Any] = {"user": spec.user or None, "password": spec.password or None}
    if spec.kind == "mysql":
        charset = params.pop("charset", "utf8mb4").split(",")[0]
        if spec.unix_socket:
            common["unix_socket"] = spec.unix_socket
        else:
            common.update(host=spec.host, port=spec.port)
        # FOUND_ROWS: report rows matched, not rows changed, so "no such row" checks mean the same on every
        # database (MySQL otherwise reports 0 for an UPDATE that sets a value it already had).
        return pw.MySQLDatabase(spec.database, charset=charset, client_flag=_MYSQL_FOUND_ROWS, **common)
    if spec.unix_socket:
        common["host"] = spec.unix_socket
    else:
        common.update(host=spec.host, port=spec.port)
    return pw.PostgresqlDatabase(spec.database, autorollback=True, **common, **params)


def open_database(config: Config) -> Database:
    """Open the databases named by the config. Raises ConfigError for a DSN we cannot use."""
    sqlite_path = str(config.data_path(config.sqlite_path))
    try:
        spec = parse(config.sql_dsn, sqlite_path)
    except DsnError as exc:
        raise ConfigError("SQL_DSN", str(exc)) from None
    try:
        log_spec = parse(config.log_sql_dsn) if config.log_sql_dsn else spec
    except DsnError as exc:
        raise ConfigError("LOG_SQL_DSN", str(exc)) from None
    if log_spec.kind == "sqlite" and config.log_sql_dsn:
        log_spec = DatabaseSpec("sqlite", str(config.data_path(log_spec.database)))
    return open_specs(spec, log_spec, busy_timeout_ms=config.sqlite_busy_timeout)


def open_specs(spec: DatabaseSpec, log_spec: DatabaseSpec | None = None, *,
               busy_timeout_ms: int = 3000) -> Database:
    main = connect(spec, busy_timeout_ms=busy_timeout_ms)
    logs = main if log_spec is None or log_spec == spec else connect(log_spec, busy_timeout_ms=busy_timeout_ms)
    return Database(main, logs, bind_tables(main, logs), spec, log_spec or spec)
