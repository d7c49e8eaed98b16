"""oneapi.store.queries.tokens on every backend: every lookup that serves a user is scoped by user_id."""

from __future__ import annotations

from typing import Any

import pytest

from oneapi.errors import ConflictError
from oneapi.store.database import Database
from oneapi.store.queries import tokens, users


@pytest.fixture
def owners(database: Database) -> tuple[int, int]:
    alice = users.insert(database, {"username": "alice", "password": "x"}, [])
    bob = users.insert(database, {"username": "bob", "password": "x"}, [])
    return alice, bob


def _token(user_id: int, key: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"user_id": user_id, "key": key.ljust(48, "0"), "name": name, **fields}


def test_insert_defaults_and_find_by_key(database: Database, owners: tuple[int, int]) -> None:
    alice, _ = owners
    tid = tokens.insert(database, _token(alice, "k1", "main", created_time=1700000000))

    row = tokens.find_by_key(database, "k1".ljust(48, "0"))
    assert row is not None and row["id"] == tid and row["user_id"] == alice and row["name"] == "main"
    assert row["status"] == tokens.STATUS_ENABLED and row["expired_time"] == -1
    assert row["remain_quota"] == 0 and row["used_quota"] == 0 and row["unlimited_quota"] is False
    assert row["created_time"] == 1700000000
    assert tokens.find_by_key(database, "nope".ljust(48, "0")) is None


def test_duplicate_key_is_a_conflict_and_the_connection_stays_usable(
        database: Database, owners: tuple[int, int]) -> None:
    alice, bob = owners
    tokens.insert(database, _token(alice, "same", "a"))
    with pytest.raises(ConflictError):
        tokens.insert(database, _token(bob, "same", "b"))
    # PostgreSQL aborts the transaction on an error; the next statement must still work
    assert tokens.count_for_user(database, bob) == 0
    assert tokens.insert(database, _token(bob, "other", "b")) > 0


def test_get_update_delete_are_scoped_by_owner(database: Database, owners: tuple[int, int]) -> None:
    alice, bob = owners
    tid = tokens.insert(database, _token(alice, "k1", "main"))

    assert tokens.get(database, tid, alice)["name"] == "main"  # type: ignore[index]
    assert tokens.get(database, tid, bob) is None
    assert tokens.update(database, tid, bob, {"name": "stolen"}) == 0
    assert tokens.delete(database, tid, bob) == 0
    assert tokens.get(database, tid, alice)["name"] == "main"  # type: ignore[index]

    assert tokens.update(database, tid, alice, {"name": "renamed", "status": tokens.STATUS_DISABLED,
                                                "models": "gpt-4,gpt-4o", "subnet": "10.0.0.0/8"}) == 1
    row = tokens.get(database, tid, alice)
    assert row is not None and row["name"] == "renamed" and row["status"] == tokens.STATUS_DISABLED
    assert row["models"] == "gpt-4,gpt-4o" and row["subnet"] == "10.0.0.0/8"
    assert tokens.update(database, tid, alice, {"name": "renamed"}) == 1  # unchanged value still matched
    assert tokens.update(database, tid, alice, {}) == 0

    assert tokens.delete(database, tid, alice) == 1
    assert tokens.get(database, tid, alice) is None
    assert tokens.delete(database, tid, alice) == 0


def test_list_page_orders_and_pages(database: Database, owners: tuple[int, int]) -> None:
    alice, bob = owners
    t1 = tokens.insert(database, _token(alice, "k1", "one", remain_quota=10, used_quota=300))
    t2 = tokens.insert(database, _token(alice, "k2", "two", remain_quota=500, used_quota=5))
    t3 = tokens.insert(database, _token(alice, "k3", "three", remain_quota=10, used_quota=40))
    tokens.insert(database, _token(bob, "k4", "bobs", remain_quota=10_000, used_quota=10_000))

    def ids(rows: list[dict[str, Any]]) -> list[int]:
        return [r["id"] for r in rows]

    assert ids(tokens.list_page(database, alice, 0, 10)) == [t3, t2, t1]
    assert ids(tokens.list_page(database, alice, 0, 10, "remain_quota")) == [t2, t3, t1]  # ties: newest first
    assert ids(tokens.list_page(database, alice, 0, 10, "used_quota")) == [t1, t3, t2]
    assert ids(tokens.list_page(database, alice, 1, 1)) == [t2]
    assert tokens.count_for_user(database, alice) == 3
    assert tokens.count_for_user(database, bob) == 1
    assert tokens.count_for_user(database, 999) == 0


def test_search_is_a_name_prefix_within_the_owner(database: Database, owners: tuple[int, int]) -> None:
    alice, bob = owners
    a1 = tokens.insert(database, _token(alice, "k1", "prod-api"))
    a2 = tokens.insert(database, _token(alice, "k2", "prod_x"))
    tokens.insert(database, _token(alice, "k3", "staging-prod"))
    tokens.insert(database, _token(bob, "k4", "prod-bob"))

    assert [r["id"] for r in tokens.search(database, alice, "prod", 10)] == [a2, a1]
    assert [r["id"] for r in tokens.search(database, alice, "prod_", 10)] == [a2]  # '_' is literal
    assert [r["id"] for r in tokens.search(database, alice, "prod", 1)] == [a2]
    assert tokens.search(database, alice, "%", 10) == []  # '%' is literal
    assert tokens.search(database, bob, "staging", 10) == []
