"""The headers of /v1 answers, read through the official openai SDK: ``x-request-id`` (the SDK's
``_request_id`` / ``request_id``), the OpenAI upstream's ``openai-processing-ms``, ``openai-version`` and
``x-ratelimit-*`` passed on (never the account it names), and gzip for JSON answers a client accepts it for."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from oneapi.http.request import REQUEST_ID_HEADER
from oneapi.proxy.answer_headers import accepts_gzip
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.anthropic_upstream import start_fake as start_anthropic
from tests.fakes.openai_upstream import RATE_LIMIT_HEADERS
from tests.functional.relay_env import RelayEnv

HI: Any = [{"role": "user", "content": "hello"}]
ACCOUNT_HEADERS = ("openai-organization", "openai-project")


async def test_request_id_is_what_the_sdk_reports(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url)
    client = relay_env.client()
    raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)
    answer = raw.parse()
    assert answer._request_id == raw.headers["x-request-id"] == raw.headers[REQUEST_ID_HEADER]
    fake_ids = {r.headers.get("x-request-id") for r in fake.requests}
    assert answer._request_id not in fake_ids  # ours, not the upstream's
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="nope", messages=HI)
    assert caught.value.request_id and caught.value.request_id in caught.value.message


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_upstream_headers_are_passed_on_but_not_its_account(relay_env: RelayEnv, stream: bool) -> None:
    _, url = await relay_env.fake()
    await relay_env.add_channel(url)
    raw = await relay_env.client().chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI,
                                                                           stream=stream)
    headers = raw.headers
    assert headers["openai-processing-ms"] == "12" and headers["openai-version"] == "2020-10-01"
    assert {k: headers[k] for k in RATE_LIMIT_HEADERS} == RATE_LIMIT_HEADERS
    assert not any(h in headers for h in ACCOUNT_HEADERS)
    if stream:
        async for _ in raw.parse():
            pass


async def test_a_translated_channel_passes_no_upstream_headers(relay_env: RelayEnv) -> None:
    fake = FakeAnthropic(keys={"k"})
    url, stop = await start_anthropic(fake)
    relay_env.stops.append(stop)
    await relay_env.add_channel(url, type=14, key="k", models="claude-3-5-sonnet-20241022")
    raw = await relay_env.client().chat.completions.with_raw_response.create(model="claude-3-5-sonnet-20241022",
                                                                           messages=HI)
    assert "openai-version" not in raw.headers and raw.headers["x-request-id"]


async def test_json_answers_are_gzipped_for_clients_that_accept_it(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url)
    client = relay_env.client()  # httpx sends Accept-Encoding: gzip, deflate
    long_text = "word " * 2000
    fake.reply_text(long_text)
    raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.parse().choices[0].message.content == long_text
    fake.reply_text("short")
    small = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)
    assert "content-encoding" not in small.headers  # under 1 KiB: not worth a compressor
    fake.reply_text(long_text)
    plain = await relay_env.client(default_headers={"Accept-Encoding": "identity"}) \
        .chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)
    assert "content-encoding" not in plain.headers
    fake.reply_text(long_text)
    streamed = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI, stream=True)
    assert "content-encoding" not in streamed.headers  # never SSE: compression would hold events back
    text = "".join([c.choices[0].delta.content or "" async for c in streamed.parse() if c.choices])
    assert text == long_text


@pytest.mark.parametrize(("header", "accepted"), [
    ("gzip, deflate", True), ("br;q=1.0, gzip;q=0.8", True), ("*", True), ("GZIP", True),
    ("identity", False), ("", False), ("gzip;q=0", False), ("deflate, br", False),
])
def test_accept_encoding(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted
