"""A hung upstream is abandoned: RELAY_CONNECT_TIMEOUT, RELAY_FIRST_BYTE_TIMEOUT and RELAY_IDLE_TIMEOUT each
bound their part of an upstream call (with RELAY_TIMEOUT at its default 0), the client gets an OpenAI-shaped error
in seconds, and the reservation comes back: the balances in the database are what they were. RELAY_TIMEOUT bounds
the whole exchange, a stream included, as One API's does.

The hung upstreams are real loopback servers: one that reads the request and never answers, one that starts an
answer and stops, and a listener whose accept queue is full (the kernel drops further SYNs, so connecting hangs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import openai
import pytest

from tests.fakes.spark_upstream import FakeSpark, start_spark
from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env

MINI = "gpt-4o-mini"
USER = [{"role": "user", "content": "tell me something"}]
Behaviour = Literal["silent", "stall_after_head", "stall_mid_body"]


class HungUpstream:
    """An upstream that hangs in a chosen way; counts the requests it read."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self._held: list[asyncio.StreamWriter] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._held.append(writer)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = json.loads(await reader.readexactly(length)) if length else {}
        self.requests += 1
        if self.behaviour == "stall_after_head" and body.get("stream"):
            chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MINI,
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello there"},
                                  "finish_reason": None}]}
            event = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + b"%x\r\n%s\r\n" % (len(event), event))
        elif self.behaviour in ("stall_after_head", "stall_mid_body"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
                         b'{"id": "c1", "object": "chat.completion", ')
        await writer.drain()
        await asyncio.Event().wait()  # hang until the relay gives up (or the test ends)

    def close(self) -> None:
        for writer in self._held:
            writer.close()


@contextlib.asynccontextmanager
async def hung_upstream(behaviour: Behaviour) -> AsyncIterator[tuple[HungUpstream, str]]:
    fake = HungUpstream(behaviour)
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    try:
        yield fake, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        fake.close()
        server.close()


@contextlib.contextmanager
def full_listener() -> Any:
    """A port whose accept queue is full: the kernel drops new SYNs, so a connection attempt hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))  # takes the one queue slot; never accepted
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        filler.close()
        listener.close()


async def env_with(tmp_path: Path, **settings: str) -> AsyncIterator[RelayEnv]:
    async for env in start_relay_env(sqlite_db(tmp_path), relay_config(**settings)):
        yield env


@pytest.fixture
async def quick_env(tmp_path: Path) -> AsyncIterator[RelayEnv]:
    """Every upstream bound at one second; RELAY_TIMEOUT left at its default (0: no bound on the whole)."""
    async for env in env_with(tmp_path, RELAY_CONNECT_TIMEOUT="1", RELAY_FIRST_BYTE_TIMEOUT="1",
                              RELAY_IDLE_TIMEOUT="1"):
        yield env


async def balances(env: RelayEnv, key: str) -> dict[str, int]:
    """Read from the database (after the write-behind flush), not from the live ledger."""
    user, token = await env.user_row(), await env.token_row(key)
    return {"quota": user["quota"], "used_quota": user["used_quota"], "request_count": user["request_count"],
            "remain_quota": token["remain_quota"], "token_used": token["used_quota"]}


async def read_stream(stream: Any) -> tuple[str, str | None]:
    """The text delivered and the error that ended the stream (None: it ended normally)."""
    text = ""
    try:
        async for chunk in stream:
            text += "".join(c.delta.content or "" for c in chunk.choices)
    except openai.APIError as exc:
        return text, exc.message
    return text, None


def test_every_upstream_bound_has_a_non_zero_default() -> None:
    config = relay_config()
    assert config.relay_timeout == 0  # One API's default: no bound on the whole exchange
    assert config.relay_connect_timeout > 0 and config.relay_first_byte_timeout > 0 and config.relay_idle_timeout > 0


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_that_never_answers_is_abandoned_and_the_reservation_refunded(
        quick_env: RelayEnv, stream: bool) -> None:
    async with hung_upstream("silent") as (fake, url):
        await quick_env.add_channel(url)
        key = await quick_env.new_token(name="hung", remain_quota=500_000)
        before = await balances(quick_env, key)
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as caught:
            reply = await quick_env.client(key, timeout=15).chat.completions.create(model=MINI, messages=USER,
                                                                                     stream=stream)
            await read_stream(reply)
        elapsed = time.monotonic() - started
        assert fake.requests == 1
        assert 0.9 <= elapsed < 4, elapsed  # RELAY_FIRST_BYTE_TIMEOUT=1
        assert caught.value.status_code == 500 and caught.value.code == "do_request_failed"
        assert await balances(quick_env, key) == before
        assert await quick_env.consume_logs() == []


async def test_an_upstream_that_stops_mid_answer_is_abandoned_and_refunded(quick_env: RelayEnv) -> None:
    async with hung_upstream("stall_mid_body") as (fake, url):
        await quick_env.add_channel(url)
        key = await quick_env.new_token(name="half", remain_quota=500_000)
        before = await balances(quick_env, key)
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as caught:
            await quick_env.client(key, timeout=15).chat.completions.create(model=MINI, messages=USER)
        assert time.monotonic() - started < 4  # RELAY_IDLE_TIMEOUT=1 once the headers came
        assert fake.requests == 1
        assert caught.value.status_code == 500 and caught.value.code == "do_request_failed"
        assert await balances(quick_env, key) == before


async def test_a_stream_that_falls_silent_ends_after_the_idle_timeout_billed_for_what_came(
        quick_env: RelayEnv) -> None:
    async with hung_upstream("stall_after_head") as (fake, url):
        await quick_env.add_channel(url)
        key = await quick_env.new_token(name="silent-stream", remain_quota=500_000)
        before = await balances(quick_env, key)
        started = time.monotonic()
        reply = await quick_env.client(key, timeout=15).chat.completions.create(model=MINI, messages=USER,
                                                                                 stream=True)
        text, error = await read_stream(reply)
        assert time.monotonic() - started < 4
        assert fake.requests == 1
        assert text == "Hello there" and error is not None and "broke" in error
        (log,) = await quick_env.consume_logs()  # what was delivered is billed, the rest of the hold refunded
        after = await balances(quick_env, key)
        assert log["completion_tokens"] == 2 and log["quota"] > 0
        assert before["remain_quota"] - after["remain_quota"] == log["quota"]
        assert before["quota"] - after["quota"] == log["quota"]


async def test_an_upstream_that_cannot_be_reached_is_abandoned_after_the_connect_timeout(
        quick_env: RelayEnv) -> None:
    with full_listener() as url:
        await quick_env.add_channel(url)
        key = await quick_env.new_token(name="unreachable", remain_quota=500_000)
        before = await balances(quick_env, key)
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as caught:
            await quick_env.client(key, timeout=15).chat.completions.create(model=MINI, messages=USER)
        assert 0.9 <= time.monotonic() - started < 4  # RELAY_CONNECT_TIMEOUT=1
        assert caught.value.code == "do_request_failed"
        assert await balances(quick_env, key) == before


async def test_relay_timeout_bounds_a_whole_stream(tmp_path: Path) -> None:
    """One API's RELAY_TIMEOUT: the whole exchange, so a stream still flowing is cut at the bound."""
    async for env in env_with(tmp_path, RELAY_TIMEOUT="2"):
        fake, url = await env.fake()
        fake.stream_chunks, fake.chunk_delay = 20, 0.3  # 6 s of steady streaming, never silent for long
        fake.reply_text(" ".join(f"word{i}" for i in range(20)))
        await env.add_channel(url)
        started = time.monotonic()
        reply = await env.client(timeout=15).chat.completions.create(model=MINI, messages=USER, stream=True)
        text, error = await read_stream(reply)
        assert 1.5 <= time.monotonic() - started < 4.5
        assert error is not None and text.startswith("word0") and "word19" not in text


async def test_a_long_stream_is_not_cut_by_the_first_byte_or_idle_bound(quick_env: RelayEnv) -> None:
    fake, url = await quick_env.fake()
    fake.stream_chunks, fake.chunk_delay = 12, 0.3  # 3.3 s in all, more than every bound of quick_env
    answer = " ".join(f"word{i}" for i in range(12))
    fake.reply_text(answer)
    await quick_env.add_channel(url)
    reply = await quick_env.client(timeout=15).chat.completions.create(model=MINI, messages=USER, stream=True)
    text, error = await read_stream(reply)
    assert error is None and text == answer


async def test_a_websocket_upstream_that_falls_silent_is_abandoned_after_the_idle_timeout(
        quick_env: RelayEnv) -> None:
    """Spark answers over a websocket: the same idle bound between two frames, and the reservation comes back."""
    fake = FakeSpark()
    url, stop = await start_spark(fake)
    quick_env.stops.append(stop)
    await quick_env.add_channel(url, type=18, key=fake.channel_key, models="Spark-Max")
    key = await quick_env.new_token(name="spark", remain_quota=500_000)
    before = await balances(quick_env, key)
    fake.stall_after(1)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        await quick_env.client(key, timeout=15).chat.completions.create(model="Spark-Max", messages=USER)
    assert time.monotonic() - started < 4 and caught.value.code == "do_request_failed"
    assert await balances(quick_env, key) == before

    fake.pieces, fake.frame_delay = 5, 0.6  # 2.4 s in all, never silent for the idle bound
    answer = await quick_env.client(key, timeout=15).chat.completions.create(model="Spark-Max", messages=USER)
    assert answer.choices[0].message.content
