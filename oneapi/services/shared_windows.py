"""The sliding windows of ``windows.py`` in Redis (``REDIS_CONN_STRING``), so a limit holds across every node and
worker: one Lua script per check, atomic, over one hash per key.

A hash ``oneapi:rl:<what>:<who>`` maps a bucket number to its count. The script drops the buckets that left the
window, sums the rest, and either refuses (returning the milliseconds to wait) or adds the cost to the current
bucket of every key of the check. Time is Redis's own (``TIME``), so nodes whose clocks differ still share
one window. Memory: at most ``buckets`` + 1 fields per key, and a key expires one window after its last
increment, so Redis holds the clients and tokens active in the last window, not every one that exists.

When Redis does not answer, the caller falls back to its own :class:`~oneapi.services.windows.LocalWindows`
(the link logs the outage once and probes until Redis is back; the next check after that uses Redis again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from oneapi.services.windows import Check
from oneapi.store.redis_names import PREFIX

if TYPE_CHECKING:
    from oneapi.store.redis_link import RedisLink

# KEYS: one hash per window. ARGV[1]: now in ms ('' = Redis's TIME); then per key i, from 4i - 2: bucket width
# in ms, bucket count, limit (0 = never refused), cost. Returns 0 (admitted, costs added) or the ms to wait.
CHECK: Final = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local wait, current = 0, {}
for i = 1, #KEYS do
  local width, n, limit = tonumber(ARGV[4 * i - 2]), tonumber(ARGV[4 * i - 1]), tonumber(ARGV[4 * i])
  local bucket = math.floor(now / width)
  current[i] = bucket
  local fields = redis.call('HGETALL', KEYS[i])
  local total, live = 0, {}
  for j = 1, #fields, 2 do
    local b = tonumber(fields[j])
    if b == nil or b <= bucket - n then
      redis.call('HDEL', KEYS[i], fields[j])
    else
      local c = tonumber(fields[j + 1])
      total = total + c
      live[#live + 1] = {b, c}
    end
  end
  if limit > 0 and total >= limit then
    table.sort(live, function(x, y) return x[1] < y[1] end)
    for _, entry in ipairs(live) do
      total = total - entry[2]
      if total < limit then
        local w = math.max(1, (entry[1] + n) * width - now)
        if w > wait then wait = w end
        break
      end
    end
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  local width, n, cost = tonumber(ARGV[4 * i - 2]), tonumber(ARGV[4 * i - 1]), tonumber(ARGV[4 * i + 1])
  if cost > 0 then
    redis.call('HINCRBY', KEYS[i], string.format('%d', current[i]), cost)
    redis.call('PEXPIRE', KEYS[i], width * (n + 1))
  end
end
return 0
"""


def window_key(what: str, who: str | int) -> str:
    return f"{PREFIX}rl:{what}:{who}"


class SharedWindows:
    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._check = link.script(CHECK)

    @property
    def up(self) -> bool:
        return self.link.up

    async def check(self, checks: list[Check], now_ms: int | None = None) -> int:
        """As :meth:`LocalWindows.check`, across every node. Raises RedisUnavailableError."""
        args: list[int | str] = ["" if now_ms is None else now_ms]
        for c in checks:
            args += [c.window.width_ms, c.window.buckets, c.limit, c.cost]
        return int(await self.link.run(self._check, [c.key for c in checks], args))
