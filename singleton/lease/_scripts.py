"""The lease's Lua scripts, each with its KEYS/ARGV/return contract.

Every key a script touches is passed in KEYS (the wake-up channel too), and all of one
lease's keys share a hash slot, so the scripts run unchanged on Redis Cluster.
"""

from __future__ import annotations

import hashlib

ACQUIRE = """
-- KEYS[1]  lease key: the holder's token, expiring after the TTL
-- KEYS[2]  fence counter of that lease: incremented on each acquisition, never expires
-- ARGV[1]  token of this acquisition (random, unique per acquisition)
-- ARGV[2]  TTL in milliseconds
-- return   {1, fence}  acquired now, or already ours (a retried call whose reply was lost,
--                      which must not read as busy): the fence issued to this token
--          {0, pttl, fence}  held by another token; pttl = its remaining ms (-1: no expiry),
--                      fence = the holder's (0 if unknown)
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('INCR', KEYS[2])}
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  -- Nobody can have incremented the counter while our token held the key.
  return {1, tonumber(redis.call('GET', KEYS[2]) or 0)}
end
return {0, redis.call('PTTL', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or 0)}
"""

ADOPT = """
-- Put before ACQUIRE (same KEYS and ARGV, plus these): adopt a settled result, or acquire.
-- KEYS[3]  release record of that lease (see RELEASE): '<token> <fence> <result>' if settled
-- ARGV[3]  the lowest fence whose result is adopted (the holder the waiter first found busy)
-- return   {2, fence, result}  a holder with that fence or a later one released the lease
--                              settled with result: adopted, nothing acquired
--          else ACQUIRE's answer
local record = redis.call('GET', KEYS[3])
if record then
  local _, settled_fence, result = string.match(record, '^(%S+) (%d+) (.*)$')
  if settled_fence and tonumber(settled_fence) >= tonumber(ARGV[3]) then
    return {2, tonumber(settled_fence), result}
  end
end
"""


RELEASE = """
-- KEYS[1]  lease key
-- KEYS[2]  wake-up channel of that lease (same slot)
-- KEYS[3]  release record of that lease (same slot): '<token> <fence>', or
--          '<token> <fence> <result>' when the holder settled the lease with a result
-- ARGV[1]  token of the holder releasing it
-- ARGV[2]  '1': publish with SPUBLISH (Redis Cluster shard channel), else PUBLISH
-- ARGV[3]  fence of that holder
-- ARGV[4]  how long the record lives, in milliseconds
-- ARGV[5]  optional: the result the holder settled with (any string)
-- return   1 released now (waiters notified), or already: the record names this token, so
--            an earlier run of this release did it and only its reply was lost
--          0 held by another token: untouched
--          -1 held by nobody, and not released by this token: it expired or was deleted
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('DEL', KEYS[1])
  local record = ARGV[1] .. ' ' .. ARGV[3]
  local message = 'released'
  if ARGV[5] then
    record = record .. ' ' .. ARGV[5]
    message = 'settled ' .. ARGV[3] .. ' ' .. ARGV[5]
  end
  redis.call('SET', KEYS[3], record, 'PX', ARGV[4])
  redis.call(ARGV[2] == '1' and 'SPUBLISH' or 'PUBLISH', KEYS[2], message)
  return 1
end
if holder then
  return 0
end
local record = redis.call('GET', KEYS[3])
if record and string.sub(record, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
  return 1
end
return -1
"""

EXTEND = """
-- KEYS[1]  lease key
-- ARGV[1]  token of the holder extending it
-- ARGV[2]  new TTL in milliseconds, counted from now
-- return   1 extended, 0 not ours any more (expired or taken): untouched
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class Script:
    """A Lua script's source and SHA1; ``LeaseStore`` runs it by EVALSHA, loading it on NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


acquire_script = Script(ACQUIRE)
follow_script = Script(ADOPT + ACQUIRE)
release_script = Script(RELEASE)
extend_script = Script(EXTEND)
