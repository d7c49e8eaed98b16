"""oneapi.store.queries.redemptions on every backend: a voucher credits exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from oneapi.errors import ConflictError, NotFoundError
from oneapi.store.database import Database
from oneapi.store.queries import redemptions, users
from oneapi.store.queries.redemptions import STATUS_DISABLED, STATUS_ENABLED, STATUS_USED

NOW = 1_700_000_000


def _voucher(key: str, name: str = "gift", quota: int = 1000, **fields: Any) -> dict[str, Any]:
    return {"user_id": 1, "key": key.ljust(32, "0"), "name": name, "quota": quota, "created_time": NOW,
            **fields}


@pytest.fixture
def alice(database: Database) -> int:
    return users.insert(database, {"username": "alice", "password": "x", "quota": 50}, [])


def _quota(db: Database, user_id: int) -> int:
    row = users.get(db, user_id)
    assert row is not None
    return int(row["quota"])


def test_redeem_credits_once(database: Database, alice: int) -> None:
    (key,) = redemptions.insert_many(database, [_voucher("v1", quota=1234)])

    assert redemptions.redeem(database, key, alice, NOW + 5) == (1234, [])
    assert _quota(database, alice) == 50 + 1234
    row = redemptions.get(database, 1)
    assert row is not None
    assert row["status"] == STATUS_USED and row["redeemed_time"] == NOW + 5 and row["user_id"] == alice

    with pytest.raises(ConflictError, match="already been used"):
        redemptions.redeem(database, key, alice, NOW + 6)
    assert _quota(database, alice) == 50 + 1234
    assert redemptions.get(database, 1)["redeemed_time"] == NOW + 5  # type: ignore[index]


def test_redeem_unknown_key(database: Database, alice: int) -> None:
    redemptions.insert_many(database, [_voucher("v1")])
    with pytest.raises(NotFoundError):
        redemptions.redeem(database, "unknown".ljust(32, "0"), alice, NOW)
    assert _quota(database, alice) == 50


def test_redeem_disabled_voucher_is_refused(database: Database, alice: int) -> None:
    (key,) = redemptions.insert_many(database, [_voucher("v1", status=STATUS_DISABLED)])
    with pytest.raises(ConflictError, match="disabled"):
        redemptions.redeem(database, key, alice, NOW)
    assert _quota(database, alice) == 50
    assert redemptions.get(database, 1)["status"] == STATUS_DISABLED  # type: ignore[index]


def test_redeem_for_a_missing_user_rolls_back(database: Database) -> None:
    (key,) = redemptions.insert_many(database, [_voucher("v1")])
    with pytest.raises(NotFoundError):
        redemptions.redeem(database, key, 999, NOW)
    row = redemptions.get(database, 1)
    assert row is not None and row["status"] == STATUS_ENABLED and row["redeemed_time"] == 0
    # still redeemable by a real user
    uid = users.insert(database, {"username": "late", "password": "x"}, [])
    assert redemptions.redeem(database, key, uid, NOW) == (1000, [])


def test_insert_many_is_all_or_nothing(database: Database) -> None:
    redemptions.insert_many(database, [_voucher("taken")])
    with pytest.raises(ConflictError):
        redemptions.insert_many(database, [_voucher("new1"), _voucher("taken"), _voucher("new2")])
    assert [r["key"] for r in redemptions.list_page(database, 0, 10)] == ["taken".ljust(32, "0")]
    assert redemptions.insert_many(database, [_voucher("new1"), _voucher("new2")]) == [
        "new1".ljust(32, "0"), "new2".ljust(32, "0")]


def test_list_get_update_delete(database: Database) -> None:
    redemptions.insert_many(database, [_voucher("a", "first"), _voucher("b", "second"), _voucher("c", "third")])

    assert [r["name"] for r in redemptions.list_page(database, 0, 10)] == ["third", "second", "first"]
    assert [r["name"] for r in redemptions.list_page(database, 1, 1)] == ["second"]
    row = redemptions.get(database, 1)
    assert row is not None and row["name"] == "first" and row["quota"] == 1000
    assert row["status"] == STATUS_ENABLED and row["redeemed_time"] == 0
    assert redemptions.get(database, 99) is None

    assert redemptions.update(database, 1, {"name": "renamed", "quota": 5}) == 1
    assert redemptions.get(database, 1)["quota"] == 5  # type: ignore[index]
    assert redemptions.update(database, 1, {}) == 0
    assert redemptions.update(database, 99, {"name": "x"}) == 0
    assert redemptions.delete(database, 1) == 1
    assert redemptions.delete(database, 1) == 0
    assert redemptions.get(database, 1) is None


def test_search_by_name_prefix_or_id(database: Database) -> None:
    redemptions.insert_many(database, [_voucher("a", "promo-2024"), _voucher("b", "promo_x"),
                                       _voucher("c", "old-promo")])
    assert [r["id"] for r in redemptions.search(database, "promo", 10)] == [2, 1]
    assert [r["id"] for r in redemptions.search(database, "promo_", 10)] == [2]
    assert [r["id"] for r in redemptions.search(database, "3", 10)] == [3]
    assert redemptions.search(database, "%", 10) == []
