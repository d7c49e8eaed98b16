"""End to end with the official openai SDK: chat non-stream and stream through oneapi to a fake upstream."""

from __future__ import annotations

from pathlib import Path

from tests.functional.app_server import AppTestServer
from tests.functional.relay_env import RelayEnv


async def test_chat_non_stream_and_stream_are_billed(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url)
    client = relay_env.client()
    before = await relay_env.user_row()

    answer = await client.chat.completions.create(model="gpt-4o-mini",
                                                  messages=[{"role": "user", "content": "hello there"}])
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.usage is not None and answer.usage.prompt_tokens == 5

    stream = await client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                  messages=[{"role": "user", "content": "count one two"}])
    text, chunks_with_usage = "", 0
    async for chunk in stream:
        if chunk.usage is not None:
            chunks_with_usage += 1
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    assert text == "echo: count one two"
    assert chunks_with_usage == 0  # we asked the upstream for usage; the client did not, so it is dropped
    assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}

    logs = await relay_env.consume_logs()
    assert len(logs) == 2 and {log["is_stream"] for log in logs} == {True, False}
    after = await relay_env.user_row()
    charged = sum(log["quota"] for log in logs)
    assert charged > 0
    assert before["quota"] - after["quota"] == charged
    assert after["used_quota"] - before["used_quota"] == charged
    assert after["request_count"] - before["request_count"] == 2


async def test_theme_env_sets_the_theme_default_and_slaves_redirect_the_page(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient

    from oneapi.config import load
    from oneapi.server import make_app
    from oneapi.services import start_services
    from oneapi.store.facade import Store
    from oneapi.store.migrations import migrate_database
    from tests.conftest import open_backend

    db = open_backend("sqlite", tmp_path)
    migrate_database(db)
    store = Store(db)
    config = load(None, {"THEME": "air", "NODE_TYPE": "slave", "FRONTEND_BASE_URL": "https://front.example.com",
                         "ONEAPI_HOME": str(tmp_path)})
    services = await start_services(config, store)
    client = TestClient(AppTestServer(make_app(services, config, secret="s")))
    await client.start_server()
    try:
        assert services.options.get("Theme") == "air"
        page = await client.get("/token?q=ci", allow_redirects=False)  # One API: 301, path and query kept
        assert page.status == 301 and page.headers["Location"] == "https://front.example.com/token?q=ci"
    finally:
        await client.close()
        await services.close()
        await store.close()
