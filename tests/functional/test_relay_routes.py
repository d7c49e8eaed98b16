"""The ``/v1`` surface (SPEC 1.1, 1.5-1.7): not-implemented and unknown routes, the request id and CORS on every
answer, gzip request bodies, ``/v1/models``, the billing-compat endpoints, SSE headers and ``[DONE]``, and bad
input answered with SPEC 1.3's errors and no quota taken."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
import openai
import pytest
from aiohttp import web

from oneapi.proxy import sse
from tests.functional.relay_env import ROOT_KEY, RelayEnv

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
NOT_IMPLEMENTED = {"error": {"message": "API not implemented", "type": "one_api_error", "param": "",
                             "code": "api_not_implemented"}}
REQUEST_ID = re.compile(r"^\d{14}\d{1,9}\d{8}$")  # yyyyMMddHHmmss + ns mod 1e9 + 8 random digits
ORIGIN = "https://chat.example.com"


class Reply:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


async def send(env: RelayEnv, method: str, path: str, *, key: str | None = None, body: Any = None,
               data: bytes | None = None, headers: dict[str, str] | None = None) -> Reply:
    hdrs = {"Authorization": "Bearer " + (key or env.root_key), **(headers or {})}
    kw: dict[str, Any] = {"data": data} if data is not None else ({"json": body} if body is not None else {})
    async with aiohttp.ClientSession() as session, session.request(method, env.base_url + path, headers=hdrs,
                                                                  **kw) as resp:
        return Reply(resp.status, resp.headers, await resp.read())


def request_id(reply: Reply) -> str:
    rid = reply.headers.get("X-Oneapi-Request-Id", "")
    assert REQUEST_ID.match(rid), (rid, reply.status)
    return str(rid)


@pytest.fixture
async def env(relay_env: RelayEnv) -> RelayEnv:
    _, url = await relay_env.fake()
    await relay_env.add_channel(url)
    return relay_env


# -- not implemented, unknown --------------------------------------------------------------------

NOT_IMPLEMENTED_ROUTES = [
    ("POST", "/v1/images/edits"), ("POST", "/v1/images/variations"),
    ("GET", "/v1/files"), ("POST", "/v1/files"), ("GET", "/v1/files/file-1"), ("DELETE", "/v1/files/file-1"),
    ("GET", "/v1/files/file-1/content"),
    ("POST", "/v1/fine_tuning/jobs"), ("GET", "/v1/fine_tuning/jobs"), ("GET", "/v1/fine_tuning/jobs/ft-1"),
    ("POST", "/v1/fine_tuning/jobs/ft-1/cancel"), ("GET", "/v1/fine_tuning/jobs/ft-1/events"),
    ("DELETE", "/v1/models/gpt-4o"),
    ("POST", "/v1/assistants"), ("GET", "/v1/assistants"), ("GET", "/v1/assistants/asst_1"),
    ("POST", "/v1/assistants/asst_1"), ("DELETE", "/v1/assistants/asst_1"),
    ("POST", "/v1/threads"), ("GET", "/v1/threads/th_1"), ("POST", "/v1/threads/th_1/messages"),
    ("GET", "/v1/threads/th_1/messages/msg_1"), ("GET", "/v1/threads/th_1/messages/msg_1/files"),
    ("POST", "/v1/threads/th_1/runs"), ("POST", "/v1/threads/runs"), ("GET", "/v1/threads/th_1/runs/run_1/steps"),
    ("POST", "/v1/threads/th_1/runs/run_1/submit_tool_outputs"), ("POST", "/v1/threads/th_1/runs/run_1/cancel"),
]


async def test_not_implemented(env: RelayEnv) -> None:
    for method, path in NOT_IMPLEMENTED_ROUTES:  # one server for all: each answer is independent
        reply = await send(env, method, path, body={} if method == "POST" else None)
        assert reply.status == 501, (method, path)
        assert reply.json() == NOT_IMPLEMENTED, (method, path)
        request_id(reply)


async def test_not_implemented_through_the_sdk(env: RelayEnv) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        await env.client().files.list()
    assert info.value.status_code == 501 and info.value.body == NOT_IMPLEMENTED["error"]


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/foo"), ("GET", "/v1/foo/bar"), ("POST", "/v1"),
                                              ("DELETE", "/v1/chatx/completions")])
async def test_unknown_v1_path(env: RelayEnv, method: str, path: str) -> None:
    reply = await send(env, method, path, body={} if method == "POST" else None)
    assert reply.status == 404
    assert reply.json() == {"error": {"message": f"Invalid URL ({method} {path})", "type": "invalid_request_error",
                                      "param": "", "code": ""}}
    request_id(reply)


# -- request id, CORS, gzip ----------------------------------------------------------------------

async def test_request_id_on_every_relay_answer(env: RelayEnv) -> None:
    stream = {**CHAT, "stream": True}
    speech = {"model": "tts-1", "input": "hi", "voice": "alloy"}
    await env.add_channel((await env.fake())[1], models="tts-1")
    cases: list[tuple[str, str, Any, str | None, int]] = [
        ("POST", "/v1/chat/completions", CHAT, None, 200),
        ("POST", "/v1/chat/completions", stream, None, 200),
        ("POST", "/v1/audio/speech", speech, None, 200),
        ("GET", "/v1/models", None, None, 200),
        ("GET", "/v1/models/gpt-4o", None, None, 200),
        ("GET", "/dashboard/billing/subscription", None, None, 200),
        ("GET", "/v1/dashboard/billing/usage", None, None, 200),
        ("POST", "/v1/chat/completions", CHAT, "sk-wrong", 401),
        ("POST", "/v1/chat/completions", {"model": "gpt-4o-mini"}, None, 400),
        ("POST", "/v1/chat/completions", {**CHAT, "model": "nope"}, None, 404),
        ("POST", "/v1/nope", {}, None, 404),
        ("GET", "/v1/files", None, None, 501),
    ]
    seen = set()
    for method, path, body, key, status in cases:
        reply = await send(env, method, path, key=key, body=body)
        assert reply.status == status, (path, reply.body)
        rid = request_id(reply)
        assert reply.headers["x-request-id"] == rid, path  # the header SDKs expose as request_id
        assert rid not in seen
        seen.add(rid)
        if status >= 400 and status != 404 and status != 501:
            assert reply.json()["error"]["message"].endswith(f"(request id: {rid})")


async def test_cors_preflight(env: RelayEnv) -> None:
    async with aiohttp.ClientSession() as session, session.options(
            env.base_url + "/v1/chat/completions",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os"}) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        methods = {m.strip() for m in resp.headers["Access-Control-Allow-Methods"].split(",")}
        assert {"GET", "POST", "PUT", "DELETE", "OPTIONS"} <= methods
        allowed = resp.headers["Access-Control-Allow-Headers"].lower()
        assert allowed == "*" or all(h in allowed for h in ("authorization", "content-type", "x-stainless-os"))
        assert (await resp.read()) == b""


@pytest.mark.parametrize(("method", "path", "body", "key"), [
    ("POST", "/v1/chat/completions", CHAT, None),
    ("POST", "/v1/chat/completions", {**CHAT, "stream": True}, None),
    ("GET", "/v1/models", None, None),
    ("POST", "/v1/chat/completions", CHAT, "sk-wrong"),
    ("POST", "/v1/chat/completions", {"model": 1}, None),
    ("GET", "/v1/files", None, None),
    ("GET", "/dashboard/billing/usage", None, None),
])
async def test_cors_on_normal_answers(env: RelayEnv, method: str, path: str, body: Any, key: str | None) -> None:
    reply = await send(env, method, path, key=key, body=body, headers={"Origin": ORIGIN})
    assert reply.headers.get("Access-Control-Allow-Origin") == ORIGIN, (path, reply.status, dict(reply.headers))
    assert reply.headers.get("Access-Control-Allow-Credentials") == "true"


async def test_gzip_request_body(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url)
    raw = json.dumps(CHAT).encode()
    reply = await send(relay_env, "POST", "/v1/chat/completions", data=gzip.compress(raw),
                       headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert reply.status == 200, reply.body
    assert reply.json()["choices"][0]["message"]["content"] == "echo: hello there"
    assert fake.requests[-1].body == raw  # the upstream gets the plain JSON ...
    assert "content-encoding" not in fake.requests[-1].headers  # ... and no claim that it is compressed
    assert len(await relay_env.consume_logs()) == 1


async def test_corrupt_gzip_body_is_a_client_error(env: RelayEnv) -> None:
    reply = await send(env, "POST", "/v1/chat/completions", data=b"\x1f\x8b not really gzip",
                       headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert reply.status == 400  # the client's mistake, never a 500
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "one_api_error"
    assert error["message"].endswith(f"(request id: {request_id(reply)})")


# -- /v1/models ----------------------------------------------------------------------------------

async def model_ids(env: RelayEnv, key: str | None = None) -> list[str]:
    page = await env.client(key).models.list()
    return [m.id for m in page.data]


async def test_models_lists_enabled_channels_of_the_users_group(relay_env: RelayEnv) -> None:
    _, url = await relay_env.fake()
    a = await relay_env.add_channel(url, models="gpt-4o-mini,gpt-4o,my-own-model")
    await relay_env.add_channel(url, models="gpt-4o,claude-3-haiku-20240307")
    await relay_env.add_channel(url, models="glm-4", group="vip")  # another group
    disabled = await relay_env.add_channel(url, models="gpt-4")
    await relay_env.services.channels.set_status(disabled, 2)

    reply = await send(relay_env, "GET", "/v1/models")
    body = reply.json()
    assert body["object"] == "list"
    by_id = {m["id"]: m for m in body["data"]}
    assert sorted(by_id) == ["claude-3-haiku-20240307", "gpt-4o", "gpt-4o-mini", "my-own-model"]
    assert len(body["data"]) == 4  # each model once
    assert by_id["gpt-4o"]["owned_by"] == "openai"
    assert by_id["claude-3-haiku-20240307"]["owned_by"] == "anthropic"
    assert by_id["my-own-model"] == {"id": "my-own-model", "object": "model", "created": 1626777600,
                                     "owned_by": "custom", "permission": [], "root": "my-own-model",
                                     "parent": None}
    for model in body["data"]:
        assert model["object"] == "model" and model["created"] == 1626777600 and model["root"] == model["id"]
        assert model["parent"] is None and isinstance(model["permission"], list)

    await relay_env.services.channels.set_status(a, 2)
    assert await model_ids(relay_env) == ["claude-3-haiku-20240307", "gpt-4o"]
    await relay_env.services.channels.set_status(a, 1)
    assert "my-own-model" in await model_ids(relay_env)
    await relay_env.services.channels.set_status(disabled, 1)
    assert "gpt-4" in await model_ids(relay_env)


async def test_models_follow_the_users_group(relay_env: RelayEnv) -> None:
    _, url = await relay_env.fake()
    await relay_env.add_channel(url, models="gpt-4o-mini")
    await relay_env.add_channel(url, models="glm-4,gpt-4o", group="vip,svip")
    root = await relay_env.services.accounts.get(1)
    user_id = await relay_env.services.accounts.create(root, {"username": "bob", "password": "password123"})
    key = await relay_env.new_token(user_id, unlimited_quota=True)
    assert await model_ids(relay_env, key) == ["gpt-4o-mini"]
    await relay_env.services.accounts.update(root, {"id": user_id, "username": "bob", "display_name": "bob",
                                                    "group": "vip"})
    assert await model_ids(relay_env, key) == ["glm-4", "gpt-4o"]


async def test_models_of_a_token_with_a_model_list(relay_env: RelayEnv) -> None:
    _, url = await relay_env.fake()
    await relay_env.add_channel(url, models="gpt-4o-mini,gpt-4o")
    key = await relay_env.new_token(models="gpt-4o,claude-3-haiku-20240307,house-model", unlimited_quota=True)
    reply = await send(relay_env, "GET", "/v1/models", key=key.removeprefix("sk-"))
    data = reply.json()["data"]
    # exactly the token's list, whether or not a channel serves it
    assert sorted(m["id"] for m in data) == ["claude-3-haiku-20240307", "gpt-4o", "house-model"]
    owners = {m["id"]: m["owned_by"] for m in data}
    assert owners == {"gpt-4o": "openai", "claude-3-haiku-20240307": "anthropic", "house-model": "custom"}


async def test_models_need_a_valid_token(env: RelayEnv) -> None:
    reply = await send(env, "GET", "/v1/models", key="sk-" + "z" * 48)
    assert reply.status == 401 and "无效的令牌" in reply.json()["error"]["message"]


async def test_model_by_name(env: RelayEnv) -> None:
    model = await env.client().models.retrieve("gpt-4o")
    assert (model.id, model.object, model.owned_by, model.created) == ("gpt-4o", "model", "openai", 1626777600)
    reply = await send(env, "GET", "/v1/models/claude-3-haiku-20240307")
    assert reply.json()["owned_by"] == "anthropic"  # the built-in catalogue, not the channels

    reply = await send(env, "GET", "/v1/models/not-a-model")
    assert reply.status == 404  # One API answered 200 with the error object: the SDK saw Model(id=None)
    error = reply.json()["error"]
    assert error["message"].startswith("The model 'not-a-model' does not exist")
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "model", "model_not_found")
    with pytest.raises(openai.NotFoundError):
        await env.client().models.retrieve("not-a-model")
    # A model no catalogue knows but a channel serves to this user's group is found, as /v1/models lists it.
    await env.add_channel((await env.fake())[1], models="my-finetune")
    custom = await env.client().models.retrieve("my-finetune")
    assert (custom.id, custom.owned_by) == ("my-finetune", "custom")
    reply = await send(env, "GET", "/v1/models/gpt-4o", key="sk-" + "z" * 48)
    assert reply.status == 401


# -- billing-compat ------------------------------------------------------------------------------

async def billing(env: RelayEnv, key: str, prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    sub = await send(env, "GET", prefix + "/dashboard/billing/subscription", key=key.removeprefix("sk-"))
    usage = await send(env, "GET", prefix + "/dashboard/billing/usage", key=key.removeprefix("sk-"))
    assert sub.status == usage.status == 200
    return sub.json(), usage.json()


def subscription(amount: float, access_until: int = 0) -> dict[str, Any]:
    return {"object": "billing_subscription", "has_payment_method": True, "soft_limit_usd": amount,
            "hard_limit_usd": amount, "system_hard_limit_usd": amount, "access_until": access_until}


@pytest.mark.parametrize("prefix", ["", "/v1"])
async def test_billing_of_a_limited_token(env: RelayEnv, prefix: str) -> None:
    expires = 4_102_444_800  # 2100-01-01
    key = await env.new_token(remain_quota=1_000_000, expired_time=expires)
    sub, usage = await billing(env, key, prefix)
    assert sub == subscription(2.0, expires)  # (remain + used) / 500000
    assert usage == {"object": "list", "total_usage": 0.0}

    await env.client(key).chat.completions.create(**CHAT)
    [log] = await env.consume_logs()
    charged = log["quota"]
    assert charged > 0
    sub, usage = await billing(env, key, prefix)
    assert sub == subscription(2.0, expires)  # spending moves quota from remain to used
    assert usage["total_usage"] == pytest.approx(charged / 500_000 * 100)

    await env.set_option("DisplayInCurrencyEnabled", "false")
    sub, usage = await billing(env, key, prefix)
    assert sub == subscription(1_000_000.0, expires)  # raw quota
    assert usage["total_usage"] == pytest.approx(charged * 100)  # One API: amount (raw quota) × 100


async def test_billing_of_an_unlimited_token(env: RelayEnv) -> None:
    await env.client().chat.completions.create(**CHAT)
    [log] = await env.consume_logs()
    for currency in ("true", "false"):
        await env.set_option("DisplayInCurrencyEnabled", currency)
        sub, usage = await billing(env, env.root_key)
        assert sub == subscription(100_000_000.0)  # 1e8, whatever the display
        per_unit = 500_000 if currency == "true" else 1
        assert usage["total_usage"] == pytest.approx(log["quota"] / per_unit * 100)


async def test_billing_from_the_user_when_token_stats_are_off(env: RelayEnv) -> None:
    key = await env.new_token(remain_quota=1_000_000)
    await env.client(key).chat.completions.create(**CHAT)
    await env.set_option("DisplayTokenStatEnabled", "false")
    user = await env.user_row()
    total, used = user["quota"] + user["used_quota"], user["used_quota"]
    assert used > 0
    for k in (key, env.root_key):  # any token of the user: the user's numbers
        sub, usage = await billing(env, k)
        assert sub == subscription(total / 500_000, 0)
        assert usage["total_usage"] == pytest.approx(used / 500_000 * 100)
    await env.set_option("DisplayInCurrencyEnabled", "false")
    sub, usage = await billing(env, key, "/v1")
    assert sub == subscription(float(total), 0)
    assert usage["total_usage"] == pytest.approx(used * 100)


async def test_billing_needs_a_valid_token(env: RelayEnv) -> None:
    for path in ("/dashboard/billing/subscription", "/v1/dashboard/billing/usage"):
        reply = await send(env, "GET", path, key="nope")
        assert reply.status == 401 and reply.json()["error"]["type"] == "one_api_error"


# -- streaming: headers and [DONE] ---------------------------------------------------------------

async def sse_text(env: RelayEnv, body: dict[str, Any]) -> str:
    async with aiohttp.ClientSession() as session, session.post(
            env.base_url + "/v1/chat/completions", json=body, headers={"Authorization": env.root_key}) as resp:
        assert resp.status == 200
        return (await resp.read()).decode()


def events_of(text: str) -> list[str]:
    """The events of an SSE body (blank-line separated; stray blank lines ignored, as SSE parsers do)."""
    assert text.endswith("\n\n"), text[-40:]
    return [e.strip("\n") for e in text.split("\n\n") if e.strip()]


async def test_sse_headers(env: RelayEnv) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            env.base_url + "/v1/chat/completions", json={**CHAT, "stream": True},
            headers={"Authorization": env.root_key}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].split(";")[0] == "text/event-stream"
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["X-Accel-Buffering"] == "no"
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        text = (await resp.read()).decode()
    events = events_of(text)
    assert events[-1] == "data: [DONE]" and text.endswith("data: [DONE]\n\n")
    assert events.count("data: [DONE]") == 1
    for e in events[:-1]:
        assert json.loads(e.removeprefix("data: "))["object"] == "chat.completion.chunk"


async def test_sse_events_are_exactly_data_lines_and_blank_lines(env: RelayEnv) -> None:
    text = await sse_text(env, {**CHAT, "stream": True})
    assert "\n\n\n" not in text
    assert all(e.startswith("data: ") for e in text.split("\n\n") if e)


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None) -> bytes:
    event: dict[str, Any] = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "m",
                             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        event["usage"] = usage
    return sse.event(event)


async def custom_upstream(env: RelayEnv, pieces: Callable[[dict[str, Any]], list[bytes]]) -> tuple[str, list[Any]]:
    """A tiny SSE upstream: ``pieces(request_json)`` are written one by one, then the connection ends."""
    seen: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append(body)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for piece in pieces(body):
            await resp.write(piece)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    env.stops.append(runner.cleanup)
    return f"http://127.0.0.1:{runner.addresses[0][1]}", seen


async def read_events(env: RelayEnv, body: dict[str, Any]) -> list[str]:
    return events_of(await sse_text(env, body))


async def test_done_is_added_when_the_upstream_omits_it(relay_env: RelayEnv) -> None:
    url, seen = await custom_upstream(relay_env, lambda _: [
        chunk({"role": "assistant", "content": ""}), chunk({"content": "one two"}), chunk({"content": " three"}),
        chunk({}, "stop")])
    await relay_env.add_channel(url, models="gpt-4o-mini")
    events = await read_events(relay_env, {**CHAT, "stream": True})
    assert events[-1] == "data: [DONE]" and events.count("data: [DONE]") == 1
    assert len(events) == 5

    stream = await relay_env.client().chat.completions.create(**CHAT, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "one two three"
    # no usage from the upstream: billed from the delivered text, counted locally
    logs = await relay_env.consume_logs()
    assert len(logs) == 2 and all(log["completion_tokens"] > 0 and log["quota"] > 0 for log in logs)
    assert seen[-1]["stream_options"] == {"include_usage": True}


async def test_done_is_not_doubled_and_usage_is_taken_when_the_upstream_sends_them(relay_env: RelayEnv) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}

    def pieces(body: dict[str, Any]) -> list[bytes]:
        out = [chunk({"content": "hi"}), chunk({}, "stop")]
        if (body.get("stream_options") or {}).get("include_usage"):
            out.append(sse.event({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1,
                                  "model": "m", "choices": [], "usage": usage}))
        return [*out, b"data: [DONE]\n\n"]

    url, _ = await custom_upstream(relay_env, pieces)
    await relay_env.add_channel(url, models="gpt-4o-mini")
    events = await read_events(relay_env, {**CHAT, "stream": True})
    assert events.count("data: [DONE]") == 1 and events[-1] == "data: [DONE]"
    assert not any('"usage": {' in e or '"usage":{' in e for e in events)  # the client did not ask for it
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (11, 7)
    # gpt-4o-mini: ceil((11 + 7 × 4) × 0.075) = ceil(2.925) = 3
    assert log["quota"] == 3


@pytest.mark.parametrize("include_usage", [
    False,
    True,
])
async def test_unterminated_last_event_still_ends_with_a_clean_done(relay_env: RelayEnv,
                                                                    include_usage: bool) -> None:
    url, _ = await custom_upstream(relay_env, lambda _: [chunk({"content": "abc"}), chunk({}, "stop")[:-2]])
    await relay_env.add_channel(url, models="gpt-4o-mini")
    body: dict[str, Any] = {**CHAT, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    events = await read_events(relay_env, body)
    assert events[-1] == "data: [DONE]", events[-2:]
    for e in events[:-1]:
        json.loads(e.removeprefix("data: "))  # every event is whole JSON: nothing glued to [DONE]


async def test_stream_events_are_forwarded_as_they_arrive(relay_env: RelayEnv) -> None:
    import time

    fake, url = await relay_env.fake()
    await relay_env.add_channel(url)
    fake.chunk_delay = 0.1  # 7 events: the whole answer takes about 0.6 s
    started = time.monotonic()
    arrivals: list[float] = []
    stream = await relay_env.client().chat.completions.create(**CHAT, stream=True)
    async for c in stream:
        if c.choices and c.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 5
    assert arrivals[0] < arrivals[-1] - 0.25  # the first words came long before the last: no buffering


async def test_client_leaving_mid_stream_stops_the_upstream_and_pays_for_what_it_got(relay_env: RelayEnv) -> None:
    import asyncio

    fake, url = await relay_env.fake()
    await relay_env.add_channel(url)
    fake.stream_chunks, fake.chunk_delay = 40, 0.02
    fake.reply_text(" ".join(f"word{i}" for i in range(200)))
    before = await relay_env.user_row()
    async with aiohttp.ClientSession() as session:
        resp = await session.post(relay_env.base_url + "/v1/chat/completions", json={**CHAT, "stream": True},
                                  headers={"Authorization": relay_env.root_key})
        received = b""
        while received.count(b'"content"') < 4:
            received += await resp.content.readany()
        resp.close()  # gone after a few words
    for _ in range(100):
        logs = await relay_env.consume_logs()
        if logs and fake.aborted_streams:
            break
        await asyncio.sleep(0.05)
    assert fake.aborted_streams == 1  # the upstream request was closed, not read to the end
    [log] = logs
    assert 0 < log["completion_tokens"] < 200  # billed for part of the answer, counted locally
    after = await relay_env.user_row()
    assert before["quota"] - after["quota"] == log["quota"] > 0


# -- bad input: SPEC 1.3 errors, nothing charged -------------------------------------------------

BAD_BODIES: list[tuple[str, bytes]] = [
    ("not json", b"this is not json"),
    ("truncated json", b'{"model": "gpt-4o-mini", "messages": ['),
    ("empty body", b""),
    ("json array", json.dumps([CHAT]).encode()),
    ("json string", b'"hello"'),
    ("missing model", json.dumps({"messages": CHAT["messages"]}).encode()),
    ("model not a string", json.dumps({**CHAT, "model": 4}).encode()),
    ("missing messages", json.dumps({"model": "gpt-4o-mini"}).encode()),
    ("messages not a list", json.dumps({**CHAT, "messages": "hello"}).encode()),
    ("messages of non-objects", json.dumps({**CHAT, "messages": ["hello", 1]}).encode()),
    ("max_tokens -1", json.dumps({**CHAT, "max_tokens": -1}).encode()),
    ("max_tokens 2**31", json.dumps({**CHAT, "max_tokens": 2**31}).encode()),
    ("max_tokens huge", json.dumps({**CHAT, "max_tokens": 10**30}).encode()),
    ("max_tokens string", json.dumps({**CHAT, "max_tokens": "100"}).encode()),
    ("stream yes", json.dumps({**CHAT, "stream": "yes"}).encode()),
    ("n 0", json.dumps({**CHAT, "n": 0}).encode()),
]


@pytest.fixture
async def watched(relay_env: RelayEnv) -> tuple[RelayEnv, Any, str]:
    """A fake upstream, a limited token, and nothing spent yet."""
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url)
    key = await relay_env.new_token(remain_quota=1_000_000)
    return relay_env, fake, key


async def assert_nothing_taken(env: RelayEnv, fake: Any, key: str, user_before: dict[str, Any]) -> None:
    assert fake.requests == []
    assert await env.consume_logs() == []
    user = await env.user_row()
    assert (user["quota"], user["used_quota"], user["request_count"]) == \
        (user_before["quota"], user_before["used_quota"], user_before["request_count"])
    token = await env.token_row(key)
    assert (token["remain_quota"], token["used_quota"]) == (1_000_000, 0)


async def test_bad_input_is_400_and_free(watched: tuple[RelayEnv, Any, str]) -> None:
    env, fake, key = watched
    before = await env.user_row()
    for case, raw in BAD_BODIES:
        reply = await send(env, "POST", "/v1/chat/completions", key=key, data=raw,
                           headers={"Content-Type": "application/json"})
        assert reply.status == 400, (case, reply.body)
        error = reply.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, case  # the full shape
        assert (error["type"], error["code"]) == ("one_api_error", "invalid_text_request"), case
        assert error["message"].endswith(f"(request id: {request_id(reply)})"), case
    await assert_nothing_taken(env, fake, key, before)


async def test_bad_input_through_the_sdk(watched: tuple[RelayEnv, Any, str]) -> None:
    env, fake, key = watched
    before = await env.user_row()
    client = env.client(key)
    for extra in ({"max_tokens": -1}, {"n": 0}, {"messages": "hi"}):
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(**{**CHAT, **extra})
        assert info.value.code == "invalid_text_request"
    await assert_nothing_taken(env, fake, key, before)


async def test_body_over_the_size_limit_is_413(watched: tuple[RelayEnv, Any, str]) -> None:
    env, fake, key = watched
    before = await env.user_row()
    raw = b'{"model": "gpt-4o-mini", "pad": "' + b"x" * (32 * 1024 * 1024) + b'"}'
    assert len(raw) > 32 * 1024 * 1024 + 1
    reply = await send(env, "POST", "/v1/chat/completions", key=key, data=raw,
                       headers={"Content-Type": "application/json"})
    assert reply.status == 413
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "one_api_error"
    assert error["message"].endswith(f"(request id: {request_id(reply)})")
    await assert_nothing_taken(env, fake, key, before)


async def test_unknown_model_is_404_model_not_found_and_free(watched: tuple[RelayEnv, Any, str]) -> None:
    env, fake, key = watched
    before = await env.user_row()
    sent: list[httpx.Request] = []

    async def count(request: httpx.Request) -> None:
        sent.append(request)

    client = openai.AsyncOpenAI(base_url=env.base_url + "/v1", api_key=key, max_retries=2,
                                http_client=httpx.AsyncClient(event_hooks={"request": [count]}))
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(**{**CHAT, "model": "gpt-9"})
    assert len(sent) == 1  # One API's 503 made the SDK send it three times
    assert info.value.status_code == 404 and info.value.code == "model_not_found" and info.value.param == "model"
    assert "gpt-9" in info.value.message and "default" in info.value.message
    await assert_nothing_taken(env, fake, key, before)


async def test_wrong_method_on_a_relay_route_is_not_a_500(env: RelayEnv) -> None:
    reply = await send(env, "GET", "/v1/chat/completions")
    assert 400 <= reply.status < 500
    assert reply.json()["error"]["message"] == "Invalid URL (GET /v1/chat/completions)"


async def test_root_key_constant_is_the_root_token(env: RelayEnv) -> None:
    # guards the helpers above: the environment's root key is the INITIAL_ROOT_TOKEN
    assert env.root_key == "sk-" + ROOT_KEY
