"""What the address guard does when a URL starts at a public host: run by test_user_content_netns.py inside a
network namespace of its own, where lo also carries a public address (PUBLIC) and a private one (PRIVATE), each
serving images, so that nothing leaves the machine whatever the guard does. Prints its findings as one JSON
object on the last line of stdout.

Scenarios, each against a real relay with a Claude channel:

* ``redirect``: the public host redirects to the loopback one (the guard is on: refused), or to itself (fetched);
* ``rebinding``: a name whose DNS answer is PUBLIC the first time and 127.0.0.1 after (a zero-TTL rebinding
  name); the public host and a loopback host listen on the same port, so a server that looked at one answer and
  connected with another would fetch from loopback;
* ``private``: PRIVATE refused by default, fetched with USER_CONTENT_REQUEST_ALLOW_PRIVATE.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import openai
from aiohttp.abc import AbstractResolver, ResolveResult

from oneapi.proxy import user_content
from tests.fakes.anthropic_upstream import FakeAnthropic, start_fake
from tests.fakes.image_host import start_image_host
from tests.functional.netns import add_loopback_address, bring_loopback_up, outside_reachable
from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env

PUBLIC = "1.2.3.4"
PRIVATE = "10.9.8.7"
MODEL = "claude-3-5-sonnet-20241022"
KEY = "sk-ant-channel-key"


class RebindingDNS(AbstractResolver):
    """A DNS server as a rebinding attacker runs one: each answer in turn, then the last one for ever."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.queries = 0

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        address = self.answers[min(self.queries, len(self.answers) - 1)]
        self.queries += 1
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


async def outcome(env: RelayEnv, url: str) -> dict[str, Any]:
    """What the client saw for one image URL: the answer, or the error's status and code."""
    try:
        answer = await env.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "what is it"}]}])
    except openai.APIStatusError as exc:
        error = exc.response.json().get("error") or {}
        return {"status": exc.status_code, "code": error.get("code"), "message": error.get("message")}
    return {"status": 200, "content": answer.choices[0].message.content}


async def relay(tmp: Path, name: str, **settings: str) -> Any:
    """A relay env (as an async generator to drive by hand) with a Claude channel."""
    envs = start_relay_env(sqlite_db(tmp / name), relay_config(**settings))
    env = await envs.__anext__()
    fake = FakeAnthropic(keys={KEY})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    await env.add_channel(url, type=14, key=KEY, models=MODEL)
    return envs, env


async def scenarios(tmp: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    local, local_url, stop_local = await start_image_host("127.0.0.1")
    port = int(local_url.rsplit(":", 1)[1])
    public, public_url, stop_public = await start_image_host(PUBLIC, port)  # the same port: see ``rebinding``
    private, private_url, stop_private = await start_image_host(PRIVATE)
    try:
        envs, env = await relay(tmp, "guarded")
        found["public"] = await outcome(env, f"{public_url}/cat.png")
        found["redirect_to_loopback"] = await outcome(env, f"{public_url}/redirect?to={local_url}/cat.png")
        found["redirect_to_public"] = await outcome(env, f"{public_url}/redirect?to={public_url}/blob")
        found["private_refused"] = await outcome(env, f"{private_url}/cat.png")

        dns = RebindingDNS(PUBLIC, "127.0.0.1")
        assert env.relay.content_session is not None
        await env.relay.content_session.close()
        env.relay.content_session = user_content.make_session(env.relay.config, resolver=dns)
        found["rebinding_first"] = await outcome(env, f"http://rebind.example:{port}/cat.png")
        found["rebinding_second"] = await outcome(env, f"http://rebind.example:{port}/blob")
        found["dns_queries"] = dns.queries
        await envs.aclose()

        envs, env = await relay(tmp, "on-premise", USER_CONTENT_REQUEST_ALLOW_PRIVATE="true")
        found["private_allowed"] = await outcome(env, f"{private_url}/cat.png")
        await envs.aclose()
        found["hits"] = {"loopback": dict(local.hits), "public": dict(public.hits), "private": dict(private.hits)}
    finally:
        for stop in (stop_local, stop_public, stop_private):
            await stop()
    return found


def main() -> None:
    bring_loopback_up()
    add_loopback_address(PUBLIC)
    add_loopback_address(PRIVATE)
    found: dict[str, Any] = {"isolated": not outside_reachable()}
    with tempfile.TemporaryDirectory(prefix="oneapi-netns-") as tmp:
        for name in ("guarded", "on-premise"):
            (Path(tmp) / name).mkdir()
        found.update(asyncio.run(scenarios(Path(tmp))))
    sys.stdout.write(json.dumps(found) + "\n")


if __name__ == "__main__":
    main()
