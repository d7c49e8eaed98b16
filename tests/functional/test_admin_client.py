"""The admin client's typed calls, against a real admin socket; and no CLI or TUI module writes a route by hand."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from oneapi.client import AdminClient, AdminRefused

ROOT = Path(__file__).resolve().parents[2] / "oneapi"


async def test_typed_calls_create_list_search_change_and_remove_each_resource(admin_env: Any) -> None:
    async with AdminClient(admin_env.socket) as client:
        assert (await client.status())["quota_per_unit"] > 0
        [channel_id] = await client.create("channel", {"type": 1, "key": "sk-up", "name": "typed",
                                                       "base_url": "http://127.0.0.1:9", "models": "gpt-4o"})
        assert [row["id"] for row in await client.page("channel", 0)] == [channel_id]
        assert [row["name"] for row in await client.search("channel", "typed")] == ["typed"]
        await client.set_status("channel", channel_id, 2)
        await client.update("channel", {"id": channel_id, "name": "renamed"})
        [row] = await client.page("channel", 0)
        assert (row["status"], row["name"]) == (2, "renamed")
        assert any(t["id"] == 1 for t in await client.channel_types())
        assert (await client.channel_tests())["running"] is False

        token = await client.create("token", {"name": "typed-token", "unlimited_quota": True, "expired_time": -1})
        await client.set_status("token", token["id"], 2)
        assert (await client.record("token", token["id"]))["status"] == 2
        await client.remove("token", token["id"])
        assert await client.search("token", "typed-token") == []

        await client.create("user", {"username": "typed_user", "password": "password123"})
        [user] = await client.search("user", username="typed_user")
        await client.top_up(user["id"], 1234, "typed")
        assert (await client.record("user", user["id"]))["quota"] == 1234
        await client.manage_user("typed_user", "disable")
        assert (await client.record("user", user["id"]))["status"] == 2

        [key] = await client.create("redemption", {"name": "typed", "quota": 5, "count": 1})
        [voucher] = await client.page("redemption", 0)
        assert voucher["key"] == key
        await client.set_status("redemption", voucher["id"], 2)
        await client.remove("redemption", voucher["id"])
        assert await client.page("redemption", 0) == []

        await client.set_option("RetryTimes", "2")
        assert {o["key"]: o["value"] for o in await client.options()}["RetryTimes"] == "2"
        assert isinstance(await client.logs(0), list) and "quota" in await client.log_stat()
        assert isinstance(await client.stats(), dict)
        with pytest.raises(AdminRefused):  # the server's refusal, raised as the CLI shows it
            await client.record("token", 999_999)


def test_the_cli_and_the_tui_name_no_route_by_hand() -> None:
    """Every /api and /admin path lives in client.py: a renamed route is changed in one place."""
    by_hand = re.compile(r"""["'](/api/|/admin/)""")
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for folder in (ROOT / "tui", ROOT / "commands") for path in sorted(folder.rglob("*.py"))
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if by_hand.search(line) and not line.lstrip().startswith("#")]
    offenders += [f"cli.py:{n}" for n, line in enumerate((ROOT / "cli.py").read_text().splitlines(), 1)
                  if by_hand.search(line)]
    assert offenders == []
