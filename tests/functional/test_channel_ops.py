"""Channel tests and balance queries over /api (SPEC 4.4, 4.5), against the fake upstream."""

from __future__ import annotations

import json

from aiohttp import ClientSession, web

from oneapi.store.queries import channels as channel_q
from oneapi.store.queries import logs as log_q
from tests.functional.app_server import AppTestServer
from tests.functional.relay_env import ROOT_ACCESS, RelayEnv

AUTH = {"Authorization": ROOT_ACCESS}


async def get(env: RelayEnv, path: str) -> dict:
    async with ClientSession() as session, session.get(env.base_url + path, headers=AUTH) as resp:
        assert resp.status == 200
        return json.loads(await resp.read())


async def test_single_channel_test_records_time_and_log(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    channel_id = await relay_env.add_channel(url, models="gpt-4o-mini")
    result = await get(relay_env, f"/api/channel/test/{channel_id}")
    assert result["success"] is True and result["modelName"] == "gpt-4o-mini"  # not listed: first model
    assert result["message"].startswith("echo: Output only your specific model name")
    assert isinstance(result["time"], float)
    assert fake.requests[-1].json()["messages"][0]["content"].startswith("Output only")
    row = await relay_env.services.store.read(channel_q.get, channel_id)
    assert row is not None and row["test_time"] > 0
    logs = await relay_env.services.store.read(log_q.list_page, log_q.LogFilter(log_type=log_q.TYPE_TEST), 0, 10)
    assert len(logs) == 1 and "测试成功" in logs[0]["content"]
    assert await relay_env.consume_logs() == []  # tests are not billed


async def test_failed_test_reports_the_upstream_error(relay_env: RelayEnv) -> None:
    _fake, url = await relay_env.fake(keys={"right"})
    channel_id = await relay_env.add_channel(url, key="wrong")
    result = await get(relay_env, f"/api/channel/test/{channel_id}?model=gpt-4o")
    assert result["success"] is False and result["modelName"] == "gpt-4o"
    assert "api key" in result["message"].lower()
    unknown = await get(relay_env, "/api/channel/test/999")
    assert unknown["success"] is False and "does not exist" in unknown["message"]


async def test_batch_test_disables_broken_and_reenables_fixed(relay_env: RelayEnv) -> None:
    _fake, url = await relay_env.fake(keys={"good"})
    broken = await relay_env.add_channel(url, key="bad", name="broken")
    healthy = await relay_env.add_channel(url, key="good", name="healthy")
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    await relay_env.set_option("AutomaticEnableChannelEnabled", "true")
    started = await get(relay_env, "/api/channel/test")
    assert started["success"] is True
    await relay_env.services.channels.wait_batch()
    rows = {r["id"]: r for r in await relay_env.services.store.read(channel_q.list_all)}
    assert rows[broken]["status"] == channel_q.STATUS_AUTO_DISABLED
    assert rows[healthy]["status"] == channel_q.STATUS_ENABLED
    assert relay_env.relay.routes.channel(broken).status == channel_q.STATUS_AUTO_DISABLED  # routing followed

    await relay_env.services.channels.update({"id": broken, "key": "good"})
    await get(relay_env, "/api/channel/test?scope=disabled")
    await relay_env.services.channels.wait_batch()
    row = await relay_env.services.store.read(channel_q.get, broken)
    assert row is not None and row["status"] == channel_q.STATUS_ENABLED
    bad_scope = await get(relay_env, "/api/channel/test?scope=some")
    assert bad_scope["success"] is False


async def test_balance_of_an_openai_channel(relay_env: RelayEnv) -> None:
    seen: list[str] = []

    async def subscription(request: web.Request) -> web.Response:
        seen.append(request.headers["Authorization"])
        return web.json_response({"hard_limit_usd": 120.0, "has_payment_method": True})

    async def usage(request: web.Request) -> web.Response:
        assert request.query["start_date"] and request.query["end_date"]
        return web.json_response({"total_usage": 2550})  # cents

    app = web.Application()
    app.router.add_get("/v1/dashboard/billing/subscription", subscription)
    app.router.add_get("/v1/dashboard/billing/usage", usage)

    server = AppTestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        channel_id = await relay_env.add_channel(f"http://127.0.0.1:{server.port}", key="sk-upstream")
        result = await get(relay_env, f"/api/channel/update_balance/{channel_id}")
        assert result == {"success": True, "message": "", "balance": 120.0 - 25.5}
        assert seen == ["Bearer sk-upstream"]
        row = await relay_env.services.store.read(channel_q.get, channel_id)
        assert row is not None and row["balance"] == 94.5 and row["balance_updated_time"] > 0
    finally:
        await server.close()
    azure = await relay_env.add_channel("http://127.0.0.1:9", type=3)
    refused = await get(relay_env, f"/api/channel/update_balance/{azure}")
    assert refused["success"] is False and "尚未实现" in refused["message"]
