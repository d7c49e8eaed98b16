"""Token authentication for the relay: SPEC 1.2's checks, in its order, answered in the short error shape.

Tokens and users come from the ledger's in-memory accounts, so a request in steady state runs no SQL. A key
that is not well formed (``keyformat``) is refused before any lookup: only the exact key finds its token.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from aiohttp import web

from oneapi import keyformat
from oneapi.proxy.errors import TokenRefusedError
from oneapi.proxy.state import Relay
from oneapi.services.accounts import ROLE_ADMIN
from oneapi.services.ledger import TokenAccount, UserAccount
from oneapi.store.queries.channels import STATUS_ENABLED as CHANNEL_ENABLED
from oneapi.store.queries.tokens import STATUS_ENABLED, STATUS_EXHAUSTED, STATUS_EXPIRED
from oneapi.store.queries.users import STATUS_ENABLED as USER_ENABLED


@dataclass(frozen=True)
class Caller:
    token: TokenAccount
    user: UserAccount
    pinned_channel: int | None  # KEY-CHANNELID: an admin's token pinned to one channel (no retries)


def parse_key(header: str) -> tuple[str, str | None]:
    """``Bearer sk-KEY-12`` → (``KEY``, ``"12"``): strip ``Bearer ``, then ``sk-``, then split on ``-``.

    With more than one ``-`` the whole text is the key, which is then refused as malformed: One API ignored
    whatever came after the second part, one more way to spell one key."""
    key = header.strip()
    if key.startswith("Bearer "):
        key = key[len("Bearer "):].strip()
    key = key.removeprefix("sk-")
    parts = key.split("-")
    if len(parts) > 2:
        return key, None
    return parts[0], (parts[1] if len(parts) > 1 else None)


def _refuse(message: str, status: int = 401, code: str | None = None) -> TokenRefusedError:
    return TokenRefusedError(message, status=status, code=code)


async def authenticate(request: web.Request, relay: Relay, client_ip: str, credential: str | None = None) -> Caller:
    """The caller of ``request``, from its ``Authorization`` header or the ``credential`` an inbound format
    carries elsewhere (Anthropic's ``x-api-key``)."""
    key, channel_part = parse_key(request.headers.get("Authorization", "") if credential is None else credential)
    if not key:
        raise _refuse("未提供令牌 (no token provided)")
    token = await relay.ledger.token(key) if keyformat.is_token_key(key) else None
    if token is None:
        raise _refuse("无效的令牌 (invalid token)", code="invalid_api_key")  # OpenAI's code for a wrong key
    if token.status != STATUS_ENABLED:
        if token.status == STATUS_EXHAUSTED:
            raise _refuse(f"令牌 {token.name}（#{token.id}）额度已用尽 (token quota exhausted)")
        if token.status == STATUS_EXPIRED:
            raise _refuse("该令牌已过期 (token expired)")
        raise _refuse("该令牌状态不可用 (token disabled)")
    if token.expired_time != -1 and token.expired_time < time.time():
        raise _refuse("该令牌已过期 (token expired)")
    if not token.unlimited and token.remain_quota <= 0:
        raise _refuse("该令牌额度已用尽 (token quota exhausted)")
    if token.subnets and not _in_subnets(client_ip, token):
        raise _refuse(f"该令牌只能在指定网段使用：{token.subnet_text}，当前 ip：{client_ip} "
                      f"(this token only works from its subnets)", 403)
    user = await relay.ledger.user(token.user_id)
    if user is None or user.status != USER_ENABLED:
        raise _refuse("用户已被封禁 (user banned)", 403)
    pinned = None
    if channel_part is not None:
        if user.role < ROLE_ADMIN:
            raise _refuse("普通用户不支持指定渠道 (common users cannot pick a channel)", 403)
        if not (channel_part.isascii() and channel_part.isdigit() and len(channel_part) <= 18) \
                or relay.routes.channel(int(channel_part)) is None:
            raise _refuse("无效的渠道 Id (invalid channel id)", 400)
        pinned = int(channel_part)
        channel = relay.routes.channel(pinned)
        if channel is None or channel.status != CHANNEL_ENABLED:
            raise _refuse("该渠道已被禁用 (channel disabled)", 403)
    return Caller(token, user, pinned)


def _in_subnets(client_ip: str, token: TokenAccount) -> bool:
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in net for net in token.subnets)


def check_model(caller: Caller, model: str) -> None:
    """Step 9: a token with a model list may only use those models."""
    if caller.token.models is not None and model not in caller.token.models:
        raise _refuse(f"该令牌无权使用模型：{model} (this token may not use model {model})", 403)
