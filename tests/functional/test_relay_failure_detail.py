"""A network failure toward an upstream: the client reads the channel and a stable word, the operator reads
the address and the exception (server log, live events), and a dead channel does not flood the log."""

from __future__ import annotations

import logging

import openai
import pytest

from tests.functional.relay_env import ROOT_KEY, RelayEnv
from tests.functional.server_process import free_port

HELLO = [{"role": "user", "content": "hello"}]


async def test_the_client_gets_a_word_and_the_operator_the_address(relay_env: RelayEnv,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there
    channel_id = await relay_env.add_channel(f"http://127.0.0.1:{port}", key="upstream-key-of-the-dead-channel")
    events = relay_env.services.events.subscribe()
    client = relay_env.client(f"sk-{ROOT_KEY}-{channel_id}")
    caplog.set_level(logging.WARNING, logger="oneapi.relay")
    for _ in range(5):
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert caught.value.code == "do_request_failed"
        message = caught.value.body["message"]  # type: ignore[index]
        assert message.startswith(f"upstream request failed on channel #{channel_id}: connection_refused "
                                  "(request id: ")
        assert str(port) not in str(caught.value.body)

    published = []
    while not events.queue.empty():
        published.append(await events.next())
    errors = [e for e in published if e.get("kind") == "relay_error"]
    assert len(errors) == 5 and all(f"127.0.0.1:{port}" in e["detail"] for e in errors)
    assert all(e["detail"].startswith(f"channel #{channel_id}: upstream request failed: ClientConnector")
               for e in errors)

    reports = [r.getMessage() for r in caplog.records if f"127.0.0.1:{port}" in r.getMessage()]
    assert len(reports) == 1  # one line per channel per 10 s: a dead upstream fails every call
