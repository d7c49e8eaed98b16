"""``/v1/oneapi/proxy/{channel}/{path}``: One API's pass-through to a Proxy channel's own API (channel type 43).

Any method, path, query and body go to the channel's base URL with the channel's key; the answer's status,
headers and body come back as they arrive (streams too; a compressed answer is passed on decompressed). What
is sent is :mod:`oneapi.proxy.adaptors.proxy`'s to say; this module does the I/O and the accounting.

Who may use it is the admin's decision, made on the channel: only channels of type Proxy (43) are reachable
this way (One API let any token proxy any channel, with that channel's key), only while enabled, and only by
tokens whose user is in one of the channel's groups (admins: any). The token is checked as for every relay call
(status, expiry, quota, subnets). Like One API, a proxied call is not charged — the upstream's price is unknown
— but it is counted as a request of the token and, with ``LogConsumeEnabled``, logged as model ``proxy`` with
the method, path and status. No retries: the caller named the channel.
"""

from __future__ import annotations

import time

from aiohttp import web

from oneapi.channel_types import ChannelType
from oneapi.http.request import CLIENT_IP, REQUEST_ID
from oneapi.proxy.adaptors import proxy as adaptor
from oneapi.proxy.auth import authenticate
from oneapi.proxy.errors import TokenRefusedError
from oneapi.proxy.failures import NETWORK_ERRORS, network_failure
from oneapi.proxy.relay import RELAY, read_body
from oneapi.proxy.upstream import call_timeout
from oneapi.services.accounts import ROLE_ADMIN
from oneapi.services.logs import TYPE_CONSUME
from oneapi.store.queries import channels as channel_q
from oneapi.store.queries.accounting import LogRow

PATH = "/v1/oneapi/proxy/{channel_id}/{path:.*}"
MODEL_NAME = "proxy"


async def handle_proxy(request: web.Request) -> web.StreamResponse:
    relay = request.app[RELAY]
    started = time.monotonic()
    caller = await authenticate(request, relay, request.get(CLIENT_IP) or request.remote or "")
    text = request.match_info["channel_id"]
    channel = relay.routes.channel(int(text)) if text.isascii() and text.isdigit() and len(text) <= 18 else None
    if channel is None or channel.type != ChannelType.PROXY:
        raise TokenRefusedError(f"无效的代理渠道 Id (no proxy channel #{text})", status=404)
    if channel.status != channel_q.STATUS_ENABLED:
        raise TokenRefusedError("该渠道已被禁用 (channel disabled)", status=403)
    if caller.user.role < ROLE_ADMIN and caller.user.group not in channel.groups:
        raise TokenRefusedError(f"当前分组 {caller.user.group} 无权使用该渠道 (group {caller.user.group} may not "
                                f"use proxy channel #{channel.id})", status=403)
    body = await read_body(request)
    call = adaptor.build(channel, request.method, request.match_info["path"], request.query_string,
                         request.headers.items(), body)
    reservation = await relay.ledger.acquire(caller.user, caller.token, 0)
    try:
        try:
            upstream = await relay.upstream().request(call.method, call.url, data=call.body or None,
                                                      headers=call.headers, timeout=call_timeout(relay.config),
                                                      proxy=relay.config.relay_proxy or None, allow_redirects=False)
        except NETWORK_ERRORS as exc:
            raise network_failure(channel.id, "proxy request", exc) from None
        try:
            out = web.StreamResponse(status=upstream.status, headers=adaptor.answer_headers(upstream.headers.items()))
            await out.prepare(request)
            try:
                async for data in upstream.content.iter_any():
                    await out.write(data)
                await out.write_eof()
            except NETWORK_ERRORS:  # the upstream broke off, or the client left: what was sent is the answer
                upstream.close()
        finally:
            upstream.release()
        log_row = None
        if relay.options.get_bool("LogConsumeEnabled"):
            log_row = LogRow(user_id=caller.user.id, type=TYPE_CONSUME, username=caller.user.username,
                             token_name=caller.token.name, model_name=MODEL_NAME, channel_id=channel.id,
                             content=f"proxy {request.method} /{request.match_info['path']} → {upstream.status}",
                             request_id=request.get(REQUEST_ID, ""),
                             elapsed_time=int((time.monotonic() - started) * 1000))
        relay.ledger.settle(reservation, 0, channel.id, log_row)
        return out
    finally:
        relay.ledger.refund(reservation)  # no-op once settled


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", PATH, handle_proxy)
