"""``/api/channel`` (admins): upstream channels, their write-only keys and the abilities index (SPEC 2.2, 3)."""

from __future__ import annotations

import json
from typing import Any

from oneapi.store.database import Database
from tests.functional.conftest import Api

SECRET = "sk-upstream-secret-0123456789"


def _channel(**fields: Any) -> dict[str, Any]:
    return {"type": 1, "name": "main", "key": SECRET, "models": "gpt-4o,gpt-4o-mini", "group": "default",
            **fields}


async def _create(api: Api, **fields: Any) -> int:
    ids = await api.ok("POST", "/api/channel/", json=_channel(**fields))
    assert isinstance(ids, list) and len(ids) == 1
    return int(ids[0])


def _raw(db: Database, channel_id: int) -> dict[str, Any] | None:
    t = db.tables.channel
    rows = list(t.select().where(t.id == channel_id).dicts())
    return rows[0] if rows else None


def _abilities(db: Database) -> list[tuple[str, str, int, bool, int]]:
    a = db.tables.ability
    return sorted((r["group"], r["model"], r["channel_id"], bool(r["enabled"]), r["priority"] or 0)
                  for r in a.select().dicts())


def _count(db: Database) -> int:
    return int(db.tables.channel.select().count())


async def _text(api: Api, method: str, path: str, json_body: Any = None) -> str:
    resp = await api.client.request(method, path, json=json_body, headers={"Authorization": api.root_token})
    assert resp.status == 200
    text = await resp.text()
    assert json.loads(text)["success"] is True, text
    return text


async def test_crud_on_every_backend(api_any: Api) -> None:
    api = api_any
    _, ut = await api.make_user("alice")
    assert await api.ok("GET", "/api/user/available_models", ut) == []
    cid = await _create(api, name="primary", priority=5, weight=3)
    raw = await api.services.store.read(_raw, cid)
    assert raw["key"] == SECRET and raw["priority"] == 5 and raw["status"] == 1
    assert await api.ok("GET", "/api/user/available_models", ut) == ["gpt-4o", "gpt-4o-mini"]

    got = await api.ok("GET", f"/api/channel/{cid}")
    assert got["name"] == "primary" and got["key"] == ""  # One API's shape: the key field, always empty
    await api.ok("PUT", "/api/channel/", json={"id": cid, "models": "claude-3-haiku", "key": ""})
    assert await api.ok("GET", "/api/user/available_models", ut) == ["claude-3-haiku"]
    assert (await api.services.store.read(_raw, cid))["key"] == SECRET
    await api.ok("PUT", "/api/channel/", json={"id": cid, "status": 2})
    assert await api.ok("GET", "/api/user/available_models", ut) == []
    assert await api.ok("DELETE", "/api/channel/disabled") == 1
    assert await api.services.store.read(_raw, cid) is None
    assert await api.services.store.read(_abilities) == []


async def test_create_with_all_fields(api: Api) -> None:
    mapping = json.dumps({"gpt-4": "gpt-4o"})
    config = json.dumps({"region": "eastus", "api_version": "2024-06-01"})
    cid = await _create(api, type=3, name="azure", base_url="https://example.openai.azure.com/", other="2024-02-01",
                        models="gpt-4o, gpt-4 ,gpt-4o", group="default,vip", model_mapping=mapping, config=config,
                        system_prompt="  be brief  ", priority=-3, weight=7, status=1)
    raw = await api.services.store.read(_raw, cid)
    assert raw["type"] == 3 and raw["name"] == "azure" and raw["key"] == SECRET
    assert raw["base_url"] == "https://example.openai.azure.com"  # trailing slash dropped
    assert raw["other"] == "2024-02-01" and raw["models"] == "gpt-4o,gpt-4" and raw["group"] == "default,vip"
    assert json.loads(raw["model_mapping"]) == {"gpt-4": "gpt-4o"}
    assert json.loads(raw["config"]) == {"region": "eastus", "api_version": "2024-06-01"}
    assert raw["system_prompt"] == "  be brief  " and raw["priority"] == -3 and raw["weight"] == 7
    assert raw["created_time"] > 0
    got = await api.ok("GET", f"/api/channel/{cid}")
    assert {**raw, "key": ""} == got
    assert await api.services.store.read(_abilities) == [
        ("default", "gpt-4", cid, True, -3), ("default", "gpt-4o", cid, True, -3),
        ("vip", "gpt-4", cid, True, -3), ("vip", "gpt-4o", cid, True, -3)]


async def test_key_never_returned(api: Api) -> None:
    cid = await _create(api, name="hidden")
    for path in ("/api/channel/", "/api/channel/?p=0", "/api/channel/search?keyword=hid",
                 f"/api/channel/search?keyword={cid}", f"/api/channel/{cid}"):
        text = await _text(api, "GET", path)
        assert SECRET not in text and ('"key"' not in text if path != f"/api/channel/{cid}" else '"key": ""' in text), \
            path
        assert "hidden" in text
    text = await _text(api, "PUT", "/api/channel/", {"id": cid, "name": "renamed"})
    assert SECRET not in text and '"key"' not in text and "renamed" in text
    new_key = "sk-brand-new-key-987654321"
    text = await _text(api, "PUT", "/api/channel/", {"id": cid, "key": new_key})
    assert new_key not in text and '"key"' not in text
    text = await _text(api, "POST", "/api/channel/", _channel(key="sk-k1\nsk-k2"))
    assert "sk-k1" not in text and "sk-k2" not in text


async def test_bulk_create_from_lines(api: Api) -> None:
    ids = await api.ok("POST", "/api/channel/", json=_channel(name="bulk", key="k-one\n  k-two  \n\n k-three\n"))
    assert isinstance(ids, list) and len(ids) == 3 and len(set(ids)) == 3
    keys = [(await api.services.store.read(_raw, i))["key"] for i in ids]
    assert keys == ["k-one", "k-two", "k-three"]
    for i in ids:
        got = await api.ok("GET", f"/api/channel/{i}")
        assert got["name"] == "bulk" and got["models"] == "gpt-4o,gpt-4o-mini"
    abilities = await api.services.store.read(_abilities)
    assert len(abilities) == 6 and {a[2] for a in abilities} == set(ids)


async def test_abilities_follow_every_change(api: Api) -> None:
    _, ut = await api.make_user("alice")

    async def models() -> list[str]:
        return await api.ok("GET", "/api/user/available_models", ut)  # type: ignore[no-any-return]

    assert await models() == []
    a = await _create(api, models="gpt-4o")
    b = await _create(api, models="gpt-4o-mini,o1", group="vip")
    assert await models() == ["gpt-4o"]

    await api.ok("PUT", "/api/channel/", json={"id": b, "group": "vip,default"})
    assert await models() == ["gpt-4o", "gpt-4o-mini", "o1"]
    await api.ok("PUT", "/api/channel/", json={"id": a, "models": "claude-3-opus"})
    assert await models() == ["claude-3-opus", "gpt-4o-mini", "o1"]
    await api.ok("PUT", "/api/channel/", json={"id": a, "priority": 9})
    assert {r[4] for r in await api.services.store.read(_abilities) if r[2] == a} == {9}

    await api.ok("PUT", "/api/channel/", json={"id": b, "status": 2})
    assert await models() == ["claude-3-opus"]
    assert all(not r[3] for r in await api.services.store.read(_abilities) if r[2] == b)
    await api.ok("PUT", "/api/channel/", json={"id": b, "status": 1})
    assert await models() == ["claude-3-opus", "gpt-4o-mini", "o1"]

    await api.ok("PUT", "/api/channel/", json={"id": a, "group": "other"})
    assert await models() == ["gpt-4o-mini", "o1"]
    await api.ok("DELETE", f"/api/channel/{b}")
    assert await models() == []
    assert {r[2] for r in await api.services.store.read(_abilities)} == {a}


async def test_created_disabled_serves_nothing(api: Api) -> None:
    _, ut = await api.make_user("alice")
    cid = await _create(api, status=2, models="gpt-4o")
    assert await api.ok("GET", "/api/user/available_models", ut) == []
    assert await api.services.store.read(_abilities) == [("default", "gpt-4o", cid, False, 0)]
    await api.ok("PUT", "/api/channel/", json={"id": cid, "status": 1})
    assert await api.ok("GET", "/api/user/available_models", ut) == ["gpt-4o"]


async def test_change_listeners_hear_every_change(api: Api) -> None:
    """Routing tables follow channels through ``Channels.on_change``: every successful change is announced."""
    heard: list[int] = []

    async def listener() -> None:
        heard.append(1)

    api.services.channels.on_change(listener)
    cid = await _create(api)
    assert len(heard) == 1
    await api.ok("PUT", "/api/channel/", json={"id": cid, "models": "o1"})
    assert len(heard) == 2
    await api.ok("PUT", "/api/channel/", json={"id": cid, "status": 2})
    assert len(heard) == 3
    await api.fail("PUT", "/api/channel/", json={"id": cid, "weight": -1}, contains="weight")
    await api.fail("POST", "/api/channel/", json=_channel(type=999), contains="type")
    assert len(heard) == 3  # refused changes change nothing
    await api.ok("DELETE", "/api/channel/disabled")
    assert len(heard) == 4
    other = await _create(api)
    await api.ok("DELETE", f"/api/channel/{other}")
    assert len(heard) == 6


async def test_list_pagination_and_search(api: Api) -> None:
    ids = [await _create(api, name=f"chan{i:02d}") for i in range(11)]
    special = await _create(api, name="x%_special")
    page0 = await api.ok("GET", "/api/channel/?p=0")
    page1 = await api.ok("GET", "/api/channel/?p=1")
    assert len(page0) == 10 and len(page1) == 2 and await api.ok("GET", "/api/channel/?p=2") == []
    assert {c["id"] for c in page0 + page1} == {*ids, special}
    await api.fail("GET", "/api/channel/?p=-1", contains="p must be")
    await api.fail("GET", "/api/channel/?p=x", contains="p must be an integer")

    found = await api.ok("GET", "/api/channel/search?keyword=chan0")
    assert sorted(c["name"] for c in found) == [f"chan{i:02d}" for i in range(10)]
    by_id = await api.ok("GET", f"/api/channel/search?keyword={ids[4]}")
    assert [c["id"] for c in by_id] == [ids[4]]
    assert await api.ok("GET", "/api/channel/search?keyword=han") == []
    assert await api.ok("GET", "/api/channel/search?keyword=%25") == []
    assert [c["id"] for c in await api.ok("GET", "/api/channel/search?keyword=x%25_")] == [special]
    assert await api.ok("GET", "/api/channel/search?keyword=424242") == []


async def test_search_odd_numeric_keywords(api: Api) -> None:
    """Digit-only keywords that are not a plain int64 (huge, or Unicode digits) are a name search, not a 500."""
    await _create(api, name="chan")
    for keyword in ("99999999999999999999999", "%C2%B2", "%D9%A1"):
        body = await api.call("GET", f"/api/channel/search?keyword={keyword}", api.root_token)
        assert body["success"] is True and body["data"] == [], (keyword, body)


async def test_models_route(api: Api) -> None:
    data = await api.call("GET", "/api/channel/models", api.root_token)  # One API's bare list, no envelope
    assert set(data) == {"object", "data"} and data["object"] == "list" and len(data["data"]) > 100
    ids = [m["id"] for m in data["data"]]
    assert len(ids) == len(set(ids)) and "gpt-4o" in ids and "gpt-3.5-turbo" in ids
    for m in data["data"]:
        assert m["object"] == "model" and m["root"] == m["id"] and m["parent"] is None
        assert isinstance(m["owned_by"], str) and m["owned_by"] and isinstance(m["created"], int)
        assert m["permission"][0]["object"] == "model_permission"


async def test_partial_update_keeps_or_replaces_key(api: Api) -> None:
    cid = await _create(api, name="orig", priority=2, weight=4, base_url="https://up.example")
    updated = await api.ok("PUT", "/api/channel/", json={"id": cid, "name": "renamed", "key": ""})
    assert updated["name"] == "renamed" and updated["priority"] == 2 and "key" not in updated
    raw = await api.services.store.read(_raw, cid)
    assert raw["key"] == SECRET and raw["name"] == "renamed" and raw["priority"] == 2 and raw["weight"] == 4
    assert raw["base_url"] == "https://up.example" and raw["models"] == "gpt-4o,gpt-4o-mini"

    await api.ok("PUT", "/api/channel/", json={"id": cid})  # nothing to change is fine
    assert (await api.services.store.read(_raw, cid))["key"] == SECRET
    await api.ok("PUT", "/api/channel/", json={"id": cid, "key": "  sk-replaced  "})
    raw = await api.services.store.read(_raw, cid)
    assert raw["key"] == "sk-replaced" and raw["name"] == "renamed"
    await api.fail("PUT", "/api/channel/", json={"id": cid, "key": "a\nb"}, contains="single key")
    assert (await api.services.store.read(_raw, cid))["key"] == "sk-replaced"


async def test_delete_disabled(api: Api) -> None:
    keep = await _create(api, name="on")
    manual = await _create(api, name="off")
    auto = await _create(api, name="auto")
    await api.ok("PUT", "/api/channel/", json={"id": manual, "status": 2})
    await api.services.channels.set_status(auto, 3)
    assert await api.ok("DELETE", "/api/channel/disabled") == 2
    assert [c["id"] for c in await api.ok("GET", "/api/channel/")] == [keep]
    assert {r[2] for r in await api.services.store.read(_abilities)} == {keep}
    assert await api.ok("DELETE", "/api/channel/disabled") == 0


async def test_delete(api: Api) -> None:
    cid = await _create(api)
    other = await _create(api, name="other")
    await api.ok("DELETE", f"/api/channel/{cid}")
    await api.fail("GET", f"/api/channel/{cid}", contains="does not exist")
    await api.fail("DELETE", f"/api/channel/{cid}", contains="does not exist")
    assert {r[2] for r in await api.services.store.read(_abilities)} == {other}


BAD_CREATE = [
    ({"type": 999}, "type 999"),
    ({"type": 0}, "type 0"),
    ({"type": "1"}, "type must be an integer"),
    ({"type": 3}, "base_url"),
    ({"type": 8}, "base_url"),
    ({"base_url": "ftp://x"}, "base_url"),
    ({"base_url": "not a url"}, "base_url"),
    ({"model_mapping": "{not json"}, "model_mapping is not valid JSON"),
    ({"model_mapping": "[1, 2]"}, "model_mapping must be a JSON object"),
    ({"model_mapping": '{"a": 1}'}, "model_mapping values must be strings"),
    ({"model_mapping": {"a": "b"}}, "model_mapping must be a string"),
    ({"config": "[]"}, "config must be a JSON object"),
    ({"config": "nope"}, "config is not valid JSON"),
    ({"group": "g" * 33}, "group must be at most 32"),
    ({"group": "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbbb"}, "group must be at most 32"),
    ({"weight": -1}, "weight"),
    ({"priority": "high"}, "priority must be an integer"),
    ({"priority": 1.5}, "priority must be an integer"),
    ({"status": 7}, "status"),
    ({"key": None}, "key is required"),
    ({"key": ""}, "key is required"),
    ({"key": " \n \n"}, "key is required"),
    ({"key": 12345}, "key must be a string"),
    ({"key": "\n".join(f"k{i}" for i in range(1001))}, "at most 1000 keys"),
    ({"key": "ok-key\n" + "x" * 65_536}, "each key must be at most"),
    ({"models": "m" * 192}, "191"),
]


async def test_create_bad_input(api: Api) -> None:
    for fields, message in BAD_CREATE:
        body = {k: v for k, v in _channel(**fields).items() if v is not None}
        try:
            await api.fail("POST", "/api/channel/", json=body, contains=message)
        except AssertionError as exc:
            raise AssertionError(f"POST {str(fields)[:200]}: {exc}") from None
    assert await api.services.store.read(_count) == 0
    assert await api.services.store.read(_abilities) == []


async def test_create_missing_type_and_bad_bodies(api: Api) -> None:
    body = _channel()
    del body["type"]
    await api.fail("POST", "/api/channel/", json=body, contains="type is required")
    await api.fail("POST", "/api/channel/", data="{", contains="not valid JSON")
    await api.fail("POST", "/api/channel/", json=["x"], contains="JSON object")
    assert await api.services.store.read(_count) == 0


async def test_bulk_of_exactly_1000_keys(api: Api) -> None:
    ids = await api.ok("POST", "/api/channel/", json=_channel(key="\n".join(f"k{i}" for i in range(1000)),
                                                              models="m1"))
    assert len(ids) == 1000 and await api.services.store.read(_count) == 1000


async def test_update_bad_input(api: Api) -> None:
    cid = await _create(api, name="orig")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x"}, "id is required"),
        ({"id": True}, "id must be an integer"),
        ({"id": "1"}, "id must be an integer"),
        ({"id": cid, "type": 999}, "type 999"),
        ({"id": cid, "type": 0}, "type 0"),
        ({"id": cid, "type": 3}, "base_url"),  # switching to Azure needs a base_url
        ({"id": cid, "base_url": "ftp://x"}, "base_url"),
        ({"id": cid, "model_mapping": "{"}, "model_mapping"),
        ({"id": cid, "model_mapping": '{"a": ["b"]}'}, "model_mapping values must be strings"),
        ({"id": cid, "config": "1"}, "config must be a JSON object"),
        ({"id": cid, "group": "g" * 33}, "group"),
        ({"id": cid, "weight": -1}, "weight"),
        ({"id": cid, "priority": "high"}, "priority"),
        ({"id": cid, "status": 0}, "status"),
        ({"id": cid, "key": 5}, "key must be a string"),
    ]
    for body, message in cases:
        await api.fail("PUT", "/api/channel/", json=body, contains=message)
    raw = await api.services.store.read(_raw, cid)
    assert (raw["name"], raw["type"], raw["status"], raw["group"], raw["key"]) == ("orig", 1, 1, "default", SECRET)
    await api.fail("PUT", "/api/channel/", json={"id": 424242, "name": "x"}, contains="does not exist")


async def test_azure_keeps_base_url_on_partial_update(api: Api) -> None:
    cid = await _create(api, type=3, base_url="https://az.example")
    await api.ok("PUT", "/api/channel/", json={"id": cid, "name": "renamed"})
    await api.fail("PUT", "/api/channel/", json={"id": cid, "base_url": ""}, contains="base_url")
    assert (await api.services.store.read(_raw, cid))["base_url"] == "https://az.example"


async def test_path_ids(api: Api) -> None:
    for path in ("/api/channel/abc", "/api/channel/-3", "/api/channel/0", "/api/channel/1e3"):
        await api.fail("GET", path, contains="id must be")
        await api.fail("DELETE", path, contains="id must be")
    await api.fail("GET", "/api/channel/424242", contains="does not exist")
    await api.fail("DELETE", "/api/channel/424242", contains="does not exist")


ROUTES = [("GET", "/api/channel/"), ("GET", "/api/channel/search?keyword=a"), ("GET", "/api/channel/models"),
          ("GET", "/api/channel/1"), ("POST", "/api/channel/"), ("PUT", "/api/channel/"),
          ("DELETE", "/api/channel/disabled"), ("DELETE", "/api/channel/1")]


async def test_admin_only(api: Api) -> None:
    cid = await _create(api, name="guarded")
    _, ut = await api.make_user("alice")
    for method, path in ROUTES:
        path = path.replace("/1", f"/{cid}")
        await api.fail(method, path, ut, json={"id": cid, "status": 2, **_channel()}, contains="权限不足")
        body = await api.call(method, path, token="", json=_channel(), expect_status=401)
        assert body["success"] is False
    raw = await api.services.store.read(_raw, cid)
    assert raw is not None and raw["status"] == 1 and raw["name"] == "guarded"
    assert await api.services.store.read(_count) == 1

    _, admin = await api.make_user("admin1", role=10)
    assert [c["id"] for c in await api.ok("GET", "/api/channel/", admin)] == [cid]
    await api.ok("PUT", "/api/channel/", admin, json={"id": cid, "name": "by-admin"})
    assert (await api.ok("GET", f"/api/channel/{cid}", admin))["name"] == "by-admin"
