"""The lease's Lua scripts, each with its KEYS/ARGV/return contract.

Every key a script touches is passed in KEYS (the wake-up channel too), and all of one
lease's keys share a hash slot, so the scripts run unchanged on Redis Cluster.
"""

from __future__ import annotations

import hashlib

ACQUIRE = """
-- KEYS[1]  lease key: the holder's token, expiring after the TTL
-- KEYS[2]  fence key of that lease: the last fence issued, expiring with the lease
-- ARGV[1]  token of this acquisition (random, unique per acquisition)
-- ARGV[2]  TTL in milliseconds
-- return   {1, fence}  acquired now, or already ours (a retried call whose reply was lost,
--                      which must not read as busy): the fence issued to this token
--          {0, pttl}   held by another token; pttl = its remaining ms (-1: no expiry)
--
-- A fence is the server's clock in microseconds since the epoch, or the last fence + 1 while
-- the fence key still remembers one at least that high (two acquisitions in one microsecond,
-- or the clock stepped back). So fences increase without any key kept for ever, and a fresh
-- Redis (FLUSHALL, restart, failover) starts again from its clock, above every fence it
-- issued before as long as that clock has not stepped back. Microseconds since the epoch are
-- about 2^51: exact in Lua's doubles (2^53), so no arithmetic here rounds.
local function issue_fence()
  -- TIME is {seconds, microseconds} of the server's wall clock.
  local now = redis.call('TIME')
  -- Both parts as one number of microseconds since the epoch.
  local fence = tonumber(now[1]) * 1000000 + tonumber(now[2])
  -- The last fence issued for this name, if the fence key still holds one (nil otherwise).
  local last = tonumber(redis.call('GET', KEYS[2]))
  -- Never issue that fence again or a lower one, whatever the clock says.
  if last and last >= fence then
    -- One more than the last: still strictly increasing.
    fence = last + 1
  end
  -- Remember it as long as the lease lives; '%.0f' writes every digit (tostring would round).
  redis.call('SET', KEYS[2], string.format('%.0f', fence), 'PX', ARGV[2])
  -- The caller gets it as an integer reply.
  return fence
end
-- Take the lease if nobody holds it: the token, with the TTL, only if the key is absent.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  -- Taken: issue this acquisition's fence.
  return {1, issue_fence()}
end
-- Held already: by our own token (our earlier call ran, its reply was lost)?
if redis.call('GET', KEYS[1]) == ARGV[1] then
  -- Ours: the retry restarts the TTL as the lost call did.
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  -- The fence our earlier call issued (nobody else can have issued one while we held it).
  local fence = tonumber(redis.call('GET', KEYS[2]))
  -- Still remembered (the usual case): keep it as long as the lease again.
  if fence then
    -- Same TTL as the lease, from now.
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
    -- The same fence as the lost reply carried.
    return {1, fence}
  end
  -- The fence key alone was lost (evicted): nobody saw our fence, so issue a new, higher one.
  return {1, issue_fence()}
end
-- Someone else's: report how long it has left, for the waiter's fallback nap.
return {0, redis.call('PTTL', KEYS[1])}
"""

RELEASE = """
-- KEYS[1]  lease key
-- KEYS[2]  wake-up channel of that lease (same slot)
-- ARGV[1]  token of the holder releasing it
-- ARGV[2]  '1': publish with SPUBLISH (Redis Cluster shard channel), else PUBLISH
-- return   1 released (waiters notified), 0 not ours any more (expired or taken): untouched
-- The fence key is left to expire with its TTL: while it lives, the next fence is above it.
-- Is the lease still held by this token?
if redis.call('GET', KEYS[1]) == ARGV[1] then
  -- Yes: give it up.
  redis.call('DEL', KEYS[1])
  -- Wake every waiter subscribed to the lease's channel (a shard channel on a cluster).
  redis.call(ARGV[2] == '1' and 'SPUBLISH' or 'PUBLISH', KEYS[2], 'released')
  -- Released.
  return 1
end
-- Expired, or another holder's now: touch nothing.
return 0
"""

EXTEND = """
-- KEYS[1]  lease key
-- KEYS[2]  fence key of that lease (same slot): lives as long as the lease
-- ARGV[1]  token of the holder extending it
-- ARGV[2]  new TTL in milliseconds, counted from now
-- return   1 extended, 0 not ours any more (expired or taken): untouched
-- Is the lease still held by this token?
if redis.call('GET', KEYS[1]) == ARGV[1] then
  -- Yes: the lease lives ARGV[2] ms more from now,
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  -- and its fence key as long (a no-op if it was evicted: the next acquisition reissues one).
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  -- Extended.
  return 1
end
-- Expired, or another holder's now: touch nothing.
return 0
"""

FORCE_RELEASE = """
-- KEYS[1]  lease key
-- KEYS[2]  wake-up channel of that lease (same slot)
-- ARGV[1]  '1': publish with SPUBLISH (Redis Cluster shard channel), else PUBLISH
-- return   1 a lease was held and is now deleted (waiters notified), 0 none was held
-- An operator's release, whoever holds it: the holder finds it gone at its next renewal
-- (LeaseLost). The fence key stays, so the next holder's fence is still above the last one.
-- Delete the lease whatever its token; DEL answers how many keys it removed.
if redis.call('DEL', KEYS[1]) == 1 then
  -- Wake every waiter, as a normal release does.
  redis.call(ARGV[1] == '1' and 'SPUBLISH' or 'PUBLISH', KEYS[2], 'released')
  -- Released.
  return 1
end
-- Nothing was held.
return 0
"""


class Script:
    """A Lua script's source and SHA1; ``LeaseStore`` runs it by EVALSHA, loading it on NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


acquire_script = Script(ACQUIRE)
release_script = Script(RELEASE)
extend_script = Script(EXTEND)
force_release_script = Script(FORCE_RELEASE)
