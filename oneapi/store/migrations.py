"""Ordered, recorded schema migrations.

Each migration is a named function applied once and recorded in ``oneapi_migrations``. The first one adopts a
database One API already created (its tables, columns and GORM-named indexes are left as they are; what older
One API versions lacked is added), or creates the schema in an empty database. Append new migrations to
``MIGRATIONS``; never rename or reorder applied ones.

Only the master node migrates (NODE_TYPE != slave). A slave that finds the schema missing or behind stops with
a clear message instead of guessing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import peewee as pw
from playhouse.migrate import SchemaMigrator, migrate

from oneapi.store.database import Database
from oneapi.store.models import INDEXES

log = logging.getLogger("oneapi.store")


class SchemaNotReadyError(RuntimeError):
    """The database's schema is missing or older than this build, and this node may not migrate it."""


def _create_tables(db: Database) -> None:
    t = db.tables
    db.main.create_tables([*t.main(), t.migration], safe=True)
    db.logs.create_tables([t.log], safe=True)


def _add_missing_columns(db: Database, models: list[type[pw.Model]] | None = None) -> None:
    """Columns that newer One API versions (and oneapi) have but an older One API database lacks."""
    for model in models if models is not None else [*db.tables.main(), db.tables.log]:
        database = model._meta.database
        table = model._meta.table_name
        present = {c.name for c in database.get_columns(table)}
        missing = [f for f in model._meta.sorted_fields if f.column_name not in present]
        if not missing:
            continue
        migrator = SchemaMigrator.from_database(database)
        for f in missing:
            if not f.null and f.default is None:
                raise RuntimeError(f"{table}.{f.column_name} is missing and has no default to fill it with")
            log.info("adding column %s.%s", table, f.column_name)
            if isinstance(database, pw.SqliteDatabase) and not f.null:
                # SQLite adds a NOT NULL column with a constant default in place. peewee's general route
                # (add nullable, fill, then rebuild the table to set NOT NULL) cannot parse the
                # backtick-quoted CREATE TABLE that GORM writes, and would copy the whole table.
                column = f.clone()
                column.constraints = [pw.SQL(f"DEFAULT {_sql_literal(f.default)}")]
                migrate(migrator.add_column(table, f.column_name, column, allow_not_null=True))
            else:
                migrate(migrator.add_column(table, f.column_name, f))
                if f.constraints:  # a default in the schema (``models.Token.rpm_limit``): peewee's last step,
                    # MySQL's MODIFY ... NOT NULL, redefines the column without it
                    database.execute_sql(f"ALTER TABLE {_quoted(database, table)} ALTER COLUMN "
                                         f"{_quoted(database, f.column_name)} SET DEFAULT {_sql_literal(f.default)}")


def _sql_literal(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _ensure_indexes(db: Database) -> None:
    """Create the GORM-named indexes unless an index on the same columns already exists."""
    by_table = {m._meta.table_name: m._meta.database for m in [*db.tables.main(), db.tables.log]}
    for table, name, columns, unique in INDEXES:
        database = by_table[table]
        existing = database.get_indexes(table)
        if any(ix.name == name or (tuple(ix.columns) == columns and ix.unique == unique) for ix in existing):
            continue
        cols = ", ".join(_quoted(database, c) for c in columns)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        target = f"{_quoted(database, name)} ON {_quoted(database, table)}"
        database.execute_sql(f"CREATE {kind} {target} ({cols})")


def _quoted(database: pw.Database, name: str) -> str:
    """``name`` as an identifier (``Database.quote`` is peewee's pair of quote characters, not a method)."""
    return name.join(database.quote)


def _schema_v1(db: Database) -> None:
    _create_tables(db)
    _add_missing_columns(db)
    _ensure_indexes(db)


def _journal_marks(db: Database) -> None:
    """Where each database records how far it holds a node's journal (see ``store/journal.py``)."""
    db.main.create_tables([db.tables.journal_mark], safe=True)
    if db.logs is not db.main:
        db.logs.create_tables([db.tables.log_journal_mark], safe=True)


def _sessions(db: Database) -> None:
    """Server-side web sessions, so that logout, a password change and a ban end them on every node."""
    db.main.create_tables([db.tables.session], safe=True)


def _token_limits(db: Database) -> None:
    """Per-token requests and tokens per minute (issue 14): two integer columns, 0 (no limit) for every token
    that exists. A database that 0001 created with this build has them already."""
    _add_missing_columns(db, [db.tables.token])


Migration = tuple[str, Callable[[Database], None]]

MIGRATIONS: list[Migration] = [
    ("0001_one_api_schema", _schema_v1),
    ("0002_journal_marks", _journal_marks),
    ("0003_sessions", _sessions),
    ("0004_token_limits", _token_limits),
]


def applied(db: Database) -> set[str]:
    if not db.main.table_exists(db.tables.migration._meta.table_name):
        return set()
    return {row.name for row in db.tables.migration.select()}


def pending(db: Database) -> list[str]:
    done = applied(db)
    return [name for name, _ in MIGRATIONS if name not in done]


def migrate_database(db: Database) -> list[str]:
    """Apply every pending migration in order; returns the names applied."""
    done = applied(db)
    ran: list[str] = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        log.info("applying migration %s", name)
        step(db)
        db.tables.migration.insert(name=name, applied_at=int(time.time())).on_conflict_ignore().execute()
        ran.append(name)
    # LOG_SQL_DSN may name a logs database after the migrations ran (an existing One API logs database, say):
    # it needs the logs table and its own journal mark at every start, not only when 0001/0002 ran.
    if db.logs is not db.main:
        db.logs.create_tables([db.tables.log, db.tables.log_journal_mark], safe=True)
    warn_about_charsets(db)
    return ran


def not_utf8mb4(database: pw.Database) -> dict[str, str]:
    """MySQL/MariaDB: the tables of this database (table → its character sets) whose default or any text column
    is not utf8mb4. Such a table (one One API created in a latin1 database, say) refuses Chinese text."""
    if not isinstance(database, pw.MySQLDatabase):
        return {}
    found: dict[str, set[str]] = {}
    cursor = database.execute_sql(
        "SELECT TABLE_NAME, SUBSTRING_INDEX(TABLE_COLLATION, '_', 1) FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_COLLATION NOT LIKE %s "
        "UNION SELECT TABLE_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> 'utf8mb4'",
        ("utf8mb4%",))
    for table, charset in cursor.fetchall():
        found.setdefault(str(table), set()).add(str(charset))
    return {table: ", ".join(sorted(sets)) for table, sets in sorted(found.items())}


def warn_about_charsets(db: Database) -> None:
    """One warning line naming oneapi's tables that are not utf8mb4 and the statement that converts them.
    oneapi creates its tables utf8mb4 (``models.MYSQL_TABLE_SETTINGS``); a table adopted from One API keeps
    the charset it was made with, and converting it rewrites the table, which is the operator's call."""
    ours = {m._meta.table_name for m in [*db.tables.main(), db.tables.log, db.tables.migration,
                                         db.tables.journal_mark, db.tables.session]}
    bad: dict[str, str] = {}
    for database in db.databases():
        bad.update({t: c for t, c in not_utf8mb4(database).items() if t in ours})
    if bad:
        log.warning("MySQL tables not in utf8mb4: %s; text they cannot hold (Chinese in logs, names) fails as "
                    "\"database error\". Convert each (back up first; it rewrites the table): %s",
                    ", ".join(f"{t} ({c})" for t, c in bad.items()),
                    " ".join(f"ALTER TABLE `{t}` CONVERT TO CHARACTER SET utf8mb4;" for t in bad))


def check_schema(db: Database) -> None:
    """For slave nodes: refuse to run against a schema the master has not brought up to date."""
    missing = pending(db)
    if missing:
        raise SchemaNotReadyError(
            f"database schema is not ready (pending migrations: {', '.join(missing)}); "
            "start the master node first: slave nodes (NODE_TYPE=slave) never migrate")
    for table in (db.tables.log, db.tables.log_journal_mark):
        if not db.logs.table_exists(table._meta.table_name):
            raise SchemaNotReadyError(
                f"the logs database ({db.log_spec.describe()}) has no table {table._meta.table_name}; start the "
                "master node with the same LOG_SQL_DSN first: slave nodes never change a schema")
