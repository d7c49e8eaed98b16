"""MariaDB/MySQL whose default charset is latin1 (issue 14): oneapi's tables are utf8mb4 whatever the
database's default, so Chinese log text is stored and read back; a table adopted from One API that is not
utf8mb4 is named in one warning line with the statement that converts it.

Each test creates its own latin1 database beside the one ``ONEAPI_TEST_MYSQL_DSN`` names, and drops it."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator

import pytest

from oneapi.store.database import Database, open_specs
from oneapi.store.dsn import parse
from oneapi.store.migrations import migrate_database, not_utf8mb4
from oneapi.store.queries import logs
from oneapi.store.queries.accounting import LogRow, insert_logs

CHINESE = "模型倍率 15，补全倍率 1（用户：张三）🙂"


@pytest.fixture
def latin1_database() -> Iterator[Database]:
    dsn = os.environ.get("ONEAPI_TEST_MYSQL_DSN")
    if not dsn:
        pytest.skip("ONEAPI_TEST_MYSQL_DSN is not set: no MariaDB/MySQL server to test against")
    spec = parse(dsn)
    name = f"{spec.database}_latin1"
    admin = open_specs(spec)
    quoted = f"`{name}`"
    admin.main.execute_sql(f"DROP DATABASE IF EXISTS {quoted}")
    admin.main.execute_sql(f"CREATE DATABASE {quoted} CHARACTER SET latin1 COLLATE latin1_swedish_ci")
    db = open_specs(dataclasses.replace(spec, database=name))
    try:
        yield db
    finally:
        db.close_connections()
        admin.main.execute_sql(f"DROP DATABASE IF EXISTS {quoted}")
        admin.close_connections()


def test_the_database_default_really_is_latin1(latin1_database: Database) -> None:
    (charset,) = latin1_database.main.execute_sql("SELECT @@character_set_database").fetchone()
    assert charset == "latin1"


def test_tables_created_in_a_latin1_database_hold_chinese_logs(latin1_database: Database,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    db = latin1_database
    with caplog.at_level(logging.WARNING, logger="oneapi.store"):
        migrate_database(db)
    assert not_utf8mb4(db.main) == {}
    assert not [r for r in caplog.records if "utf8mb4" in r.getMessage()]  # nothing to convert

    # the relay's path (the ledger's batches) and the services' path (one row)
    with db.logs.atomic():
        insert_logs(db, [LogRow(user_id=1, type=logs.TYPE_CONSUME, content=CHINESE, username="张三",
                                token_name="默认令牌", model_name="通义千问")])
    logs.insert(db, LogRow(user_id=1, created_at=1, type=logs.TYPE_SYSTEM, content="渠道「测试」已被禁用"))
    rows = logs.list_page(db, logs.LogFilter(), 0, 10)
    assert {r["content"] for r in rows} == {CHINESE, "渠道「测试」已被禁用"}
    consume = next(r for r in rows if r["type"] == logs.TYPE_CONSUME)
    assert (consume["username"], consume["token_name"], consume["model_name"]) == ("张三", "默认令牌", "通义千问")
    assert logs.list_page(db, logs.LogFilter(username="张三"), 0, 10)[0]["content"] == CHINESE


def test_an_adopted_latin1_table_is_named_once_with_its_conversion(latin1_database: Database,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    db = latin1_database
    # One API (GORM) in a latin1 database: its logs table takes the database's default
    db.main.execute_sql("CREATE TABLE `logs` (`id` bigint AUTO_INCREMENT PRIMARY KEY, `user_id` bigint, "
                        "`created_at` bigint, `type` bigint, `content` longtext, `username` varchar(191) DEFAULT '',"
                        " `token_name` varchar(191) DEFAULT '', `model_name` varchar(191) DEFAULT '', "
                        "`quota` bigint DEFAULT 0, `prompt_tokens` bigint DEFAULT 0, "
                        "`completion_tokens` bigint DEFAULT 0, `channel_id` bigint)")
    with caplog.at_level(logging.WARNING, logger="oneapi.store"):
        migrate_database(db)
    warnings = [r.getMessage() for r in caplog.records if "utf8mb4" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "logs (latin1)" in warnings[0]
    assert "ALTER TABLE `logs` CONVERT TO CHARACTER SET utf8mb4;" in warnings[0]
    assert "tokens" not in warnings[0]  # the tables oneapi created are utf8mb4
    assert list(not_utf8mb4(db.main)) == ["logs"]

    # following the advice makes the table hold Chinese text
    db.main.execute_sql("ALTER TABLE `logs` CONVERT TO CHARACTER SET utf8mb4")
    assert not_utf8mb4(db.main) == {}
    logs.insert(db, LogRow(user_id=1, created_at=1, type=logs.TYPE_SYSTEM, content=CHINESE))
    assert logs.list_page(db, logs.LogFilter(), 0, 10)[0]["content"] == CHINESE
