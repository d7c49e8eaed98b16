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

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

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

# KEYS: user hash, [token hash]. ARGV: node-key prefix, node, amount, now, stale_after, token marker, ttl.
# Returns {1, user available after, token available after} | {0} user short | {-1} token short
#       | {2} load the user | {3} load the token.
RESERVE: Final = _READ + """
local node, amount, now, stale = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ua, ut, _, uh = read(KEYS[1])
if ua == nil or now - ut > stale then return {2} end
local ta, th = 0, 0
if #KEYS == 2 then
  local tt, tk
  ta, tt, tk, th = read(KEYS[2])
  if ta == nil or tk ~= ARGV[6] or now - tt > stale then return {3} end
end
if ua - uh - amount < 0 then return {0} end
if #KEYS == 2 and ta - th < amount then return {-1} end
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'h:' .. node, amount)
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[7]))
end
return {1, ua - uh - amount, ta - th - amount}
"""

# KEYS: user hash, [token hash]. ARGV: node, held, charge. The hold is released wherever it is; the charge is taken
# from a balance that is there (one that is gone, expired or forgotten, is loaded again from the database, which
# this charge reaches through the journal).
SETTLE: Final = """
local held, charge, field = tonumber(ARGV[2]), tonumber(ARGV[3]), 'h:' .. ARGV[1]
for i = 1, #KEYS do
  if held ~= 0 and redis.call('HEXISTS', KEYS[i], field) == 1 then
    if redis.call('HINCRBY', KEYS[i], field, 0 - held) <= 0 then redis.call('HDEL', KEYS[i], field) end
  end
  if charge ~= 0 and redis.call('HEXISTS', KEYS[i], 'a') == 1 then
    redis.call('HINCRBY', KEYS[i], 'a', 0 - charge)
  end
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


class SharedBalances:
    def __init__(self, link: RedisLink, stale_after: float) -> None:
        self.link = link
        self.stale_after = stale_after
        self._reserve = link.script(RESERVE)
        self._settle = link.script(SETTLE)
        self._load = link.script(LOAD)

    @staticmethod
    def keys(user_id: int, token_id: int, limited: bool) -> list[str]:
        return [user_key(user_id), token_key(token_id)] if limited else [user_key(user_id)]

    async def reserve(self, user_id: int, token_id: int, token: str, limited: bool, amount: int) -> Verdict:
        """Hold ``amount`` on the user and (when limited) the token, if both can afford it. Raises
        RedisUnavailableError."""
        answer = await self.link.run(self._reserve, self.keys(user_id, token_id, limited), [
            node_key(""), self.link.node_id, amount, int(time.time()), int(self.stale_after),
            token_marker(token), IDLE_TTL])
        code = int(answer[0])
        if code == 1:
            return Verdict(True)
        if code in (2, 3):
            return Verdict(False, reload="user" if code == 2 else "token")
        return Verdict(False, short="user" if code == 0 else "token")

    async def settle(self, user_id: int, token_id: int, limited: bool, held: int, charge: int) -> None:
        """Release the hold and take the charge (``charge`` 0: a refund). Raises RedisUnavailableError."""
        await self.link.run(self._settle, self.keys(user_id, token_id, limited),
                            [self.link.node_id, held, charge])

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
