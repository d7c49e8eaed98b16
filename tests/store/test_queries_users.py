"""oneapi.store.queries.users on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from oneapi.errors import ConflictError
from oneapi.store.database import Database
from oneapi.store.queries import tokens, users


def _user(name: str, **fields: Any) -> dict[str, Any]:
    return {"username": name, "password": "$2a$10$hash", "display_name": name.title(), **fields}


def _token(key_char: str, **fields: Any) -> dict[str, Any]:
    return {"key": key_char * 48, "name": "default", "remain_quota": -1, "unlimited_quota": True, **fields}


def test_insert_creates_user_and_tokens(database: Database) -> None:
    uid = users.insert(database, _user("alice", quota=100, email="alice@example.com"), [_token("a")])

    row = users.get(database, uid)
    assert row is not None
    assert row["username"] == "alice" and row["quota"] == 100 and row["email"] == "alice@example.com"
    # model defaults (SPEC §3)
    assert row["role"] == 1 and row["status"] == users.STATUS_ENABLED and row["group"] == "default"
    assert row["used_quota"] == 0 and row["request_count"] == 0 and row["access_token"] is None
    (token,) = tokens.list_page(database, uid, 0, 10)
    assert token["user_id"] == uid and token["key"] == "a" * 48 and token["unlimited_quota"] is True
    assert token["expired_time"] == -1
    assert users.count(database) == 1


def test_insert_with_inviter_credits_the_inviter(database: Database) -> None:
    inviter = users.insert(database, _user("inviter", quota=10), [])
    users.insert(database, _user("invitee", inviter_id=inviter), [], inviter=(inviter, 25))
    assert users.get(database, inviter)["quota"] == 35  # type: ignore[index]
    users.insert(database, _user("third"), [], inviter=(inviter, 0))
    assert users.get(database, inviter)["quota"] == 35  # type: ignore[index]


def test_insert_taken_username_is_a_conflict_and_creates_nothing(database: Database) -> None:
    users.insert(database, _user("alice"), [_token("a")])
    with pytest.raises(ConflictError, match="alice"):
        users.insert(database, _user("alice"), [_token("b")])
    assert users.count(database) == 1
    assert tokens.find_by_key(database, "b" * 48) is None


def test_insert_rolls_back_the_user_when_a_token_collides(database: Database) -> None:
    first = users.insert(database, _user("alice"), [_token("a")])
    with pytest.raises(ConflictError):
        users.insert(database, _user("bob"), [_token("a")])  # the token key is unique
    assert users.find_by_username(database, "bob") is None
    assert users.count(database) == 1
    assert tokens.count_for_user(database, first) == 1


def test_insert_duplicate_aff_code_is_a_conflict(database: Database) -> None:
    users.insert(database, _user("alice", aff_code="ABCD"), [])
    with pytest.raises(ConflictError):
        users.insert(database, _user("bob", aff_code="ABCD"), [])
    assert users.find_by_username(database, "bob") is None


def test_lookups(database: Database) -> None:
    alice = users.insert(database, _user("alice", email="alice@example.com", access_token="t" * 32,
                                         aff_code="AL1C"), [])
    bob = users.insert(database, _user("bob", aff_code="B0B0", status=users.STATUS_DISABLED), [])

    assert users.find_by_username(database, "alice")["id"] == alice  # type: ignore[index]
    assert users.find_by_username(database, "nobody") is None
    assert users.find_by_access_token(database, "t" * 32)["id"] == alice  # type: ignore[index]
    assert users.find_by_access_token(database, "x" * 32) is None
    assert users.find_by_aff_code(database, "AL1C")["id"] == alice  # type: ignore[index]
    assert users.find_by_aff_code(database, "B0B0") is None  # only enabled users invite
    assert users.get(database, bob)["group"] == "default"  # type: ignore[index]
    assert users.get(database, 999) is None


def test_find_for_login_by_username_or_email(database: Database) -> None:
    alice = users.insert(database, _user("alice", email="alice@example.com"), [])
    users.insert(database, _user("noemail"), [])

    assert users.find_for_login(database, "alice")["id"] == alice  # type: ignore[index]
    assert users.find_for_login(database, "alice@example.com")["id"] == alice  # type: ignore[index]
    assert users.find_for_login(database, "") is None  # an empty e-mail never matches
    assert users.find_for_login(database, "nobody@example.com") is None
    users.soft_delete(database, alice, "deleted_1")
    assert users.find_for_login(database, "alice@example.com") is None
    assert users.find_for_login(database, "deleted_1") is None


def test_list_page_orders_and_hides_deleted(database: Database) -> None:
    ids = [users.insert(database, _user(f"user{i}", quota=q, used_quota=u, request_count=r), [])
           for i, (q, u, r) in enumerate([(5, 1, 30), (50, 3, 10), (20, 2, 20), (20, 0, 0)])]
    users.soft_delete(database, ids[3], "deleted_x")

    assert [r["id"] for r in users.list_page(database, 0, 10)] == [ids[2], ids[1], ids[0]]
    assert [r["id"] for r in users.list_page(database, 0, 10, "quota")] == [ids[1], ids[2], ids[0]]
    assert [r["id"] for r in users.list_page(database, 0, 10, "used_quota")] == [ids[1], ids[2], ids[0]]
    assert [r["id"] for r in users.list_page(database, 0, 10, "request_count")] == [ids[0], ids[2], ids[1]]
    assert [r["id"] for r in users.list_page(database, 1, 1)] == [ids[1]]
    assert users.list_page(database, 3, 10) == []


def test_search_prefix_of_username_email_display_name_or_id(database: Database) -> None:
    a = users.insert(database, _user("alice", email="wonder@example.com", display_name="Queen"), [])
    b = users.insert(database, _user("malice", email="m@example.com"), [])
    d = users.insert(database, _user("alfred"), [])
    users.soft_delete(database, d, "deleted_al")

    assert [r["id"] for r in users.search(database, "al", 10)] == [a]  # prefix, not substring; no deleted
    assert [r["id"] for r in users.search(database, "wonder", 10)] == [a]
    assert [r["id"] for r in users.search(database, "Que", 10)] == [a]
    assert [r["id"] for r in users.search(database, str(b), 10)] == [b]
    assert users.search(database, "zzz", 10) == []


def test_username_taken(database: Database) -> None:
    alice = users.insert(database, _user("alice"), [])
    assert users.username_taken(database, "alice")
    assert not users.username_taken(database, "alice", except_id=alice)
    assert not users.username_taken(database, "bob")


def test_update(database: Database) -> None:
    alice = users.insert(database, _user("alice"), [])
    users.insert(database, _user("bob"), [])

    assert users.update(database, alice, {"display_name": "Alice A", "group": "vip"}) == 1
    row = users.get(database, alice)
    assert row is not None and row["display_name"] == "Alice A" and row["group"] == "vip"
    # an update that changes nothing still reports the row as found (MySQL counts matched rows too)
    assert users.update(database, alice, {"display_name": "Alice A"}) == 1
    assert users.update(database, alice, {}) == 0
    assert users.update(database, 999, {"display_name": "x"}) == 0
    with pytest.raises(ConflictError):
        users.update(database, alice, {"username": "bob"})
    assert users.get(database, alice)["username"] == "alice"  # type: ignore[index]


def test_add_quota_is_relative_and_set_quota_absolute(database: Database) -> None:
    alice = users.insert(database, _user("alice", quota=100), [])

    assert users.add_quota(database, alice, 50) == 1
    assert users.add_quota(database, alice, -170) == 1  # may go negative: the caller decides
    assert users.get(database, alice)["quota"] == -20  # type: ignore[index]
    assert users.add_quota(database, 999, 5) == 0

    assert users.set_quota(database, alice, 1_000_000_000_000) == (-20, 1_000_000_000_000, [])
    assert users.get(database, alice)["quota"] == 1_000_000_000_000  # type: ignore[index]
    assert users.set_quota(database, 999, 5) is None


def test_soft_delete_frees_the_username(database: Database) -> None:
    alice = users.insert(database, _user("alice", access_token="t" * 32), [_token("a")])

    assert users.soft_delete(database, alice, "deleted_0f3c") == 1
    row = users.get(database, alice)
    assert row is not None
    assert row["status"] == users.STATUS_DELETED and row["username"] == "deleted_0f3c"
    assert row["access_token"] is None
    assert not users.username_taken(database, "alice")
    assert users.insert(database, _user("alice"), []) != alice
    assert tokens.count_for_user(database, alice) == 1  # rows stay; the relay checks the owner
    assert users.count(database) == 2


def test_set_unique_refuses_a_value_someone_has(database: Database) -> None:
    alice = users.insert(database, _user("alice"), [])
    bob = users.insert(database, _user("bob"), [])

    assert users.set_unique(database, alice, "access_token", "a" * 32) is True
    assert users.set_unique(database, bob, "access_token", "a" * 32) is False
    assert users.set_unique(database, bob, "aff_code", "BOBB") is True
    assert users.set_unique(database, alice, "aff_code", "BOBB") is False
    assert users.set_unique(database, 999, "aff_code", "NONE") is False
    assert users.get(database, bob)["access_token"] is None  # type: ignore[index]
    assert users.find_by_access_token(database, "a" * 32)["id"] == alice  # type: ignore[index]


def test_outside_accounts_emails_and_resets(database: Database) -> None:
    """The login methods' queries: accounts bound by outside id, e-mail addresses compared without case, binding
    refused when another user holds the id or (live) address, resets by address."""
    a = users.insert(database, _user("alice", email="Alice@Example.com", github_id="octo"), [])
    b = users.insert(database, _user("bob"), [])
    assert users.max_id(database) == b
    found = users.find_by_identity(database, "github_id", "octo")
    assert found is not None and found["id"] == a
    assert users.find_by_identity(database, "github_id", "OCTO") is None
    assert users.find_by_identity(database, "wechat_id", "") is None  # the empty default names nobody

    assert users.email_taken(database, "alice@example.COM") and not users.email_taken(database, "x@example.com")
    assert not users.email_taken(database, "alice@example.com", except_id=a)
    assert users.bind_identity(database, b, "github_id", "octo") is False
    assert users.bind_identity(database, b, "email", "ALICE@example.com") is False
    assert users.bind_identity(database, b, "wechat_id", "wx-1") is True
    assert users.bind_identity(database, b, "email", "bob@example.com") is True
    assert users.get(database, b)["wechat_id"] == "wx-1"  # type: ignore[index]
    assert users.ids_with_email(database, "BOB@example.com") == [b]

    assert users.set_password_by_email(database, "alice@EXAMPLE.com", "$2a$10$new") == 1
    assert users.get(database, a)["password"] == "$2a$10$new"  # type: ignore[index]
    users.soft_delete(database, a, "deleted_x")
    assert users.set_password_by_email(database, "alice@example.com", "$2a$10$newer") == 0  # deleted: no reset
    assert not users.email_taken(database, "alice@example.com")  # a deleted account frees its address
    assert users.bind_identity(database, b, "email", "alice@example.com") is True
    found = users.find_by_identity(database, "github_id", "octo")  # ... but its GitHub stays bound, as One API
    assert found is not None and found["status"] == users.STATUS_DELETED
