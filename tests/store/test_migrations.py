"""Migrations: creating the schema, recording what ran, refusing an unready schema, and adopting a database
that One API (Go, GORM auto-migrate) created — on every configured backend."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import peewee as pw
import pytest

from oneapi.store.database import Database, open_specs
from oneapi.store.dsn import DatabaseSpec
from oneapi.store.migrations import (
    MIGRATIONS,
    SchemaNotReadyError,
    applied,
    check_schema,
    migrate_database,
    pending,
)
from oneapi.store.models import INDEXES
from oneapi.store.queries import channels, logs, options, redemptions, tokens, users
from oneapi.store.queries.accounting import LogRow

ALL_MIGRATIONS = [name for name, _ in MIGRATIONS]
ONE_API_TABLES = {"users", "tokens", "channels", "abilities", "redemptions", "logs", "options"}
OUR_TABLES = {"oneapi_migrations", "oneapi_journal_marks", "oneapi_sessions"}


def _indexes(db: Database, table: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    database = db.logs if table == "logs" else db.main
    return {ix.name: (tuple(ix.columns), bool(ix.unique)) for ix in database.get_indexes(table)}


def _tables(database: pw.Database) -> set[str]:
    """User tables (not SQLite's own sqlite_sequence, which GORM's AUTOINCREMENT brings)."""
    return {t for t in database.get_tables() if not t.startswith("sqlite_")}


def _columns(db: Database, table: str) -> set[str]:
    database = db.logs if table == "logs" else db.main
    return {c.name for c in database.get_columns(table)}


def _assert_no_duplicate_indexes(db: Database) -> None:
    for table in ONE_API_TABLES:
        shapes = Counter(_indexes(db, table).values())
        duplicated = {shape: n for shape, n in shapes.items() if n > 1}
        assert not duplicated, f"{table} has duplicate indexes {duplicated}: {_indexes(db, table)}"


def _assert_every_gorm_index_is_served(db: Database) -> None:
    for table, name, columns, unique in INDEXES:
        found = _indexes(db, table)
        assert name in found or (columns, unique) in found.values(), f"{table}: {name} {columns} missing"
        if name in found:
            assert found[name] == (columns, unique), f"{table}.{name}"


# --------------------------------------------------------------------------------------------------
# Fresh database
# --------------------------------------------------------------------------------------------------

def test_migrate_creates_every_table_column_and_gorm_index(raw_database: Database) -> None:
    db = raw_database
    assert _tables(db.main) == set()

    assert migrate_database(db) == ALL_MIGRATIONS

    assert _tables(db.main) == ONE_API_TABLES | OUR_TABLES
    for model in [*db.tables.main(), db.tables.log]:
        expected = {f.column_name for f in model._meta.sorted_fields}
        assert _columns(db, model._meta.table_name) == expected
    # on a fresh database every index carries its GORM name, with the right columns and uniqueness
    for table, name, columns, unique in INDEXES:
        assert _indexes(db, table).get(name) == (columns, unique), f"{table}.{name}"
    _assert_no_duplicate_indexes(db)
    assert applied(db) == set(ALL_MIGRATIONS)


def test_migrate_is_idempotent(raw_database: Database) -> None:
    db = raw_database
    migrate_database(db)
    before = {t: _indexes(db, t) for t in ONE_API_TABLES}

    assert migrate_database(db) == []
    assert pending(db) == []
    assert {t: _indexes(db, t) for t in ONE_API_TABLES} == before
    assert db.tables.migration.select().count() == len(ALL_MIGRATIONS)


def test_unmigrated_database_is_not_ready(raw_database: Database) -> None:
    assert pending(raw_database) == ALL_MIGRATIONS
    assert applied(raw_database) == set()
    with pytest.raises(SchemaNotReadyError) as info:
        check_schema(raw_database)
    message = str(info.value)
    assert "0001_one_api_schema" in message and "NODE_TYPE=slave" in message
    # checking never creates anything: a slave leaves the database as it found it
    assert _tables(raw_database.main) == set()

    migrate_database(raw_database)
    check_schema(raw_database)  # ready now: no exception
    assert pending(raw_database) == []


def test_a_recorded_migration_is_not_run_again(raw_database: Database) -> None:
    db = raw_database
    migrate_database(db)
    users.insert(db, {"username": "alice", "password": "x"}, [])
    # a second node starting later (or a restart) must not touch existing data
    assert migrate_database(db) == []
    assert users.find_by_username(db, "alice") is not None


# --------------------------------------------------------------------------------------------------
# Adopting a database One API created
# --------------------------------------------------------------------------------------------------

# An older One API (before Lark/OIDC login, channel config and system prompts, token model/subnet limits,
# request ids in logs), as GORM's AutoMigrate lays it out: nullable columns, GORM's defaults and index names.
# `unique` constraints get GORM's newer `uni_<table>_<column>` name (tokens.key) to check that an index is
# recognised by its columns, not only by its name.
_TYPES = {
    "sqlite": {"pk": "integer PRIMARY KEY AUTOINCREMENT", "str": "text", "text": "text", "bool": "numeric",
               "bigint": "integer", "int": "integer"},
    "mysql": {"pk": "bigint AUTO_INCREMENT PRIMARY KEY", "str": "varchar(191)", "text": "longtext",
              "bool": "boolean", "bigint": "bigint", "int": "int"},
    "postgres": {"pk": "bigserial PRIMARY KEY", "str": "text", "text": "text", "bool": "boolean",
                 "bigint": "bigint", "int": "integer"},
}

_ONE_API_DDL = """
CREATE TABLE `users` (`id` {pk},`username` {str},`password` {str} NOT NULL,`display_name` {str},
  `role` {int} DEFAULT 1,`status` {int} DEFAULT 1,`email` {str},`github_id` {str},`wechat_id` {str},
  `access_token` char(32),`quota` {bigint} DEFAULT 0,`used_quota` {bigint} DEFAULT 0,
  `request_count` {int} DEFAULT 0,`group` varchar(32) DEFAULT 'default',`aff_code` varchar(32),
  `inviter_id` {int});
CREATE UNIQUE INDEX `idx_users_username` ON `users` (`username`);
CREATE INDEX `idx_users_display_name` ON `users` (`display_name`);
CREATE INDEX `idx_users_email` ON `users` (`email`);
CREATE INDEX `idx_users_github_id` ON `users` (`github_id`);
CREATE INDEX `idx_users_wechat_id` ON `users` (`wechat_id`);
CREATE UNIQUE INDEX `idx_users_access_token` ON `users` (`access_token`);
CREATE UNIQUE INDEX `idx_users_aff_code` ON `users` (`aff_code`);
CREATE INDEX `idx_users_inviter_id` ON `users` (`inviter_id`);
CREATE TABLE `tokens` (`id` {pk},`user_id` {bigint},`key` char(48),`status` {bigint} DEFAULT 1,
  `name` {str},`created_time` {bigint},`accessed_time` {bigint},`expired_time` {bigint} DEFAULT -1,
  `remain_quota` {bigint} DEFAULT 0,`unlimited_quota` {bool} DEFAULT false,`used_quota` {bigint} DEFAULT 0);
CREATE UNIQUE INDEX `uni_tokens_key` ON `tokens` (`key`);
CREATE INDEX `idx_tokens_name` ON `tokens` (`name`);
CREATE TABLE `channels` (`id` {pk},`type` {bigint} DEFAULT 0,`key` {text},`status` {bigint} DEFAULT 1,
  `name` {str},`weight` {bigint} DEFAULT 0,`created_time` {bigint},`test_time` {bigint},
  `response_time` {bigint},`base_url` {str} DEFAULT '',`other` {text},`balance` double precision,
  `balance_updated_time` {bigint},`models` {text},`group` varchar(32) DEFAULT 'default',
  `used_quota` {bigint} DEFAULT 0,`model_mapping` varchar(1024) DEFAULT '',`priority` {bigint} DEFAULT 0);
CREATE INDEX `idx_channels_name` ON `channels` (`name`);
CREATE TABLE `abilities` (`group` varchar(32),`model` varchar(191),`channel_id` {bigint},
  `enabled` {bool},`priority` {bigint} DEFAULT 0,PRIMARY KEY (`group`,`model`,`channel_id`));
CREATE INDEX `idx_abilities_channel_id` ON `abilities` (`channel_id`);
CREATE INDEX `idx_abilities_priority` ON `abilities` (`priority`);
CREATE TABLE `redemptions` (`id` {pk},`user_id` {bigint},`key` char(32),`status` {bigint} DEFAULT 1,
  `name` {str},`quota` {bigint} DEFAULT 100,`created_time` {bigint},`redeemed_time` {bigint});
CREATE UNIQUE INDEX `idx_redemptions_key` ON `redemptions` (`key`);
CREATE INDEX `idx_redemptions_name` ON `redemptions` (`name`);
CREATE TABLE `logs` (`id` {pk},`user_id` {bigint},`created_at` {bigint},`type` {bigint},`content` {text},
  `username` {str} DEFAULT '',`token_name` {str} DEFAULT '',`model_name` {str} DEFAULT '',
  `quota` {bigint} DEFAULT 0,`prompt_tokens` {bigint} DEFAULT 0,`completion_tokens` {bigint} DEFAULT 0,
  `channel_id` {bigint});
CREATE INDEX `idx_created_at_type` ON `logs` (`created_at`,`type`);
CREATE INDEX `idx_logs_user_id` ON `logs` (`user_id`);
CREATE INDEX `index_username_model_name` ON `logs` (`model_name`,`username`);
CREATE INDEX `idx_logs_token_name` ON `logs` (`token_name`);
CREATE INDEX `idx_logs_model_name` ON `logs` (`model_name`);
CREATE INDEX `idx_logs_channel_id` ON `logs` (`channel_id`);
CREATE TABLE `options` (`key` varchar(191),`value` {text},PRIMARY KEY (`key`));
"""

ROOT_HASH = "$2a$10$wKu0fJAqvC0BXDfeZq5eYuN0mRDBpnu4VSMH2bPbPDZSe11GuRZWq"
TOKEN_KEY = "rEf1Cw3cWpuGp8mBJQwuAKkJQl2A1v7Rdn8k4Nfs9Ew2xZq7"
VOUCHER_KEY = "0123456789abcdef0123456789abcdef"

_ONE_API_ROWS = [
    "INSERT INTO `users` (`username`,`password`,`display_name`,`role`,`status`,`email`,`github_id`,"
    "`wechat_id`,`access_token`,`quota`,`used_quota`,`request_count`,`group`,`aff_code`,`inviter_id`) VALUES "
    f"('root','{ROOT_HASH}','Root User',100,1,'','','','0123456789abcdef0123456789abcdef',"
    "500000000000000,1234,7,'default','R00T',0)",
    "INSERT INTO `tokens` (`user_id`,`key`,`status`,`name`,`created_time`,`accessed_time`,`expired_time`,"
    f"`remain_quota`,`unlimited_quota`,`used_quota`) VALUES (1,'{TOKEN_KEY}',1,'default',1700000000,"
    "1700000100,-1,-1,true,42)",
    "INSERT INTO `channels` (`type`,`key`,`status`,`name`,`weight`,`created_time`,`test_time`,`response_time`,"
    "`base_url`,`other`,`balance`,`balance_updated_time`,`models`,`group`,`used_quota`,`model_mapping`,"
    "`priority`) VALUES (1,'sk-upstream',1,'openai',0,1700000000,0,0,'','',1.5,0,'gpt-3.5-turbo,gpt-4',"
    "'default',0,'',5)",
    "INSERT INTO `abilities` (`group`,`model`,`channel_id`,`enabled`,`priority`) VALUES "
    "('default','gpt-3.5-turbo',1,true,5),('default','gpt-4',1,true,5)",
    "INSERT INTO `redemptions` (`user_id`,`key`,`status`,`name`,`quota`,`created_time`,`redeemed_time`) "
    f"VALUES (1,'{VOUCHER_KEY}',1,'gift',1000,1700000000,0)",
    "INSERT INTO `logs` (`user_id`,`created_at`,`type`,`content`,`username`,`token_name`,`model_name`,"
    "`quota`,`prompt_tokens`,`completion_tokens`,`channel_id`) VALUES "
    "(1,1700000200,2,'model ratio 15','root','default','gpt-4',300,10,20,1)",
    "INSERT INTO `options` (`key`,`value`) VALUES ('SystemName','My API'),('QuotaPerUnit','500000')",
]


def _statements(backend: str, text: str) -> list[str]:
    sql = text.format(**_TYPES[backend]) if "{" in text else text
    if backend == "postgres":
        sql = sql.replace("`", '"')
    return [s.strip() for s in sql.split(";") if s.strip()]


def _create_one_api_database(db: Database) -> None:
    for statement in _statements(db.kind, _ONE_API_DDL):
        db.main.execute_sql(statement)
    for statement in _ONE_API_ROWS:
        for sql in _statements(db.kind, statement):
            db.main.execute_sql(sql)


def test_adopting_a_one_api_database_keeps_rows_and_adds_what_is_missing(raw_database: Database) -> None:
    db = raw_database
    _create_one_api_database(db)
    assert "lark_id" not in _columns(db, "users")
    assert "config" not in _columns(db, "channels")
    with pytest.raises(SchemaNotReadyError):
        check_schema(db)  # a slave must not run against it before the master adopted it

    assert migrate_database(db) == ALL_MIGRATIONS

    # every column oneapi knows is there now, One API's tables kept their names, ours was added
    assert _tables(db.main) == ONE_API_TABLES | OUR_TABLES
    for model in [*db.tables.main(), db.tables.log]:
        expected = {f.column_name for f in model._meta.sorted_fields}
        assert expected <= _columns(db, model._meta.table_name), model._meta.table_name

    # rows intact and readable through the query functions; added columns hold their defaults
    root = users.find_by_username(db, "root")
    assert root is not None
    assert root["id"] == 1 and root["password"] == ROOT_HASH and root["role"] == 100
    assert root["quota"] == 500_000_000_000_000 and root["used_quota"] == 1234 and root["request_count"] == 7
    assert root["display_name"] == "Root User" and root["aff_code"] == "R00T"
    assert root["lark_id"] == "" and root["oidc_id"] == ""
    assert users.find_by_access_token(db, "0123456789abcdef0123456789abcdef") == root
    assert users.find_for_login(db, "root") == root

    token = tokens.find_by_key(db, TOKEN_KEY)
    assert token is not None
    assert token["user_id"] == 1 and token["name"] == "default" and token["expired_time"] == -1
    assert token["remain_quota"] == -1 and token["unlimited_quota"] is True and token["used_quota"] == 42
    assert token["models"] is None and token["subnet"] in (None, "")

    channel = channels.get(db, 1)
    assert channel is not None
    assert channel["key"] == "sk-upstream" and channel["models"] == "gpt-3.5-turbo,gpt-4"
    assert channel["priority"] == 5 and channel["balance"] == 1.5
    assert channel["config"] == "" and channel["system_prompt"] is None
    assert channels.group_models(db, "default") == ["gpt-3.5-turbo", "gpt-4"]

    voucher = redemptions.get(db, 1)
    assert voucher is not None and voucher["key"] == VOUCHER_KEY and voucher["quota"] == 1000

    (row,) = logs.list_page(db, logs.LogFilter(), 0, 10)
    assert row["content"] == "model ratio 15" and row["quota"] == 300 and row["channel_id"] == 1
    assert row["request_id"] == "" and row["elapsed_time"] == 0
    assert row["is_stream"] is False and row["system_prompt_reset"] is False
    assert logs.consumed_quota(db, logs.LogFilter(user_id=1)) == 300

    assert options.load_all(db) == {"SystemName": "My API", "QuotaPerUnit": "500000"}

    # GORM's indexes were recognised (by name, or by columns for tokens.key): nothing created twice
    assert _indexes(db, "users")["idx_users_username"] == (("username",), True)
    assert _indexes(db, "tokens")["uni_tokens_key"] == (("key",), True)
    assert "idx_tokens_key" not in _indexes(db, "tokens")
    _assert_every_gorm_index_is_served(db)
    _assert_no_duplicate_indexes(db)
    # and the ones the older One API lacked were added with GORM's names
    assert _indexes(db, "users")["idx_users_lark_id"] == (("lark_id",), False)
    assert _indexes(db, "tokens")["idx_tokens_user_id"] == (("user_id",), False)

    check_schema(db)
    assert migrate_database(db) == []


def test_adopted_database_works_for_new_rows(raw_database: Database) -> None:
    db = raw_database
    _create_one_api_database(db)
    migrate_database(db)

    # ids continue after One API's rows; unique indexes still hold
    alice = users.insert(db, {"username": "alice", "password": "x", "aff_code": "AL1C"},
                         [{"key": "a" * 48, "name": "default"}])
    assert alice == 2
    assert users.get(db, alice)["lark_id"] == ""  # type: ignore[index]
    with pytest.raises(pw.IntegrityError):  # the unique index on username survived adoption
        db.tables.user.insert(username="root", password="x").execute()
    assert channels.insert_many(db, [{"name": "new", "models": "gpt-4", "group": "vip", "key": "k"}]) == [2]
    assert channels.group_models(db, "vip") == ["gpt-4"]
    assert redemptions.redeem(db, VOUCHER_KEY, alice, 1700000300) == (1000, [])
    assert users.get(db, alice)["quota"] == 1000  # type: ignore[index]
    options.save(db, "SystemName", "Renamed")
    assert options.load_all(db)["SystemName"] == "Renamed"
    logs.insert(db, LogRow(user_id=alice, created_at=1700000400, type=logs.TYPE_CONSUME, quota=5,
                     request_id="req-1", is_stream=True))
    assert logs.consumed_quota(db, logs.LogFilter()) == 305


# --------------------------------------------------------------------------------------------------
# LOG_SQL_DSN: logs in a second database
# --------------------------------------------------------------------------------------------------

def _sqlite_tables(path: Path) -> set[str]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not r[0].startswith("sqlite_")}


def test_logs_in_a_second_sqlite_database(tmp_path: Path) -> None:
    main_path, log_path = tmp_path / "one-api.db", tmp_path / "logs" / "logs.db"
    db = open_specs(DatabaseSpec("sqlite", str(main_path)), DatabaseSpec("sqlite", str(log_path)))
    try:
        assert db.logs is not db.main
        assert migrate_database(db) == ALL_MIGRATIONS

        assert _tables(db.main) == (ONE_API_TABLES - {"logs"}) | OUR_TABLES
        assert _tables(db.logs) == {"logs", "oneapi_journal_marks"}
        assert {name for table, name, _, _ in INDEXES if table == "logs"} <= set(_indexes(db, "logs"))

        logs.insert(db, LogRow(user_id=1, created_at=100, type=logs.TYPE_CONSUME, quota=7))
        logs.insert_many(db, [LogRow(user_id=1, created_at=101, type=logs.TYPE_CONSUME, quota=8)])
        assert logs.consumed_quota(db, logs.LogFilter()) == 15
        assert migrate_database(db) == []
    finally:
        db.close_connections()

    assert _sqlite_tables(main_path) == (ONE_API_TABLES - {"logs"}) | OUR_TABLES
    assert _sqlite_tables(log_path) == {"logs", "oneapi_journal_marks"}
    import sqlite3

    with sqlite3.connect(log_path) as conn:
        assert conn.execute("SELECT SUM(quota) FROM logs").fetchone() == (15,)


def test_logs_in_sqlite_beside_a_server_database(raw_database: Database, tmp_path: Path) -> None:
    """Main tables on each backend, logs in a SQLite file (a busy log table kept off the main server)."""
    log_path = tmp_path / "logs.db"
    db = open_specs(raw_database.spec, DatabaseSpec("sqlite", str(log_path)))
    try:
        migrate_database(db)
        assert "logs" not in _tables(db.main)
        assert _tables(db.logs) == {"logs", "oneapi_journal_marks"}
        users.insert(db, {"username": "bob", "password": "x"}, [])
        logs.insert(db, LogRow(user_id=1, username="bob", created_at=5, type=logs.TYPE_CONSUME,
                         quota=3))
        assert logs.list_page(db, logs.LogFilter(username="bob"), 0, 10)[0]["quota"] == 3
    finally:
        db.close_connections()
    assert _sqlite_tables(log_path) == {"logs", "oneapi_journal_marks"}


def test_token_limits_reach_a_database_migrated_before_them(raw_database: Database) -> None:
    """0004_token_limits on a database an earlier build adopted: the columns come with 0 (no limit) for the
    tokens there, and One API, which never names them, still inserts tokens (the schema has the default)."""
    db = raw_database
    _create_one_api_database(db)
    migrate_database(db)
    for column in ("rpm_limit", "tpm_limit"):  # as the build before 0004 left it
        db.main.execute_sql(f"ALTER TABLE {_quoted_name(db, 'tokens')} DROP COLUMN {_quoted_name(db, column)}")
    db.tables.migration.delete().where(db.tables.migration.name == "0004_token_limits").execute()

    assert migrate_database(db) == ["0004_token_limits"]
    token = tokens.find_by_key(db, TOKEN_KEY)
    assert token is not None and token["rpm_limit"] == 0 and token["tpm_limit"] == 0
    other_key = "b" * 48
    db.main.execute_sql(f"INSERT INTO {_quoted_name(db, 'tokens')} ({_quoted_name(db, 'user_id')}, "
                        f"{_quoted_name(db, 'key')}, {_quoted_name(db, 'name')}) VALUES (1, '{other_key}', 'go')")
    inserted = tokens.find_by_key(db, other_key)
    assert inserted is not None and (inserted["rpm_limit"], inserted["tpm_limit"]) == (0, 0)
    tokens.update(db, inserted["id"], 1, {"rpm_limit": 60, "tpm_limit": 10**9})
    assert tokens.get(db, inserted["id"], 1)["tpm_limit"] == 10**9  # type: ignore[index]


def _quoted_name(db: Database, name: str) -> str:
    return name.join(db.main.quote)
