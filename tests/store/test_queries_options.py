"""oneapi.store.queries.options and queries.common on every backend."""

from __future__ import annotations

import pytest

from oneapi.store.database import Database
from oneapi.store.queries import options, users
from oneapi.store.queries.common import dicts, first, like_prefix, prefix_match


def test_save_twice_is_an_upsert(database: Database) -> None:
    assert options.load_all(database) == {}
    options.save(database, "SystemName", "One API")
    options.save(database, "SystemName", "My Gateway")
    options.save(database, "QuotaPerUnit", "500000")

    assert options.load_all(database) == {"SystemName": "My Gateway", "QuotaPerUnit": "500000"}
    assert database.tables.option.select().count() == 2


def test_load_all_returns_strings_as_stored(database: Database) -> None:
    long_json = '{"gpt-4": 15, "gpt-3.5-turbo": 0.75, "名字": "值"}' * 200  # ModelRatio is big JSON
    options.save(database, "ModelRatio", long_json)
    options.save(database, "Notice", "")
    options.save(database, "RegisterEnabled", "false")
    options.save(database, "Notice", "")  # same value again

    assert options.load_all(database) == {"ModelRatio": long_json, "Notice": "", "RegisterEnabled": "false"}


# --------------------------------------------------------------------------------------------------
# common
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "pattern"), [
    ("abc", "abc%"),
    ("50%", "50!%%"),
    ("a_b", "a!_b%"),
    ("wow!", "wow!!%"),
    ("!%_", "!!!%!_%"),
    ("", "%"),
])
def test_like_prefix_escapes_wildcards(value: str, pattern: str) -> None:
    assert like_prefix(value) == pattern


NAMES = ["50%off", "50xoff", "a_b", "axb", "wow!", "wow!!", "wowa", "back\\slash", "backXslash", "plain"]


@pytest.mark.parametrize(("keyword", "expected"), [
    ("50%", ["50%off"]),  # '%' literal, not "anything"
    ("a_", ["a_b"]),  # '_' literal, not "any one character"
    ("wow!", ["wow!", "wow!!"]),  # '!' (the escape character) literal
    ("wow!!", ["wow!!"]),
    ("back\\", ["back\\slash"]),  # backslash literal (MySQL's default escape)
    ("%", []),
    ("_", []),
    ("pla", ["plain"]),
    ("lain", []),  # a prefix, not a substring
    ("", NAMES),
])
def test_prefix_match_treats_wildcards_literally(database: Database, keyword: str,
                                                 expected: list[str]) -> None:
    for name in NAMES:
        users.insert(database, {"username": name, "password": "x"}, [])
    t = database.tables.user
    rows = dicts(t.select(t.username).where(prefix_match(t.username, keyword)).order_by(t.id))
    assert [r["username"] for r in rows] == expected


def test_first_returns_one_row_or_none(database: Database) -> None:
    t = database.tables.user
    assert first(t.select()) is None
    users.insert(database, {"username": "a", "password": "x"}, [])
    users.insert(database, {"username": "b", "password": "x"}, [])
    row = first(t.select().order_by(t.id.desc()))
    assert row is not None and row["username"] == "b"
