"""The lease's Lua scripts, each with its KEYS/ARGV/return contract.

Every key a script touches is passed in KEYS (the wake-up channel too), and all of one
lease's keys share a hash slot, so the scripts run unchanged on Redis Cluster.
"""

from __future__ import annotations

import hashlib

ACQUIRE = """
-- KEYS[1]  lease key: the holder's token, expiring after the TTL
-- KEYS[2]  fence key of that lease: the last fence issued; it outlives the lease by one TTL
--          (its trace), and a release cuts it to the release record's life
-- KEYS[3]  release record of that lease (see RELEASE): '<token> <fence>[ <result>]'
-- ARGV[1]  token of this acquisition (random, unique per acquisition)
-- ARGV[2]  TTL in milliseconds
-- return   {1, fence, expired}  acquired now, or already ours (a retried call whose reply
--                      was lost, which must not read as busy): the fence issued to this token;
--                      expired = 1 when the previous holder did not release the lease (it ran
--                      out or was deleted) within the last TTL — it may still be acting on it
--                      — 0 when it was released, or nobody held it within the last TTL
--          {0, pttl, fence}  held by another token; pttl = its remaining ms (-1: no expiry),
--                      fence = the holder's (0 if unknown: the fence key was evicted), for
--                      followers (see ADOPT and singleton/lease/_follow.py)
--
-- A fence is the server's clock in microseconds since the epoch, or the last fence + 1 while
-- the fence key still remembers one at least that high (two acquisitions in one microsecond,
-- or the clock stepped back). So fences increase without any key kept for ever, and a fresh
-- Redis (FLUSHALL, restart, failover) starts again from its clock, above every fence it
-- issued before as long as that clock has not stepped back. Microseconds since the epoch are
-- about 2^51: exact in Lua's doubles (2^53), so no arithmetic here rounds.
-- The fence key lives two TTLs from each acquisition or renewal: one past the lease's end.
local trace_ms = tonumber(ARGV[2]) * 2
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
  -- Remember it past the lease; '%.0f' writes every digit (tostring would round).
  redis.call('SET', KEYS[2], string.format('%.0f', fence), 'PX', trace_ms)
  -- The caller gets it as an integer reply.
  return fence
end
-- Called with the lease just taken, before a new fence overwrites the last one: 1 if the
-- last holder's lease ended without its release (the fence key outlives an expired lease by
-- a TTL, a release cuts it to its record's life), 0 if it was released or is long gone.
local function previous_expired()
  -- The last holder's fence, if its trace still lives.
  local last = redis.call('GET', KEYS[2])
  -- None: nobody held it within the last TTL (or the key was evicted: counted as free).
  if not last then
    return 0
  end
  -- The last release record names the fence it released.
  local record = redis.call('GET', KEYS[3])
  -- That holder released it: the common path.
  if record and string.match(record, '^%S+ (%d+)') == last then
    return 0
  end
  -- It ran out (or an operator deleted it) with its holder maybe still at work.
  return 1
end
-- Take the lease if nobody holds it: the token, with the TTL, only if the key is absent.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  -- Taken: was it released by the last holder? Then issue this acquisition's fence.
  local expired = previous_expired()
  return {1, issue_fence(), expired}
end
-- Held already: by our own token (our earlier call ran, its reply was lost)?
if redis.call('GET', KEYS[1]) == ARGV[1] then
  -- Ours: the retry restarts the TTL as the lost call did.
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  -- The fence our earlier call issued (nobody else can have issued one while we held it).
  local fence = tonumber(redis.call('GET', KEYS[2]))
  -- Still remembered (the usual case): keep it as long again.
  if fence then
    -- Two TTLs from now, as at the acquisition.
    redis.call('PEXPIRE', KEYS[2], trace_ms)
    -- The same fence as the lost reply carried; whether the previous holder's lease had
    -- expired went with that reply: 1, so the caller checks rather than trusts.
    return {1, fence, 1}
  end
  -- The fence key alone was lost (evicted): nobody saw our fence, so issue a new, higher one.
  return {1, issue_fence(), 1}
end
-- Someone else's: how long it has left (the waiter's fallback nap) and the holder's fence
-- (a follower adopts only results settled by this holder or a later one; 0: unknown).
return {0, redis.call('PTTL', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or 0)}
"""

ADOPT = """
-- Put before ACQUIRE (same KEYS and ARGV, plus this): adopt a settled result, or acquire.
-- KEYS[3]  release record of that lease (see RELEASE): '<token> <fence> <result>' if settled
-- ARGV[3]  the lowest fence whose result is adopted (singleton/lease/_follow.py says which:
--          the holder the waiter first found busy, or past a result it could not use)
-- return   {2, fence, result}  a holder with that fence or a later one released the lease
--                              settled with result: adopted, nothing acquired
--          else ACQUIRE's answer
-- The last release of this lease, if recent: '<token> <fence>[ <result>]'.
local record = redis.call('GET', KEYS[3])
if record then
  -- Its fence and result; no result (a plain release) leaves result nil: nothing to adopt.
  local _, settled_fence, result = string.match(record, '^(%S+) (%d+) (.*)$')
  -- Settled by the holder we found busy, or a later one: concurrent with our wait.
  if settled_fence and tonumber(settled_fence) >= tonumber(ARGV[3]) then
    return {2, tonumber(settled_fence), result}
  end
end
-- Nothing to adopt: try to acquire, as ACQUIRE below does.
"""


RELEASE = """
-- KEYS[1]  lease key
-- KEYS[2]  wake-up channel of that lease (same slot)
-- KEYS[3]  release record of that lease (same slot): '<token> <fence>', or
--          '<token> <fence> <result>' when the holder settled the lease with a result
-- KEYS[4]  fence key of that lease (same slot): cut to the record's life, so that its trace
--          (see ACQUIRE) tells the next holder this lease was released, not run out
-- ARGV[1]  token of the holder releasing it
-- ARGV[2]  '1': publish with SPUBLISH (Redis Cluster shard channel), else PUBLISH
-- ARGV[3]  fence of that holder
-- ARGV[4]  how long the record lives, in milliseconds
-- ARGV[5]  optional: the result the holder settled with (any string)
-- return   1 released now (waiters notified), or already: the record names this token, so
--            an earlier run of this release did it and only its reply was lost
--          0 held by another token: untouched
--          -1 held by nobody, and not released by this token: it expired or was deleted
-- The fence key expires with the record: while it lives, the next fence is above it.
local holder = redis.call('GET', KEYS[1])
-- Still held by this token?
if holder == ARGV[1] then
  -- Yes: give it up.
  redis.call('DEL', KEYS[1])
  -- The record says who released it, with which fence...
  local record = ARGV[1] .. ' ' .. ARGV[3]
  -- ...and the message wakes the waiters; a plain release gives them nothing to adopt.
  local message = 'released'
  -- Settled: the record and the message carry the result, stamped with the fence.
  if ARGV[5] then
    record = record .. ' ' .. ARGV[5]
    message = 'settled ' .. ARGV[3] .. ' ' .. ARGV[5]
  end
  -- Keep the record briefly: for a retried release, and for followers that missed the message.
  redis.call('SET', KEYS[3], record, 'PX', ARGV[4])
  -- The fence key lives exactly as long: a next holder that finds it finds the record too.
  redis.call('PEXPIRE', KEYS[4], ARGV[4])
  -- Wake every waiter subscribed to the lease's channel (a shard channel on a cluster).
  redis.call(ARGV[2] == '1' and 'SPUBLISH' or 'PUBLISH', KEYS[2], message)
  return 1
end
-- Another holder's now: touch nothing.
if holder then
  return 0
end
-- Held by nobody: did this very token release it (a retried release whose reply was lost)?
local record = redis.call('GET', KEYS[3])
if record and string.sub(record, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
  return 1
end
-- No: it expired or was deleted while we thought we held it.
return -1
"""

EXTEND = """
-- KEYS[1]  lease key
-- KEYS[2]  fence key of that lease (same slot): lives one TTL past the lease (see ACQUIRE)
-- ARGV[1]  token of the holder extending it
-- ARGV[2]  new TTL in milliseconds, counted from now
-- return   1 extended, 0 not ours any more (expired or taken): untouched
-- Is the lease still held by this token?
if redis.call('GET', KEYS[1]) == ARGV[1] then
  -- Yes: the lease lives ARGV[2] ms more from now,
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  -- and its fence key twice as long (a no-op if it was evicted: the next acquisition
  -- reissues one).
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
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
-- (LeaseLost). The fence key stays, so the next holder's fence is still above the last one,
-- and that holder learns the lease ended without its release (ACQUIRE's expired).
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
follow_script = Script(ADOPT + ACQUIRE)
release_script = Script(RELEASE)
extend_script = Script(EXTEND)
force_release_script = Script(FORCE_RELEASE)
