"""The server fetches only what it should (issue 11, section 4): a user's image URL that leads to loopback, a
private network, link-local (cloud metadata), multicast or reserved addresses is refused with a 400 in OpenAI's
error shape, before any connection is made; only http(s) is fetched; redirects go through the same checks; with
USER_CONTENT_REQUEST_ALLOW_PRIVATE loopback and private hosts are fetched (on-premise image hosts).

Everything here stays on loopback: refused addresses are refused before a socket exists. What needs a public
address to start from (a redirect from a public host to loopback, a rebinding name) runs in a network namespace of
its own: ``test_user_content_netns.py``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web

from tests.fakes.anthropic_upstream import FakeAnthropic, start_fake
from tests.fakes.image_host import ImageHost, start_image_host
from tests.fakes.openai_upstream import tiny_png
from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env

MODEL = "claude-3-5-sonnet-20241022"
KEY = "sk-ant-channel-key"
PNG = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                   "data": base64.b64encode(tiny_png()).decode()}}


async def claude(env: RelayEnv) -> FakeAnthropic:
    fake = FakeAnthropic(keys={KEY})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    await env.add_channel(url, type=14, key=KEY, models=MODEL)
    return fake


async def images(env: RelayEnv) -> tuple[ImageHost, str]:
    host, url, stop = await start_image_host()
    env.stops.append(stop)
    return host, url


async def ask(env: RelayEnv, *urls: str) -> Any:
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return await env.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": [*content, {"type": "text", "text": "what is it"}]}])


async def refused(env: RelayEnv, url: str, code: str = "image_url_not_allowed") -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(env, url)
    body = caught.value.response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body  # OpenAI's error object
    assert body["error"]["type"] and isinstance(body["error"]["message"], str)
    return dict(body["error"])


@pytest.fixture
async def private_env(tmp_path: Path) -> AsyncIterator[RelayEnv]:
    async for env in start_relay_env(sqlite_db(tmp_path), relay_config(USER_CONTENT_REQUEST_ALLOW_PRIVATE="true")):
        yield env


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0",
                                  "[::]"])
async def test_a_loopback_image_url_is_refused_before_anything_connects(relay_env: RelayEnv, host: str) -> None:
    fake = await claude(relay_env)
    image_host, url = await images(relay_env)
    port = url.rsplit(":", 1)[1]
    error = await refused(relay_env, f"http://{host}:{port}/cat.png")
    assert "is not fetched" in error["message"] and "public addresses" in error["message"]
    kind = "unspecified" if host in ("0.0.0.0", "[::]") else "loopback"
    assert f"a {kind} address" in error["message"], error
    assert image_host.total == 0 and fake.requests == []
    assert await relay_env.consume_logs() == []


@pytest.mark.parametrize(("host", "kind"), [
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("100.64.0.1", "private"),
    ("[fd00::1]", "private"), ("[::ffff:10.0.0.1]", "private"), ("[2002:a00:1::]", "private"),
    ("169.254.169.254", "link-local"), ("[fe80::1]", "link-local"), ("[64:ff9b::a9fe:a9fe]", "link-local"),
    ("224.0.0.1", "multicast"), ("[ff02::1]", "multicast"), ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
])
async def test_private_link_local_multicast_and_reserved_addresses_are_refused(
        relay_env: RelayEnv, host: str, kind: str) -> None:
    fake = await claude(relay_env)
    error = await refused(relay_env, f"http://{host}/latest/meta-data")
    assert f" leads to a {kind} address" in error["message"], error  # the host as the URL parser wrote it
    assert fake.requests == []


@pytest.mark.parametrize("url", ["ftp://example.com/cat.png", "file:///etc/passwd", "gopher://127.0.0.1:70/",
                                 "HTTP://127.0.0.1/x"])
async def test_only_http_and_https_are_fetched(relay_env: RelayEnv, url: str) -> None:
    await claude(relay_env)
    error = await refused(relay_env, url, code="invalid_image_url")
    assert "http(s)" in error["message"]


async def test_loopback_and_private_hosts_are_fetched_when_allowed(private_env: RelayEnv) -> None:
    fake = await claude(private_env)
    image_host, url = await images(private_env)
    answer = await ask(private_env, f"{url}/cat.png", f"{url}/blob")
    assert answer.choices[0].message.content == "echo: what is it"
    assert fake.requests[-1].json()["messages"][0]["content"][:2] == [PNG, PNG]
    assert image_host.hits["/cat.png"] == image_host.hits["/blob"] == 1


@pytest.mark.parametrize("host", ["169.254.169.254", "[fe80::1]", "224.0.0.1", "0.0.0.0"])
async def test_link_local_multicast_and_unspecified_stay_refused_when_private_is_allowed(
        private_env: RelayEnv, host: str) -> None:
    await claude(private_env)
    await refused(private_env, f"http://{host}/latest/meta-data")


async def test_a_redirect_goes_through_the_same_checks(private_env: RelayEnv) -> None:
    fake = await claude(private_env)
    image_host, url = await images(private_env)
    error = await refused(private_env, f"{url}/redirect?to=http://169.254.169.254/latest/meta-data")
    assert "169.254.169.254 leads to a link-local address" in error["message"]
    error = await refused(private_env, f"{url}/redirect?to=file:///etc/passwd", code="invalid_image_url")
    assert "file:///etc/passwd" in error["message"]
    assert image_host.hits["/redirect"] == 2 and fake.requests == []


async def test_redirects_are_followed_three_times_at_most(private_env: RelayEnv) -> None:
    await claude(private_env)
    image_host, url = await images(private_env)
    answer = await ask(private_env, f"{url}/hop/3")
    assert answer.choices[0].message.content == "echo: what is it" and image_host.hits["/cat.png"] == 1
    error = await refused(private_env, f"{url}/hop/4", code="image_fetch_failed")
    assert "more than 3 redirects" in error["message"] and image_host.hits["/cat.png"] == 1


async def test_through_a_proxy_each_host_is_checked_before_the_proxy_is_asked(tmp_path: Path) -> None:
    """With USER_CONTENT_REQUEST_PROXY the proxy connects; oneapi checks the host first (a literal public address
    here, so no name needs resolving), and the proxy on loopback, the operator's own, is used as is."""
    asked: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        asked.append(str(request.url))
        return web.Response(body=tiny_png(), content_type="image/png")

    app = web.Application()
    app.router.add_get("/{tail:.*}", proxy)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    proxy_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async for env in start_relay_env(sqlite_db(tmp_path), relay_config(USER_CONTENT_REQUEST_PROXY=proxy_url)):
            fake = await claude(env)
            answer = await ask(env, "http://1.2.3.4/cat.png")
            assert answer.choices[0].message.content == "echo: what is it"
            assert asked == ["http://1.2.3.4/cat.png"] and fake.requests[-1].json()["messages"][0]["content"][0] == PNG
            error = await refused(env, "http://127.0.0.1:9/cat.png")
            assert "loopback" in error["message"] and len(asked) == 1
    finally:
        await runner.cleanup()
