"""Balances every node shares, in Redis (``REDIS_CONN_STRING``): reserved and settled by Lua scripts, so no
node can spend what another node already holds or spent.

One hash per account: ``oneapi:bal:u:<user id>`` and, for tokens with a limited quota,
``oneapi:bal:t:<token id>``. Its fields:

- ``a``: the balance (a user's ``quota``, a token's ``remain_quota``) with every settled charge taken out,
  holds not;
- ``h:<node>``: what requests in flight on that node hold. A node that dies stops refreshing its heartbeat
  key (``RedisLink``), and the scripts drop its holds on their next pass: a crash cannot lock quota away;
- ``t``: when ``a`` was last loaded from the database; ``k``: which token (SQLite gives a deleted token's id to
  the next one), so a hash never serves the wrong token.

**Loading.** A balance is set when a node first needs it, from the database plus the charges that node has
not written yet. Reserving on a hash older than ``stale_after`` (SYNC_FREQUENCY) asks for a reload, which is
the scheduled reconciliation with the database; so does an admin change (:meth:`SharedBalances.load` with
``force``). What a load cannot see is what *other* nodes charged and have not written to the database yet (at
most one accounting flush: 0.2 s, or BATCH_UPDATE_INTERVAL): that is the bound on how much a load can
overstate a balance.

**Memory.** Each hash expires ``IDLE_TTL`` after its last reservation (about 150 bytes each): Redis holds the
accounts used in the last hour, not the million that exist.

The database stays the record: charges reach it through each node's journal and batches, exactly once.
Redis only decides who may spend, so losing Redis loses no money; while it is down, nodes fall back to their
own balances (``Ledger``), and the hashes they charged meanwhile are dropped when it returns, to be loaded
again from the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from oneapi.store.redis_names import PREFIX, node_key

if TYPE_CHECKING:
    from oneapi.store.redis_link import RedisLink

IDLE_TTL: Final = 3600

# Sums the live holds of a hash and drops those of dead nodes; returns available, loaded-at, key marker.
_READ = """
local function read(key)
  local fields = redis.call('HGETALL', key)
  if #fields == 0 then return nil end
  local a, t, k, held = nil, 0, '', 0
  for i = 1, #fields, 2 do
    local f, v = fields[i], fields[i + 1]
    if f == 'a' then a = tonumber(v)
    elseif f == 't' then t = tonumber(v)
    elseif f == 'k' then k = v
    elseif string.sub(f, 1, 2) == 'h:' then
      local n = tonumber(v)
      if n <= 0 or redis.call('EXISTS', ARGV[1] .. string.sub(f, 3)) == 0 then
        redis.call('HDEL', key, f)
      else
        held = held + n
      end
    end
  end
  return a, t, k, held
end
"""

# Many reservations in one call (Coalescer). ARGV: node-key prefix, node, now, stale_after, ttl, then per
# reservation: its number of keys (1: the user's; 2: the user's and the token's), amount, token marker. KEYS: the
# reservations' keys one after another. Returns a code per reservation, in order: 1 granted | 0 user short |
# -1 token short | 2 load the user | 3 load the token. Each is decided, and its hold taken, before the next.
RESERVE: Final = _READ + """
local node, now, stale, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function reserve(user, token, amount, marker)
  local ua, ut, _, uh = read(user)
  if ua == nil or now - ut > stale then return 2 end
  local ta, th = 0, 0
  if token then
    local tt, tk
    ta, tt, tk, th = read(token)
    if ta == nil or tk ~= marker or now - tt > stale then return 3 end
  end
  if ua - uh - amount < 0 then return 0 end
  if token and ta - th < amount then return -1 end
  redis.call('HINCRBY', user, 'h:' .. node, amount)
  redis.call('EXPIRE', user, ttl)
  if token then
    redis.call('HINCRBY', token, 'h:' .. node, amount)
    redis.call('EXPIRE', token, ttl)
  end
  return 1
end
local out, k, a = {}, 1, 6
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  out[#out + 1] = reserve(KEYS[k], n == 2 and KEYS[k + 1] or nil, tonumber(ARGV[a + 1]), ARGV[a + 2])
  k, a = k + n, a + 3
end
return out
"""

# Many settles in one call. ARGV: node, then per settle: its number of keys, held, charge. KEYS as for RESERVE.
# The hold is released wherever it is; the charge is taken from a balance that is there (one that is gone,
# expired or forgotten, is loaded again from the database, which this charge reaches through the journal).
SETTLE: Final = """
local field = 'h:' .. ARGV[1]
local k, a = 1, 2
while a <= #ARGV do
  local n, held, charge = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  for i = k, k + n - 1 do
    if held ~= 0 and redis.call('HEXISTS', KEYS[i], field) == 1 then
      if redis.call('HINCRBY', KEYS[i], field, 0 - held) <= 0 then redis.call('HDEL', KEYS[i], field) end
    end
    if charge ~= 0 and redis.call('HEXISTS', KEYS[i], 'a') == 1 then
      redis.call('HINCRBY', KEYS[i], 'a', 0 - charge)
    end
  end
  k, a = k + n, a + 3
end
return 1
"""

# KEYS: the hash. ARGV: balance, now, token marker, ttl, force. Sets ``a`` unless a fresh one for the same token is
# there already (another node loaded it first) or ``force``; holds stay. Returns the balance in force.
LOAD: Final = """
local a, k = redis.call('HGET', KEYS[1], 'a'), redis.call('HGET', KEYS[1], 'k')
if ARGV[5] == '1' or not a or (k or '') ~= ARGV[3] then
  if (k or '') ~= ARGV[3] then redis.call('DEL', KEYS[1]) end
  redis.call('HSET', KEYS[1], 'a', ARGV[1], 't', ARGV[2], 'k', ARGV[3])
  a = ARGV[1]
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tonumber(a)
"""


def user_key(user_id: int) -> str:
    return f"{PREFIX}bal:u:{user_id}"


def token_key(token_id: int) -> str:
    return f"{PREFIX}bal:t:{token_id}"


def token_marker(key: str) -> str:
    """Tells two tokens that had the same id apart, without putting the key itself in Redis."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Verdict:
    granted: bool
    reload: str = ""  # "user" or "token": load that hash, then ask again
    short: str = ""  # "user" or "token": not enough quota


class Coalescer:
    """Calls made while the event loop runs one iteration go to Redis together, as one script call: under load
    a node sends one call for many requests instead of one each (redis-py spends ~120 µs of CPU per call).
    At most MAX_BATCH per call, so that no script holds Redis for long."""

    MAX_BATCH = 256

    def __init__(self, send: Callable[[list[tuple[list[str], list[Any]]]], Awaitable[list[Any]]]) -> None:
        self._send = send
        self._pending: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._flushes: set[asyncio.Task[None]] = set()

    def submit(self, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, future))
        if len(self._pending) == 1:
            self._start_flush()  # runs after what this iteration still has to do
        return future

    def _start_flush(self) -> None:
        task = asyncio.get_running_loop().create_task(self._flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        batch, self._pending = self._pending[:self.MAX_BATCH], self._pending[self.MAX_BATCH:]
        if self._pending:
            self._start_flush()
        try:
            results = await self._send([(keys, args) for keys, args, _ in batch])
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.cancel() if isinstance(exc, asyncio.CancelledError) else future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


class SharedBalances:
    def __init__(self, link: RedisLink, stale_after: float) -> None:
        self.link = link
        self.stale_after = stale_after
        self._reserve = link.script(RESERVE)
        self._settle = link.script(SETTLE)
        self._load = link.script(LOAD)
        self._reserves = Coalescer(self._reserve_many)
        self._settles = Coalescer(self._settle_many)

    @staticmethod
    def keys(user_id: int, token_id: int, limited: bool) -> list[str]:
        return [user_key(user_id), token_key(token_id)] if limited else [user_key(user_id)]

    async def reserve(self, user_id: int, token_id: int, token: str, limited: bool, amount: int) -> Verdict:
        """Hold ``amount`` on the user and (when limited) the token, if both can afford it. Raises
        RedisUnavailableError."""
        keys = self.keys(user_id, token_id, limited)
        code = int(await self._reserves.submit(keys, [len(keys), amount, token_marker(token) if limited else ""]))
        if code == 1:
            return Verdict(True)
        if code in (2, 3):
            return Verdict(False, reload="user" if code == 2 else "token")
        return Verdict(False, short="user" if code == 0 else "token")

    async def settle(self, user_id: int, token_id: int, limited: bool, held: int, charge: int) -> None:
        """Release the hold and take the charge (``charge`` 0: a refund). Raises RedisUnavailableError."""
        keys = self.keys(user_id, token_id, limited)
        await self._settles.submit(keys, [len(keys), held, charge])

    async def _reserve_many(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        keys = [key for call_keys, _ in calls for key in call_keys]
        args = [node_key(""), self.link.node_id, int(time.time()), int(self.stale_after), IDLE_TTL,
                *(arg for _, call_args in calls for arg in call_args)]
        return list(await self.link.run(self._reserve, keys, args))

    async def _settle_many(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        keys = [key for call_keys, _ in calls for key in call_keys]
        await self.link.run(self._settle, keys, [self.link.node_id, *(arg for _, args in calls for arg in args)])
        return [None] * len(calls)

    async def load_user(self, user_id: int, balance: int, force: bool = False) -> int:
        return int(await self.link.run(self._load, [user_key(user_id)],
                                       [balance, int(time.time()), "", IDLE_TTL, "1" if force else "0"]))

    async def load_token(self, token_id: int, token: str, balance: int, force: bool = False) -> int:
        return int(await self.link.run(self._load, [token_key(token_id)],
                                       [balance, int(time.time()), token_marker(token), IDLE_TTL,
                                        "1" if force else "0"]))

    async def forget(self, user_ids: set[int], token_ids: set[int], *, recovering: bool = False) -> None:
        """Drop these balances: they are loaded again from the database on their next use. The holds of
        requests in flight stay (they are still in flight)."""
        keys = [user_key(i) for i in user_ids] + [token_key(i) for i in token_ids]
        for start in range(0, len(keys), 500):
            pipe = self.link.client.pipeline(transaction=False)
            for key in keys[start:start + 500]:
                pipe.hdel(key, "a", "t")
            await self.link.command(pipe.execute(), recovering=recovering)
