"""The lease's Lua scripts, each with its KEYS/ARGV/return contract.

Every key a script touches is passed in KEYS (the wake-up channel too), and all of one
lease's keys share a hash slot, so the scripts run unchanged on Redis Cluster; only the
publishing command differs there (``PUBLISH`` names it, see :func:`lease_scripts`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

QUEUE = """
-- The line of waiters of one lease (fair, FIFO waiting; singleton/lease/_leases.py):
--   queue   zset token -> ticket: the arrival order at Redis (tickets only grow)
--   alive   zset token -> ms (server clock) when that waiter's place runs out unless it
--           tries again first: a waiter that died is dropped from the line at its next prune
--   bounds  hash token -> fence: a following waiter (hold_or_follow) adopts a result settled
--           by a holder with that fence or a later one, and then does not want the lease
-- Every key carries a TTL at least as long as the longest place in the line.
-- The server's clock in milliseconds.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Keep key alive at least ms more (a key without a TTL gets one; a longer one stays).
local function keep(key, ms)
  local left = redis.call('PTTL', key)
  if left ~= -2 and left < ms then
    redis.call('PEXPIRE', key, ms)
  end
end
-- Take one waiter out of the line (it got the lease, adopted a result, gave up or died).
local function unqueue(queue, alive, bounds, token)
  redis.call('ZREM', queue, token)
  redis.call('ZREM', alive, token)
  redis.call('HDEL', bounds, token)
end
-- Drop the waiters whose place ran out (at most 100 per call); returns how many.
local function prune(queue, alive, bounds, now)
  local dead = redis.call('ZRANGEBYSCORE', alive, '-inf', now, 'LIMIT', 0, 100)
  for _, token in ipairs(dead) do
    unqueue(queue, alive, bounds, token)
  end
  return #dead
end
-- Join the end of the line (a ticket above every other), or keep our place; either way
-- our place lives place_ms more. Returns when it runs out (ms, server clock).
local function enqueue(queue, alive, token, now, place_ms)
  if not redis.call('ZSCORE', queue, token) then
    local last = redis.call('ZRANGE', queue, -1, -1, 'WITHSCORES')
    local ticket = 1
    if last[2] then
      ticket = tonumber(last[2]) + 1
    end
    redis.call('ZADD', queue, ticket, token)
  end
  redis.call('ZADD', alive, now + place_ms, token)
  keep(queue, place_ms)
  keep(alive, place_ms)
  return now + place_ms
end
-- Whether the waiter token, a follower, adopts the result a release just settled with fence
-- settled (nil: none): its bound (the lowest fence it adopts) is at most that fence.
local function adopts(bounds, token, settled)
  if not settled then
    return false
  end
  local bound = tonumber(redis.call('HGET', bounds, token) or 0)
  return bound > 0 and bound <= settled
end
-- Tell the first n waiters that want the lease that it is their turn ('next <token>' on
-- the channel). settled: the fence of a result just settled (else nil): a following waiter
-- whose bound is at most that fence adopts it from the release message, so it leaves the
-- line instead. Returns how many were told.
local function hand_off(queue, alive, bounds, channel, n, settled)
  local told, index = 0, 0
  while told < n do
    local token = redis.call('ZRANGE', queue, index, index)[1]
    if not token then
      break
    end
    if adopts(bounds, token, settled) then
      unqueue(queue, alive, bounds, token)
    else
      redis.call(PUBLISH, channel, 'next ' .. token)
      told, index = told + 1, index + 1
    end
  end
  return told
end
-- The fence issuing of ACQUIRE (see there), for a fence key and its trace's life in ms.
local function issue_fence_of(fence_key, trace_ms)
  local now = redis.call('TIME')
  local fence = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local last = tonumber(redis.call('GET', fence_key))
  if last and last >= fence then
    fence = last + 1
  end
  redis.call('SET', fence_key, string.format('%.0f', fence), 'PX', trace_ms)
  return fence
end
-- Hand a free lease (limit 1) straight to the first waiter in line that wants it, so that
-- it holds the lease without another round trip: the lease key set to its token until its
-- place would have run out (a waiter that died holds up the line no longer than its place
-- would have), a fence issued, the waiter out of the line, and 'next <token> <fence>
-- <until>' on the channel tells it (until: that end, ms by the server's clock, which the
-- waiter's tries told it the time of; it extends the lease to its TTL at once). A waiter that
-- misses the message finds the lease its own at its next try (ACQUIRE). Followers whose
-- bound the settled fence meets leave the line instead (as in hand_off). Returns 1 if one
-- was given the lease.
local function grant(queue, alive, bounds, channel, settled, lease_key, fence_key, now)
  while true do
    local token = redis.call('ZRANGE', queue, 0, 0)[1]
    if not token then
      return 0
    end
    local adopting = adopts(bounds, token, settled)
    -- When its place runs out; one past its end (beyond prune's 100 a call) is dead.
    local until_ms = tonumber(redis.call('ZSCORE', alive, token) or now)
    unqueue(queue, alive, bounds, token)
    if until_ms > now and not adopting then
      redis.call('SET', lease_key, token, 'PX', until_ms - now)
      -- Its fence, remembered one place's life past the lease, as ACQUIRE's two TTLs.
      local fence = issue_fence_of(fence_key, (until_ms - now) * 2)
      redis.call(PUBLISH, channel, string.format('next %s %.0f %.0f', token, fence, until_ms))
      return 1
    end
  end
end
"""

ACQUIRE = """
-- KEYS[1]  lease key: the holder's token, expiring after the TTL
-- KEYS[2]  fence key of that lease: the last fence issued; it outlives the lease by one TTL
--          (its trace), and a release cuts it to the release record's life
-- KEYS[3]  release record of that lease (see RELEASE): '<token> <fence>[ <result>]'
-- KEYS[4]  the line of waiters (QUEUE's queue), KEYS[5] their places (alive),
-- KEYS[6]  following waiters' bounds (bounds), KEYS[7] the wake-up channel (all same slot)
-- ARGV[1]  token of this acquisition (random, unique per acquisition)
-- ARGV[2]  TTL in milliseconds
-- ARGV[3]  optional: how long a place in line lives (ms) unless this waiter tries again;
--          absent or '0': do not wait in line (a caller that fails at once when busy)
-- ARGV[4]  optional: follower's adopt bound (absent or '0': none; see ADOPT)
-- ARGV[5]  optional: how a waiter's bound is kept with its place: absent or '0' a plain
--          waiter (none), '1' a follower's first try (the holder's fence, or ARGV[4] if
--          higher), '2' a following waiter (ARGV[4]). Set once, when it joins the line.
-- (The trailing ARGV are left out when they are their default: each argument costs the
-- client more to send than the script's work here costs Redis.)
-- return   fence * 2 + expired  (an integer, not a table: the cheapest reply to read, and the
--                      common one) acquired now, or already ours (a retried call whose reply
--                      was lost, which must not read as busy): the fence issued to this token;
--                      expired = 1 when the previous holder did not release the lease (it ran
--                      out or was deleted) within the last TTL — it may still be acting on it
--                      — 0 when it was released, or nobody held it within the last TTL.
--                      Fences stay below 2^52 (microseconds since the epoch, see below, until
--                      the year 2112), so this stays below 2^53: exact in Lua's doubles
--          {0, pttl, fence[, until]}  not acquired: held by another token (pttl its
--                      remaining ms, -1 no expiry, fence the holder's, 0 if unknown: the fence
--                      key was evicted), or free but another waiter's turn (pttl: ms until
--                      that waiter's place runs out, fence: one above the last issued, which
--                      only a later holder can settle). With ARGV[3] > 0 the caller is in
--                      line, its place running out at until (ms, server clock): this try ran
--                      at until - ARGV[3], which a lease handed to it is measured against.
--
-- Fair waiting: a free lease is taken only when nobody is in line or the caller is its
-- first; the others wait their turn in arrival order (RELEASE tells the next one). Without a
-- line the first command is today's SET NX, so an uncontended acquire costs what it did.
--
-- A fence is the server's clock in microseconds since the epoch, or the last fence + 1 while
-- the fence key still remembers one at least that high (two acquisitions in one microsecond,
-- or the clock stepped back). So fences increase without any key kept for ever, and a fresh
-- Redis (FLUSHALL, restart, failover) starts again from its clock, above every fence it
-- issued before as long as that clock has not stepped back. Microseconds since the epoch are
-- about 2^51: exact in Lua's doubles (2^53), so no arithmetic here rounds.
-- The fence key lives two TTLs from each acquisition or renewal: one past the lease's end.
local trace_ms = tonumber(ARGV[2]) * 2
local place_ms = tonumber(ARGV[3] or 0)
local function issue_fence()
  return issue_fence_of(KEYS[2], trace_ms)
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
-- Taken now: whether the last holder released it, then this acquisition's fence.
local function taken()
  local expired = previous_expired()
  return issue_fence() * 2 + expired
end
local now = nil
if redis.call('EXISTS', KEYS[4]) == 0 then
  -- Nobody in line: take the lease if nobody holds it (today's path, one command).
  if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return taken()
  end
else
  -- A line: drop the dead from it, then only its first may take a free lease.
  now = now_ms()
  local pruned = prune(KEYS[4], KEYS[5], KEYS[6], now)
  if redis.call('EXISTS', KEYS[1]) == 0 then
    local first = redis.call('ZRANGE', KEYS[4], 0, 0)[1]
    if not first or first == ARGV[1] then
      -- Our turn: leave the line with the lease (RELEASE tells the next one).
      unqueue(KEYS[4], KEYS[5], KEYS[6], ARGV[1])
      redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
      return taken()
    end
    -- Another waiter's turn. It was told, unless it became first just now by the prune.
    if pruned > 0 then
      hand_off(KEYS[4], KEYS[5], KEYS[6], KEYS[7], 1, nil)
    end
  end
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
    return fence * 2 + 1
  end
  -- The fence key alone was lost (evicted): nobody saw our fence, so issue a new, higher one.
  return issue_fence() * 2 + 1
end
-- Not ours: the holder's fence (a follower adopts only results settled by this holder or
-- a later one; 0: unknown), and how long it has left (the waiter's fallback nap).
local fence = tonumber(redis.call('GET', KEYS[2]) or 0)
local pttl = redis.call('PTTL', KEYS[1])
if pttl == -2 then
  -- Free, but another waiter's turn: only a later holder can settle anything now, and we
  -- try again when that waiter's place would run out.
  if fence > 0 then
    fence = fence + 1
  end
  local first = redis.call('ZRANGE', KEYS[4], 0, 0)[1]
  pttl = math.max(0, tonumber(redis.call('ZSCORE', KEYS[5], first) or 0) - now)
end
-- Waiting: take (or keep, and refresh) our place in line.
if place_ms > 0 then
  local until_ms = enqueue(KEYS[4], KEYS[5], ARGV[1], now or now_ms(), place_ms)
  local mode = ARGV[5] or '0'
  if mode ~= '0' then
    local bound = tonumber(ARGV[4])
    if mode == '1' and fence > bound then
      bound = fence
    end
    if bound > 0 and redis.call('HSETNX', KEYS[6], ARGV[1], bound) == 1 then
      redis.call('PEXPIRE', KEYS[6], place_ms + 1000)
    end
  end
  return {0, pttl, fence, until_ms}
end
return {0, pttl, fence}
"""

ADOPT = """
-- Put before ACQUIRE (same KEYS and ARGV): adopt a settled result, or acquire.
-- KEYS[3]  release record of that lease (see RELEASE): '<token> <fence> <result>' if settled
-- ARGV[4]  the lowest fence whose result is adopted (singleton/lease/_follow.py says which:
--          the holder the waiter first found busy, or past a result it could not use)
-- return   {2, fence, result}  a holder with that fence or a later one released the lease
--                              settled with result: adopted, nothing acquired, and the
--                              caller's place in line given up (the next is told if it was
--                              the first and the lease is free)
--          else ACQUIRE's answer
-- The last release of this lease, if recent: '<token> <fence>[ <result>]'.
local record = redis.call('GET', KEYS[3])
-- A lease handed to us (QUEUE's grant; we missed the message) is ours to use, not to drop.
if record and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  -- Its fence and result; no result (a plain release) leaves result nil: nothing to adopt.
  local _, settled_fence, result = string.match(record, '^(%S+) (%d+) (.*)$')
  -- Settled by the holder we found busy, or a later one: concurrent with our wait.
  if settled_fence and tonumber(settled_fence) >= tonumber(ARGV[4]) then
    -- We do not want the lease any more: out of the line, and our turn to the next.
    if redis.call('ZSCORE', KEYS[4], ARGV[1]) then
      unqueue(KEYS[4], KEYS[5], KEYS[6], ARGV[1])
      if redis.call('EXISTS', KEYS[1]) == 0 then
        hand_off(KEYS[4], KEYS[5], KEYS[6], KEYS[7], 1, nil)
      end
    end
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
-- KEYS[5]  the line of waiters, KEYS[6] their places, KEYS[7] their bounds (see QUEUE)
-- ARGV[1]  token of the holder releasing it
-- ARGV[2]  fence of that holder
-- ARGV[3]  how long the record lives, in milliseconds
-- ARGV[4]  optional: the result the holder settled with (any string)
-- return   1 released now (handed to the first in line that wants it, see QUEUE's grant), or
--            already: the record names this token, so an earlier run of this release did it
--            and only its reply was lost
--          0 held by another token: untouched
--          -1 held by nobody, and not released by this token: it expired or was deleted
-- The fence key expires with the record: while it lives, the next fence is above it.
local holder = redis.call('GET', KEYS[1])
-- Still held by this token?
if holder == ARGV[1] then
  -- Yes: give it up.
  redis.call('DEL', KEYS[1])
  -- The record says who released it, with which fence...
  local record = ARGV[1] .. ' ' .. ARGV[2]
  -- ...and the message wakes the waiters; a plain release gives them nothing to adopt.
  local message = 'released'
  -- Settled: the record and the message carry the result, stamped with the fence.
  if ARGV[4] then
    record = record .. ' ' .. ARGV[4]
    message = 'settled ' .. ARGV[2] .. ' ' .. ARGV[4]
  end
  -- Keep the record briefly: for a retried release, and for followers that missed the message.
  redis.call('SET', KEYS[3], record, 'PX', ARGV[3])
  -- The fence key lives exactly as long: a next holder that finds it finds the record too.
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
  -- Hand the lease to the first in line that wants it (grant: 'next <token> <fence> <until>'
  -- wakes that waiter only, holding it). Followers whose bound this settled fence meets
  -- adopt the result instead.
  local told = 0
  if redis.call('EXISTS', KEYS[5]) == 1 then
    local now = now_ms()
    prune(KEYS[5], KEYS[6], KEYS[7], now)
    told = grant(KEYS[5], KEYS[6], KEYS[7], KEYS[2], ARGV[4] and tonumber(ARGV[2]) or nil,
      KEYS[1], KEYS[4], now)
  end
  -- A result wakes every follower (a shard channel on a cluster); with nobody in line a
  -- plain 'released' wakes any waiter not in line (a version before fair waiting).
  if ARGV[4] or told == 0 then
    redis.call(PUBLISH, KEYS[2], message)
  end
  return 1
end
-- Not ours now. Did this very token release it (a retried release whose reply was lost)?
-- The lease may be the next waiter's by now: that release handed it over.
local record = redis.call('GET', KEYS[3])
if record and string.sub(record, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
  return 1
end
-- Another holder's now: touch nothing.
if holder then
  return 0
end
-- Held by nobody: it expired or was deleted while we thought we held it.
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
-- KEYS[3]  holders key of that name (limit=N, see ACQUIRE_N; same slot)
-- return   1 a lease was held (one holder, or N's holders) and is now deleted (waiters
--          notified), 0 none was held
-- An operator's release, whoever holds it: the holder finds it gone at its next renewal
-- (LeaseLost). The fence key stays, so the next holder's fence is still above the last one,
-- and that holder learns the lease ended without its release (ACQUIRE's expired).
-- Delete the lease (or every holder of a limit=N name) whatever its token; DEL answers how
-- many keys it removed.
if redis.call('DEL', KEYS[1], KEYS[3]) > 0 then
  -- Wake every waiter, as a normal release does.
  redis.call(PUBLISH, KEYS[2], 'released')
  -- Released.
  return 1
end
-- Nothing was held.
return 0
"""


HOLDERS = """
-- An operator's view of a limit=N name (see ACQUIRE_N): how many hold it now.
-- KEYS[1]  holders key, KEYS[2] fence key (same slot)
-- return   {holders, ms, fence}: the holders whose lease is still ahead (by this node's
--          clock, as their expiries), the most ms any of them has left (0 with none), and
--          the last fence issued (nil if the fence key is gone)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Expiries after now: the holders still holding (the dead are pruned only on acquire).
local holders = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
local ms = 0
if holders > 0 then
  ms = tonumber(last) - now
end
return {holders, ms, redis.call('GET', KEYS[2])}
"""


LEAVE = """
-- A waiter gives up its place in line (its wait ran out, it was cancelled or failed).
-- KEYS[1]  the line of waiters, KEYS[2] their places, KEYS[3] their bounds (see QUEUE)
-- KEYS[4]  lease key (limit 1) or holders key (limit N, see ACQUIRE_N)
-- KEYS[5]  wake-up channel of that lease (same slot)
-- ARGV[1]  token of the waiter
-- ARGV[2]  the lease's limit: 1, or N of ACQUIRE_N
-- return   1 it was in line (now out; if its leaving makes it someone's turn, that one is
--          told), or it was handed the lease as it left (given back, the next told);
--          0 neither
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  -- Not in line: a release may have just handed it the lease (QUEUE's grant), which it
  -- will not use now. Give it back rather than hold up the line for its place's life.
  if ARGV[2] == '1' and redis.call('GET', KEYS[4]) == ARGV[1] then
    redis.call('DEL', KEYS[4])
    if hand_off(KEYS[1], KEYS[2], KEYS[3], KEYS[5], 1, nil) == 0 then
      -- Nobody in line: wake any waiter not in line (a version before fair waiting).
      redis.call(PUBLISH, KEYS[5], 'released')
    end
    return 1
  end
  return 0
end
unqueue(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
-- Free slots now: for limit 1 the lease is free or not; for N, N less the holders.
local free
if ARGV[2] == '1' then
  free = 1 - redis.call('EXISTS', KEYS[4])
else
  free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[4])
end
if free > 0 then
  hand_off(KEYS[1], KEYS[2], KEYS[3], KEYS[5], free, nil)
end
return 1
"""

ACQUIRE_N = """
-- limit=N: up to N holders at once, each with its own token, fence and expiry.
-- KEYS[1]  holders key: zset token -> when that holder's lease runs out (ms, server clock)
-- KEYS[2]  fence key (as ACQUIRE's: the last fence issued, to any of the N)
-- KEYS[3]  the line of waiters, KEYS[4] their places, KEYS[5] their bounds (see QUEUE)
-- KEYS[6]  wake-up channel (all same slot)
-- ARGV[1]  token of this acquisition
-- ARGV[2]  TTL in milliseconds
-- ARGV[3]  how long a place in line lives (ms); '0': do not wait in line
-- ARGV[4]  N, the limit (>= 2)
-- return   fence * 2 + expired  acquired (an integer, as ACQUIRE's): the fence issued to
--                    this token (a retry whose reply was lost gets a new, higher one: nobody
--                    saw the first); expired
--                    = 1 if this acquisition found a holder whose lease had run out without
--                    its release (its slot reclaimed now), or on such a retry
--          {0, pttl, 0}  N hold it, or a slot is free but waiters ahead of us take it;
--                    pttl: ms until the first holder's lease (or first waiter's place)
--                    runs out. With ARGV[3] > 0 the caller is in line.
-- A slot is taken when fewer waiters are ahead of the caller in line than slots are free,
-- so the N slots go out in arrival order.
local now = now_ms()
local ttl = tonumber(ARGV[2])
local limit = tonumber(ARGV[4])
local place_ms = tonumber(ARGV[3])
-- Holders whose lease ran out (they died, or were cut off): their slots are free again.
local expired = 0
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  expired = 1
end
-- Take (or, on a retry, keep) our slot: a TTL from now, the holders key at least two.
local function take(retried)
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  keep(KEYS[1], ttl * 2)
  return issue_fence_of(KEYS[2], ttl * 2) * 2 + (retried or expired)
end
-- Ours already (our earlier call ran, its reply was lost)?
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return take(1)
end
local free = limit - redis.call('ZCARD', KEYS[1])
local ahead, pruned = 0, 0
local lined = redis.call('EXISTS', KEYS[3]) == 1
if lined then
  pruned = prune(KEYS[3], KEYS[4], KEYS[5], now)
  local rank = redis.call('ZRANK', KEYS[3], ARGV[1])
  ahead = rank or redis.call('ZCARD', KEYS[3])
end
if free > ahead then
  -- Our turn: a slot, its own fence, out of the line.
  if lined then
    unqueue(KEYS[3], KEYS[4], KEYS[5], ARGV[1])
  end
  return take(nil)
end
-- Slots freed by a dead holder or waiter just now: tell those whose turn it became.
if free > 0 and (expired == 1 or pruned > 0) then
  hand_off(KEYS[3], KEYS[4], KEYS[5], KEYS[6], free, nil)
end
if place_ms > 0 then
  enqueue(KEYS[3], KEYS[4], ARGV[1], now, place_ms)
end
local pttl
if free > 0 then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
  pttl = first and tonumber(redis.call('ZSCORE', KEYS[4], first)) - now or 0
else
  pttl = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]) - now
end
return {0, math.max(0, pttl), 0}
"""

RELEASE_N = """
-- Give up one of the N slots of ACQUIRE_N.
-- KEYS[1]  holders key, KEYS[2] wake-up channel
-- KEYS[3]  this holder's release record ('<fence>'), so a retried release knows its own
-- KEYS[4]  the line of waiters, KEYS[5] their places, KEYS[6] their bounds (see QUEUE)
-- ARGV[1]  token of the holder, ARGV[2] its fence, ARGV[3] how long the record lives (ms),
-- ARGV[4]  N, the limit
-- return   1 released now (the waiters whose turn it is told), or already (the record
--            exists: an earlier run of this release, whose reply was lost)
--          -1 not held by this token, not released by it: it ran out or was deleted
local now = now_ms()
local until_ms = redis.call('ZSCORE', KEYS[1], ARGV[1])
if until_ms then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if tonumber(until_ms) <= now then
    -- It had run out (nobody pruned it yet): not a release of a held slot.
    return -1
  end
  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
  -- Hand the free slots to the first in line ('next <token>' each). Nobody in line:
  -- nobody to wake (every limit=N waiter waits in line).
  if redis.call('EXISTS', KEYS[4]) == 1 then
    local free = tonumber(ARGV[4]) - redis.call('ZCARD', KEYS[1])
    prune(KEYS[4], KEYS[5], KEYS[6], now)
    hand_off(KEYS[4], KEYS[5], KEYS[6], KEYS[2], free, nil)
  end
  return 1
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 1
end
return -1
"""

EXTEND_N = """
-- Renew one of the N slots of ACQUIRE_N.
-- KEYS[1]  holders key, KEYS[2] fence key (same slot)
-- ARGV[1]  token of the holder, ARGV[2] new TTL in ms, counted from now
-- return   1 extended, 0 not ours any more (ran out, or deleted): untouched
local now = now_ms()
local until_ms = redis.call('ZSCORE', KEYS[1], ARGV[1])
if until_ms and tonumber(until_ms) > now then
  local ttl = tonumber(ARGV[2])
  redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[1])
  keep(KEYS[1], ttl * 2)
  keep(KEYS[2], ttl * 2)
  return 1
end
return 0
"""


class Script:
    """A Lua script's source and SHA1; ``LeaseStore`` runs it by EVALSHA, loading it on NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LeaseScripts:
    """The lease's scripts for one kind of Redis: each starts by naming the command that
    publishes on a lease's channel (``PUBLISH``, or ``SPUBLISH`` for a Redis Cluster's shard
    channel), so that no call sends which one as an argument."""

    acquire: Script
    follow: Script
    release: Script
    extend: Script
    force_release: Script
    leave: Script
    acquire_n: Script
    release_n: Script
    extend_n: Script
    holders: Script


def lease_scripts(*, sharded: bool) -> LeaseScripts:
    """The scripts for a Redis Cluster (``sharded``) or a single Redis."""
    publish = "local PUBLISH = 'SPUBLISH'\n" if sharded else "local PUBLISH = 'PUBLISH'\n"

    def script(*parts: str) -> Script:
        return Script(publish + "".join(parts))

    return LeaseScripts(
        acquire=script(QUEUE, ACQUIRE),
        follow=script(QUEUE, ADOPT, ACQUIRE),
        release=script(QUEUE, RELEASE),
        extend=script(EXTEND),
        force_release=script(FORCE_RELEASE),
        leave=script(QUEUE, LEAVE),
        acquire_n=script(QUEUE, ACQUIRE_N),
        release_n=script(QUEUE, RELEASE_N),
        extend_n=script(QUEUE, EXTEND_N),
        holders=script(HOLDERS),
    )


#: A single Redis's (or a replicated one's) and a Redis Cluster's.
SCRIPTS = lease_scripts(sharded=False)
CLUSTER_SCRIPTS = lease_scripts(sharded=True)
