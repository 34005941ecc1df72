"""``Idempotency-Key`` records in Redis (IETF httpapi-idempotency-key-header semantics).

A key is scoped to the request's target, the instance ID (with its task hub): the same key
sent to another instance ID is another request. Each record is either

* *in flight* ``{"v", "fingerprint", "token"}`` while the first request is answered (short TTL:
  a crashed answerer frees the key soon), or
* *done* ``{"v", "fingerprint", "decision"}`` for ``ttl`` (24 h by default).

A request with the key and the same fingerprint (orchestrator, instance ID, input, policies)
gets the done record's decision again and starts nothing; one with another fingerprint is
refused (422 over HTTP); one that finds the first still in flight waits for its answer.
Answers that decided nothing (busy, errors) are not kept: the in-flight record is deleted and
a retry runs afresh.

Layout, in the instance's lease slot (same ``{=hub/id}`` hash tag as its lease keys, so every
script below touches one Redis Cluster slot, all of it passed in KEYS)::

    durable-singleton:{=MyHub%2Fx}:idempotency          hash: Idempotency-Key -> record
    durable-singleton:{=MyHub%2Fx}:idempotency-order    zset: key by first claim (ms)
    durable-singleton:{=MyHub%2Fx}:idempotency-expiry   zset: key by its record's expiry (ms)

At most ``max_keys`` records per instance ID: claiming a new key at the bound drops the oldest
record of that ID (in flight or done), whose key then decides afresh. Expired records are
dropped when a key of the same ID is claimed; the three keys expire with their newest record.
If Redis evicts one of the three (``volatile-*``/``allkeys-*`` policies), the next new key of
that ID drops what is left: those keys then decide afresh.

A record this version cannot read is never a bare error: one of another version (a rolling
deploy) is :class:`IdempotencyRecordUnreadable` (503, retry later: a worker of that version can
answer it); a damaged one is replaced, and the request decided afresh.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from singleton._errors import (
    IdempotencyKeyReused,
    IdempotencyRecordUnreadable,
    IdempotentRequestInFlight,
    InvalidStartOption,
    LeaseUnavailable,
)
from singleton.lease._keys import escape
from singleton.starter._decision import Decision

logger = logging.getLogger(__name__)

#: How long an answer is replayed (the draft's examples and Stripe use 24 h).
DEFAULT_TTL = 24 * 3600.0
#: How many records one instance ID keeps; a new key past it drops the oldest.
DEFAULT_MAX_KEYS_PER_INSTANCE = 100
#: How long an in-flight record outlives a crashed answerer.
DEFAULT_IN_FLIGHT_TTL = 60.0
MAX_KEY_LENGTH = 255
#: The records' JSON shape; a record of another version is not interpreted.
RECORD_VERSION = 1

# Shared by both scripts. KEYS[1] records (hash), KEYS[2] order (zset), KEYS[3] expiry (zset).
_LUA_HELPERS = """
local function now_ms()
  local t = redis.call('TIME')  -- {seconds, microseconds} of the server's clock
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function forget(field)
  redis.call('HDEL', KEYS[1], field)
  redis.call('ZREM', KEYS[2], field)
  redis.call('ZREM', KEYS[3], field)
end
-- Make room for one new record under the bound: drop the oldest; how many were dropped.
local function make_room(bound)
  local held = redis.call('HLEN', KEYS[1])
  if held > redis.call('ZCARD', KEYS[2]) then
    -- Redis evicted part of the set (a volatile-* or allkeys-* policy): records the order
    -- no longer knows could never be dropped by the bound, so drop them all.
    for i = 1, 3 do redis.call('DEL', KEYS[i]) end
    return held
  end
  local over = redis.call('ZCARD', KEYS[2]) - bound + 1
  if over <= 0 then return 0 end
  local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  for _, field in ipairs(oldest) do forget(field) end
  return #oldest
end
-- The three keys live as long as their longest-lived record.
local function keep_until_last(now)
  local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  if #last == 0 then return end
  local ms = math.max(1, tonumber(last[2]) - now)
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ms) end
end
"""

CLAIM = (
    _LUA_HELPERS
    + """
-- ARGV[1]  the Idempotency-Key (hash field)
-- ARGV[2]  this request's in-flight record (JSON with a random token)
-- ARGV[3]  in-flight TTL, ms
-- ARGV[4]  the bound: records per instance ID
-- ARGV[5]  a damaged record to replace, or ''
-- return   {false, dropped}: claimed (dropped: records removed for the bound);
--          {record, 0}: the key's record, untouched
local now = now_ms()
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 64)
for _, field in ipairs(expired) do forget(field) end
local expiry = redis.call('ZSCORE', KEYS[3], ARGV[1])
if expiry and tonumber(expiry) <= now then forget(ARGV[1]) end
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing and existing ~= ARGV[5] then return {existing, 0} end
local dropped = 0
if existing then forget(ARGV[1]) end
dropped = make_room(tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
keep_until_last(now)
return {false, dropped}
"""
)

SETTLE = (
    _LUA_HELPERS
    + """
-- ARGV[1]  the Idempotency-Key (hash field)
-- ARGV[2]  our in-flight record
-- ARGV[3]  the done record to keep, or '' to delete ours
-- ARGV[4]  TTL of the done record, ms
-- ARGV[5]  the bound: records per instance ID
-- return   1 settled; 0 another request's record holds the key: untouched
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing and existing ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  if existing then forget(ARGV[1]) end
  return 1
end
local now = now_ms()
if not existing then
  -- Ours expired or was dropped meanwhile: the answer is still this key's, keep it anew.
  make_room(tonumber(ARGV[5]))
  redis.call('ZADD', KEYS[2], now, ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[1])
keep_until_last(now)
return 1
"""
)

_REDIS_ERRORS = (RedisError, OSError)


def validate_idempotency_key(key: str) -> str:
    """``key`` unchanged if it is 1-255 visible ASCII characters; else InvalidStartOption."""
    if (
        not isinstance(key, str)
        or not 0 < len(key) <= MAX_KEY_LENGTH
        or not all("!" <= c <= "~" for c in key)
    ):
        raise InvalidStartOption(
            "Idempotency-Key", key, f"1-{MAX_KEY_LENGTH} visible ASCII characters"
        )
    return key


def fingerprint(*parts: Any) -> str:
    """A digest of everything that makes two requests "the same request"."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class RecordKeys:
    """Where one instance ID's records live (one Redis Cluster slot, its lease's)."""

    records: str
    order: str
    expiry: str

    def __iter__(self) -> Any:
        return iter((self.records, self.order, self.expiry))


def record_keys(namespace: str, lease_name: str) -> RecordKeys:
    """The keys of the records of lease ``lease_name`` (``hub/instance``) in ``namespace``."""
    base = f"{escape(namespace)}:{{={escape(lease_name)}}}:idempotency"
    return RecordKeys(records=base, order=base + "-order", expiry=base + "-expiry")


@dataclasses.dataclass(frozen=True)
class Claim:
    """This request answers the key: settle it with :meth:`IdempotencyRecords.complete` or
    :meth:`IdempotencyRecords.abandon`."""

    keys: RecordKeys
    field: str
    record: str

    def __str__(self) -> str:
        return f"{self.keys.records}[{self.field!r}]"


class _Damaged(Exception):
    """A record this version cannot make sense of, and no other version wrote."""


@dataclasses.dataclass(frozen=True)
class _Record:
    fingerprint: str
    decision: Decision | None  # None: in flight


def parse_record(text: str | bytes) -> _Record:
    """A stored record; :class:`IdempotencyRecordUnreadable` for another version's,
    ``_Damaged`` for anything else this version did not write."""
    try:
        data: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Damaged("not JSON") from exc
    if not isinstance(data, dict):
        raise _Damaged("not a JSON object")
    version = data.get("v")
    if isinstance(version, int) and not isinstance(version, bool) and version != RECORD_VERSION:
        raise IdempotencyRecordUnreadable(version)
    if version != RECORD_VERSION or not isinstance(data.get("fingerprint"), str):
        raise _Damaged("no version or fingerprint")
    if "decision" not in data:
        if not isinstance(data.get("token"), str):
            raise _Damaged("neither a decision nor an in-flight token")
        return _Record(data["fingerprint"], None)
    stored = data["decision"]
    if not isinstance(stored, str):
        raise _Damaged("the decision is not a string")
    try:
        decision = Decision.from_json(stored)
    except ValueError as exc:
        inner = _version_of(stored)
        if inner is not None and inner != Decision.VERSION:
            raise IdempotencyRecordUnreadable(inner) from exc
        raise _Damaged(str(exc)) from exc
    return _Record(data["fingerprint"], decision)


def _version_of(text: str) -> int | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    version = data.get("v") if isinstance(data, dict) else None
    return version if isinstance(version, int) and not isinstance(version, bool) else None


class IdempotencyRecords:
    """The records of one namespace on one redis.asyncio ``Redis`` or ``RedisCluster``.

    ``ttl``: how long an answer is replayed; ``max_keys``: records kept per instance ID;
    ``in_flight_ttl``: how long a crashed answerer's claim blocks its key. Answers whose
    write failed are written again in the background for up to ``in_flight_ttl``
    (:meth:`complete_later`), the time a retry would wait on the claim they replace.
    """

    def __init__(
        self,
        client: Any,
        *,
        namespace: str,
        ttl: float = DEFAULT_TTL,
        max_keys: int = DEFAULT_MAX_KEYS_PER_INSTANCE,
        in_flight_ttl: float = DEFAULT_IN_FLIGHT_TTL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not ttl > 0 or not in_flight_ttl > 0:
            raise ValueError("idempotency TTLs must be positive")
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys!r}")
        self._namespace = namespace
        self.ttl = ttl
        self.max_keys = max_keys
        self.in_flight_ttl = in_flight_ttl
        self._ttl_ms = max(1, round(ttl * 1000))
        self._in_flight_ms = max(1, round(in_flight_ttl * 1000))
        self._claim = client.register_script(CLAIM)
        self._settle = client.register_script(SETTLE)
        self._clock = clock
        self._sleep = sleep
        #: Answers being written again after a failed write (see :meth:`complete_later`).
        self._background: set[asyncio.Task[None]] = set()
        #: Their fingerprints and decisions meanwhile, by (records key, field): a retry in this
        #: process gets them at once, whatever Redis does.
        self._unkept: dict[tuple[str, str], tuple[str, Decision]] = {}

    def keys(self, lease_name: str) -> RecordKeys:
        return record_keys(self._namespace, lease_name)

    async def claim(
        self, lease_name: str, idempotency_key: str, print_: str, *, wait: float
    ) -> Claim | Decision:
        """Claim the key of lease ``lease_name`` (``hub/instance``) for this request, or the
        decision stored for it.

        Waits up to ``wait`` seconds while the key's first request is in flight; then
        :class:`IdempotentRequestInFlight`. :class:`IdempotencyKeyReused` if the key was used
        for another request; :class:`IdempotencyRecordUnreadable` if another version wrote its
        record. A damaged record is replaced by this request's claim.
        """
        keys = self.keys(lease_name)
        mine = json.dumps(
            {"v": RECORD_VERSION, "fingerprint": print_, "token": secrets.token_hex(8)},
            separators=(",", ":"),
        )
        unkept = self._unkept.get((keys.records, idempotency_key))
        if unkept is not None:  # answered here, not yet in Redis: whatever Redis does now
            if unkept[0] != print_:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {idempotency_key!r} was used for a different request; "
                    "nothing was started"
                )
            logger.info(
                "replaying the answer to Idempotency-Key %r (not yet in Redis)", idempotency_key
            )
            return unkept[1]
        deadline = self._clock() + wait
        pause = 0.02
        damaged: str | bytes = ""
        while True:
            existing, dropped = await self._run(
                self._claim, keys, idempotency_key, mine, self._in_flight_ms, self.max_keys, damaged
            )
            if existing is None:
                if dropped:
                    logger.info(
                        "%r holds %d Idempotency-Keys: dropped the oldest %d",
                        lease_name,
                        self.max_keys,
                        dropped,
                    )
                return Claim(keys=keys, field=idempotency_key, record=mine)
            try:
                record = parse_record(existing)
            except _Damaged as exc:
                logger.warning(
                    "damaged record for Idempotency-Key %r of %r (%s): deciding afresh",
                    idempotency_key,
                    lease_name,
                    exc,
                )
                damaged = existing  # replaced by our claim, unless it changed meanwhile
                continue
            except IdempotencyRecordUnreadable:
                logger.warning(
                    "the record for Idempotency-Key %r of %r was written by another version",
                    idempotency_key,
                    lease_name,
                )
                raise
            if record.fingerprint != print_:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {idempotency_key!r} was used for a different request; "
                    "nothing was started"
                )
            if record.decision is not None:
                logger.info("replaying the answer to Idempotency-Key %r", idempotency_key)
                return record.decision
            if self._clock() >= deadline:
                raise IdempotentRequestInFlight(
                    f"the request first sent with Idempotency-Key {idempotency_key!r} is still "
                    "in flight; nothing was started by this one"
                )
            await self._sleep(pause)
            pause = min(pause * 2, 0.2)

    async def complete(self, claim: Claim, print_: str, decision: Decision) -> None:
        """Keep ``decision`` as the key's answer for the TTL (even if our claim expired
        meanwhile, unless another request holds the key now). LeaseUnavailable when Redis
        fails."""
        done = self._done_record(print_, decision)
        kept = await self._run(
            self._settle, claim.keys, claim.field, claim.record, done, self._ttl_ms, self.max_keys
        )
        if not kept:
            logger.warning("another request holds Idempotency record %s: answer not kept", claim)

    def complete_later(self, claim: Claim, print_: str, decision: Decision) -> None:
        """Write the answer in the background, retrying (bounded) until Redis takes it;
        meanwhile this process replays it to a retry that meets ``claim``."""
        self._unkept[(claim.keys.records, claim.field)] = (print_, decision)
        task = asyncio.get_running_loop().create_task(
            self._complete_patiently(claim, print_, decision),
            name=f"singleton: keep the answer to {claim}",
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _complete_patiently(self, claim: Claim, print_: str, decision: Decision) -> None:
        try:
            await self._complete_until(claim, print_, decision)
        finally:
            slot = (claim.keys.records, claim.field)
            if slot in self._unkept and self._unkept[slot][1] is decision:
                del self._unkept[slot]

    async def _complete_until(self, claim: Claim, print_: str, decision: Decision) -> None:
        deadline = self._clock() + self.in_flight_ttl
        pause = 0.05
        while True:
            await self._sleep(pause)
            try:
                await self.complete(claim, print_, decision)
            except LeaseUnavailable as exc:
                if self._clock() + pause >= deadline:
                    logger.error(
                        "gave up keeping the answer to %s (%s): a retry with its key decides "
                        "afresh once the claim expires",
                        claim,
                        exc,
                    )
                    return
                pause = min(pause * 2, 2.0)
                continue
            logger.info("kept the answer to %s after all", claim)
            return

    async def abandon(self, claim: Claim) -> None:
        """Free the key (nothing decided): the next request with it runs afresh."""
        try:
            await self._run(self._settle, claim.keys, claim.field, claim.record, "", 0, 0)
        except LeaseUnavailable as exc:
            logger.warning("could not free %s; it expires by itself: %s", claim, exc)

    async def wait_idle(self) -> None:
        """Until every background write has succeeded or given up (for tests and shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    @staticmethod
    def _done_record(print_: str, decision: Decision) -> str:
        return json.dumps(
            {"v": RECORD_VERSION, "fingerprint": print_, "decision": decision.to_json()},
            separators=(",", ":"),
        )

    @staticmethod
    async def _run(script: Any, keys: RecordKeys, *args: Any) -> Any:
        try:
            return await script(keys=list(keys), args=list(args))
        except _REDIS_ERRORS as exc:
            raise LeaseUnavailable(
                f"Redis failed on Idempotency records {keys.records!r}: {type(exc).__name__}: {exc}"
            ) from exc
