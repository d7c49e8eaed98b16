"""Per-token rate limits: requests per minute (``rpm_limit``) and tokens per minute (``tpm_limit``); 0 is no limit.

**Requests** are counted when the relay admits one (``admit``, right after the token is authenticated), and a
request is refused while the last minute holds ``rpm_limit`` of them. **Tokens** are the ones billed (prompt +
completion), counted when the answer is settled (``spent``): a request is refused while the last minute holds
``tpm_limit`` tokens or more. So one long answer may take a token past its TPM limit, and the next requests wait
until the window has room again; a request is never cut short for it.

With Redis (``shared``), the windows are shared by every node and worker (one Lua script per check,
``shared_windows.py``); without it, or while it is down, each node counts on its own (``LocalWindows``), so a
token may then get its limit once per node. A token with neither limit costs nothing here: no lookup, no call.
The limits come from the token's cached account, so the relay's hot path runs no SQL for them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, Protocol

from oneapi.errors import RateLimitedError
from oneapi.services.shared_windows import SharedWindows, window_key
from oneapi.services.windows import Check, LocalWindows, Window, retry_after
from oneapi.store.redis_names import RedisUnavailableError

log = logging.getLogger("oneapi.limits")

MINUTE: Final = Window(60.0, 60)
LIMIT_MAX: Final = 10**9


class LimitedToken(Protocol):
    id: int
    rpm_limit: int
    tpm_limit: int


class TokenRateLimitedError(RateLimitedError):
    """A token's own RPM or TPM limit; the relay answers 429 with a ``Retry-After`` of ``retry_after`` seconds."""

    default_code = "token_rate_limit_exceeded"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenLimits:
    def __init__(self) -> None:
        self.local = LocalWindows()
        self.shared: SharedWindows | None = None
        self._calls: set[asyncio.Task[None]] = set()

    async def admit(self, token: LimitedToken) -> None:
        """Count one request of ``token``, or raise TokenRateLimitedError (nothing counted) while either window
        is full."""
        if token.rpm_limit <= 0 and token.tpm_limit <= 0:
            return
        checks = []
        if token.rpm_limit > 0:
            checks.append(Check(window_key("rpm", token.id), MINUTE, token.rpm_limit, 1))
        if token.tpm_limit > 0:
            checks.append(Check(window_key("tpm", token.id), MINUTE, token.tpm_limit, 0))
        wait = await self._check(checks)
        if wait <= 0:
            return
        seconds = retry_after(wait)
        limits = [f"{token.rpm_limit} requests" if token.rpm_limit > 0 else "",
                  f"{token.tpm_limit} tokens" if token.tpm_limit > 0 else ""]
        raise TokenRateLimitedError(
            f"该令牌请求过于频繁，请 {seconds} 秒后重试 (token rate limit reached: at most "
            f"{' and '.join(part for part in limits if part)} per minute; retry in {seconds} s)", seconds)

    def spent(self, token: LimitedToken, tokens: int) -> None:
        """Count the tokens billed for one answer (called as it is settled, on the event loop: with Redis the
        increment is sent in the background)."""
        if token.tpm_limit <= 0 or tokens <= 0:
            return
        checks = [Check(window_key("tpm", token.id), MINUTE, 0, tokens)]
        if self.shared is None or not self.shared.up:
            self.local.check(checks)
            return
        task = asyncio.get_running_loop().create_task(self._spend_shared(checks))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _spend_shared(self, checks: list[Check]) -> None:
        await self._check(checks)

    async def _check(self, checks: list[Check]) -> int:
        if self.shared is not None and self.shared.up:
            try:
                return await self.shared.check(checks)
            except RedisUnavailableError:
                pass  # the link logged it once; this node counts on its own until Redis is back
        return self.local.check(checks)

    async def close(self) -> None:
        """Wait for the increments still on their way to Redis."""
        if self._calls:
            await asyncio.gather(*self._calls, return_exceptions=True)
