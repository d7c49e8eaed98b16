"""oneapi.store.queries.channels on every backend: the abilities index always agrees with the channels."""

from __future__ import annotations

from typing import Any

import pytest

from oneapi.store.database import Database
from oneapi.store.queries import channels
from oneapi.store.queries.channels import (
    STATUS_AUTO_DISABLED,
    STATUS_ENABLED,
    STATUS_MANUALLY_DISABLED,
    STATUS_UNKNOWN,
    split_list,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("gpt-4,gpt-3.5-turbo", ["gpt-4", "gpt-3.5-turbo"]),
    (" gpt-4 , gpt-4o ,, gpt-4 ,", ["gpt-4", "gpt-4o"]),
    ("", []),
    (None, []),
    (" , ,", []),
    ("default", ["default"]),
])
def test_split_list(text: str | None, expected: list[str]) -> None:
    assert split_list(text) == expected


def _channel(name: str, models: str = "gpt-4", group: str = "default", **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": 1, "key": f"sk-{name}", "models": models, "group": group, **fields}


def _abilities(db: Database, channel_id: int | None = None) -> set[tuple[str, str, int, bool, int]]:
    return {(a["group"], a["model"], a["channel_id"], a["enabled"], a["priority"])
            for a in channels.abilities(db) if channel_id is None or a["channel_id"] == channel_id}


def test_insert_many_builds_abilities_for_every_group_and_model(database: Database) -> None:
    c1, c2, c3 = channels.insert_many(database, [
        _channel("a", "gpt-4, gpt-4o", "default,vip", priority=3),
        _channel("b", "claude-3", "vip", status=STATUS_MANUALLY_DISABLED),
        _channel("c", "", "default"),  # no models: no abilities
    ])
    assert c1 < c2 < c3
    assert _abilities(database) == {
        ("default", "gpt-4", c1, True, 3), ("default", "gpt-4o", c1, True, 3),
        ("vip", "gpt-4", c1, True, 3), ("vip", "gpt-4o", c1, True, 3),
        ("vip", "claude-3", c2, False, 0),
    }
    row = channels.get(database, c1)
    assert row is not None and row["key"] == "sk-a" and row["priority"] == 3 and row["models"] == "gpt-4, gpt-4o"
    assert channels.insert_many(database, []) == []


def test_update_rebuilds_abilities(database: Database) -> None:
    (cid,) = channels.insert_many(database, [_channel("a", "gpt-4,gpt-4o", "default")])

    assert channels.update(database, cid, {"models": "gpt-4o,o1", "group": "vip", "priority": 7}) == 1
    assert _abilities(database) == {("vip", "gpt-4o", cid, True, 7), ("vip", "o1", cid, True, 7)}
    assert channels.update(database, cid, {"status": STATUS_AUTO_DISABLED}) == 1
    assert _abilities(database) == {("vip", "gpt-4o", cid, False, 7), ("vip", "o1", cid, False, 7)}
    # a same-value update is still found (and rebuilds) on MySQL, which would otherwise report 0 rows
    assert channels.update(database, cid, {"priority": 7}) == 1

    assert channels.update(database, 999, {"models": "x"}) == 0
    assert _abilities(database, 999) == set()


def test_update_without_fields_resyncs_abilities(database: Database) -> None:
    (cid,) = channels.insert_many(database, [_channel("a", "gpt-4", "default")])
    database.tables.ability.delete().execute()  # drifted, e.g. by an old One API node

    assert channels.update(database, cid, {}) == 0
    assert _abilities(database) == {("default", "gpt-4", cid, True, 0)}


def test_set_status_flips_abilities(database: Database) -> None:
    c1, c2 = channels.insert_many(database, [_channel("a", "gpt-4,o1", "default"), _channel("b", "gpt-4")])

    assert channels.set_status(database, c1, STATUS_AUTO_DISABLED) == 1
    assert {a[3] for a in _abilities(database, c1)} == {False}
    assert {a[3] for a in _abilities(database, c2)} == {True}
    assert channels.get(database, c1)["status"] == STATUS_AUTO_DISABLED  # type: ignore[index]
    assert channels.group_models(database, "default") == ["gpt-4"]

    assert channels.set_status(database, c1, STATUS_ENABLED) == 1
    assert {a[3] for a in _abilities(database, c1)} == {True}
    assert channels.group_models(database, "default") == ["gpt-4", "o1"]
    assert channels.set_status(database, c1, STATUS_ENABLED) == 1  # unchanged, still found
    assert channels.set_status(database, 999, STATUS_ENABLED) == 0


def test_delete_removes_channel_and_abilities(database: Database) -> None:
    c1, c2 = channels.insert_many(database, [_channel("a", "gpt-4,o1"), _channel("b", "gpt-4")])

    assert channels.delete(database, c1) == 1
    assert channels.get(database, c1) is None
    assert _abilities(database) == {("default", "gpt-4", c2, True, 0)}
    assert channels.delete(database, c1) == 0


def test_delete_disabled(database: Database) -> None:
    ids = channels.insert_many(database, [
        _channel("enabled", "m1", status=STATUS_ENABLED),
        _channel("manual", "m2", status=STATUS_MANUALLY_DISABLED),
        _channel("auto", "m3", status=STATUS_AUTO_DISABLED),
        _channel("unknown", "m4", status=STATUS_UNKNOWN),
    ])

    assert channels.delete_disabled(database) == 2
    assert [c["id"] for c in channels.list_all(database)] == [ids[0], ids[3]]
    assert {a[1] for a in _abilities(database)} == {"m1", "m4"}
    assert channels.delete_disabled(database) == 0


def test_group_models_lists_enabled_models_once(database: Database) -> None:
    channels.insert_many(database, [
        _channel("a", "gpt-4,gpt-4o", "default,vip"),
        _channel("b", "gpt-4,claude-3", "default"),
        _channel("c", "secret-model", "default", status=STATUS_MANUALLY_DISABLED),
        _channel("d", "o1", "vip"),
        _channel("e", "unknown-status", "default", status=STATUS_UNKNOWN),
    ])
    assert channels.group_models(database, "default") == ["claude-3", "gpt-4", "gpt-4o"]
    assert channels.group_models(database, "vip") == ["gpt-4", "gpt-4o", "o1"]
    assert channels.group_models(database, "nobody") == []


def test_list_page_by_priority_then_newest(database: Database) -> None:
    ids = channels.insert_many(database, [_channel("a", priority=0), _channel("b", priority=10),
                                          _channel("c", priority=0), _channel("d", priority=-1)])
    assert [c["id"] for c in channels.list_page(database, 0, 10)] == [ids[1], ids[2], ids[0], ids[3]]
    assert [c["id"] for c in channels.list_page(database, 1, 2)] == [ids[2], ids[0]]
    assert [c["id"] for c in channels.list_all(database)] == ids


def test_search_by_name_prefix_or_id(database: Database) -> None:
    ids = channels.insert_many(database, [_channel("azure-east"), _channel("azure_west"),
                                          _channel("openai"), _channel("my-azure")])
    assert [c["id"] for c in channels.search(database, "azure", 10)] == [ids[1], ids[0]]
    assert [c["id"] for c in channels.search(database, "azure_", 10)] == [ids[1]]
    assert [c["id"] for c in channels.search(database, str(ids[2]), 10)] == [ids[2]]
    assert channels.search(database, "zzz", 10) == []


def test_names_of_the_given_channels(database: Database) -> None:
    ids = channels.insert_many(database, [_channel("openai-main"), _channel("claude"), _channel("spare")])
    assert channels.names(database, [ids[1], ids[0], 99_999]) == {ids[0]: "openai-main", ids[1]: "claude"}
    assert channels.names(database, []) == {}
