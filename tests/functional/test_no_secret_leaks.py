"""No secret and no internal address reaches a client; no secret reaches the log (issue 11, part 2).

A real ``oneapi serve`` with ``DEBUG`` and ``DEBUG_SQL`` on gets recognisable secrets (every one contains
``LEAK``): channel keys of every provider type, secret options, the root's relay key and access token, the
session secret. Each channel is then pointed at three hostile upstreams (a closed port, a server that answers
something that is not HTTP, one that echoes the request, credentials included, in every error field providers
use) and driven through the relay (chat, stream, embeddings), the channel test and the balance query. Every
answer and every log line is scanned.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.hostile_upstream import start_echo, start_garbage
from tests.functional.server_process import Server, clean_env, free_port, oneapi_cmd

pytestmark = pytest.mark.slow

ROOT_KEY = "LEAKrootRelayKey00001"
ACCESS = "LEAKrootAccessTok0001"
SESSION = "LEAKsessionSecret0001"
LEAK = re.compile(r"LEAK\w*")


@dataclass
class Provider:
    type: int
    key: str
    model: str
    embedding: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


PROVIDERS = [
    Provider(1, "LEAKopenai00001key", "gpt-4o-mini", "text-embedding-3-small"),
    Provider(3, "LEAKazure000003key", "gpt-4o", "text-embedding-3-small",
             {"config": json.dumps({"api_version": "2024-06-01"})}),
    Provider(8, "LEAKcustom00008key", "gpt-4o-mini"),
    Provider(19, "LEAK360ai00019key", "360GPT_S2_V9", "embedding-bert-512-v1"),
    Provider(50, "LEAKcompat00050key", "gpt-4o-mini"),
    Provider(14, "sk-ant-LEAKanthropic14", "claude-3-5-sonnet-20241022"),
    Provider(24, "LEAKgemini00024key", "gemini-2.0-flash", "text-embedding-004"),
    Provider(11, "LEAKpalm000011key", "PaLM-2"),
    Provider(16, "LEAKzhipuId0016.LEAKzhipuSecret16", "glm-4", "embedding-3"),
    Provider(15, "LEAKbaiduAK0015|LEAKbaiduSK0015", "ERNIE-3.5-8K", "Embedding-V1"),
    Provider(18, "LEAKapp1|LEAKsparkSecret18|LEAKsparkKey0018", "Spark-Max"),
    Provider(17, "LEAKali000017key", "qwen-turbo", "text-embedding-v3"),
    Provider(23, "1300000001|LEAKtencentId23|LEAKtencentKey23", "hunyuan-lite", "hunyuan-embedding"),
]
SECRET_OPTIONS = ["SMTPToken", "GitHubClientSecret", "WeChatServerToken", "TurnstileSecretKey",
                  "MessagePusherToken", "LarkClientSecret", "OidcClientSecret"]


@dataclass
class Seen:
    what: str
    status: int
    text: str
    client_facing: bool  # a /v1 answer: no internal address either


@pytest.fixture
async def upstreams() -> AsyncIterator[dict[str, str]]:
    echo, stop_echo = await start_echo()
    garbage, stop_garbage = await start_garbage()
    yield {"echo": echo, "garbage": garbage, "closed": f"http://127.0.0.1:{free_port()}"}
    await stop_echo()
    await stop_garbage()


async def call(http: aiohttp.ClientSession, server: Server, method: str, path: str, *, auth: str,
               body: Any = None) -> tuple[int, str]:
    async with http.request(method, server.url(path), json=body, headers={"Authorization": auth},
                            timeout=aiohttp.ClientTimeout(total=60)) as resp:
        return resp.status, (await resp.read()).decode(errors="replace")


async def test_no_secret_reaches_an_answer_or_the_log(tmp_path: Path, upstreams: dict[str, str]) -> None:
    env = clean_env(tmp_path, DEBUG="true", DEBUG_SQL="true", SESSION_SECRET=SESSION, INITIAL_ROOT_TOKEN=ROOT_KEY,
                    INITIAL_ROOT_ACCESS_TOKEN=ACCESS, GLOBAL_API_RATE_LIMIT="100000",
                    RELAY_TIMEOUT="20")
    server = Server(oneapi_cmd(), tmp_path, free_port(), env)
    seen: list[Seen] = []
    channels: dict[int, tuple[Provider, str]] = {}
    try:
        await asyncio.to_thread(server.wait_ready)
        async with aiohttp.ClientSession() as http:
            for name in SECRET_OPTIONS:
                status, text = await call(http, server, "PUT", "/api/option/", auth=ACCESS,
                                          body={"key": name, "value": f"LEAKoption{name}"})
                assert status == 200 and json.loads(text)["success"], text
                seen.append(Seen(f"PUT option {name}", status, text, False))
            for provider in PROVIDERS:
                for where, url in upstreams.items():
                    status, text = await call(http, server, "POST", "/api/channel/", auth=ACCESS, body={
                        "type": provider.type, "name": f"t{provider.type}-{where}", "key": provider.key,
                        "base_url": url, "models": ",".join(filter(None, [provider.model, provider.embedding])),
                        **provider.fields})
                    answer = json.loads(text)
                    assert answer["success"], text
                    seen.append(Seen("create channel", status, text, False))
                    channels[answer["data"][0]] = (provider, where)

            for channel_id, (provider, where) in channels.items():
                pinned = f"Bearer sk-{ROOT_KEY}-{channel_id}"
                messages = [{"role": "user", "content": "hello"}]
                for stream in (False, True):
                    status, text = await call(http, server, "POST", "/v1/chat/completions", auth=pinned,
                                              body={"model": provider.model, "messages": messages, "stream": stream})
                    seen.append(Seen(f"chat stream={stream} on #{channel_id} ({provider.type}, {where})", status,
                                     text, True))
                    assert status >= 400 or "error" in text, (channel_id, provider.type, where, text)
                    assert f"channel #{channel_id}" in text or where == "echo", text
                if provider.embedding:
                    status, text = await call(http, server, "POST", "/v1/embeddings", auth=pinned,
                                              body={"model": provider.embedding, "input": "hello"})
                    seen.append(Seen(f"embeddings on #{channel_id} ({provider.type}, {where})", status, text, True))
                    assert status >= 400, text
                for path in (f"/api/channel/test/{channel_id}", f"/api/channel/update_balance/{channel_id}"):
                    status, text = await call(http, server, "GET", path, auth=ACCESS)
                    seen.append(Seen(f"{path} ({provider.type}, {where})", status, text, False))
                    assert json.loads(text)["success"] is False, text
            for path in ("/api/channel/?p=0", "/api/channel/?p=1", "/api/channel/?p=2", "/api/channel/?p=3",
                         "/api/option/", "/api/log/?p=0&type=5", "/api/log/?p=1&type=5", "/api/log/?p=0&type=4"):
                status, text = await call(http, server, "GET", path, auth=ACCESS)
                seen.append(Seen(path, status, text, False))
    finally:
        assert await asyncio.to_thread(server.stop) == 0

    leaks = [(s.what, LEAK.findall(s.text)) for s in seen if LEAK.search(s.text)]
    assert not leaks, leaks
    internal = [upstream.removeprefix("http://") for upstream in upstreams.values()]
    addressed = [(s.what, s.text) for s in seen if s.client_facing and any(a in s.text for a in internal)]
    assert not addressed, addressed
    assert sum(s.client_facing for s in seen) >= 3 * len(PROVIDERS) * 2

    log = server.output()
    assert not LEAK.findall(log), sorted(set(LEAK.findall(log)))
    assert "$2a$" not in log and "$2b$" not in log  # the root's password hash, written at first boot
    # The log is not simply empty: DEBUG_SQL wrote the statements (their secrets masked), and the operator
    # sees what the client was not told: the address that refused the connection.
    assert 'INSERT INTO "channels"' in log and "[redacted]" in log
    assert internal[2] in log and "connection_refused" in "\n".join(s.text for s in seen)
