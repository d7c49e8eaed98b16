from __future__ import annotations

from tests.functional.conftest import Api


async def test_status_and_root_login(api: Api) -> None:
    status = await api.ok("GET", "/api/status", token="")
    assert status["system_name"] == "One API"
    assert status["quota_per_unit"] == 500000
    resp = await api.client.post("/api/user/login", json={"username": "root", "password": "123456"})
    body = await resp.json()
    assert body["success"] is True and body["data"]["role"] == 100
    assert "session" in resp.cookies
    me = await (await api.client.get("/api/user/self")).json()
    assert me["data"]["username"] == "root" and "password" not in me["data"]
