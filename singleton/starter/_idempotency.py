"""``Idempotency-Key`` records in Redis (IETF httpapi-idempotency-key-header semantics).

One key per task hub and Idempotency-Key holds either

* an *in-flight* record ``{"fingerprint", "token"}`` while the first request is answered
  (short TTL: a crashed answerer frees the key soon), or
* a *done* record ``{"fingerprint", "decision"}`` for ``ttl`` (24 h by default).

A request with the key and the same fingerprint (orchestrator, instance ID, input, policies)
gets the done record's decision again and starts nothing; one with another fingerprint is
refused (422 over HTTP); one that finds the first still in flight waits for its answer.
Answers that decided nothing (busy, errors) are not kept: the in-flight record is deleted and
a retry runs afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from redis.exceptions import RedisError

from singleton._errors import (
    IdempotencyKeyReused,
    IdempotentRequestInFlight,
    InvalidStartOption,
    LeaseUnavailable,
)
from singleton.starter._decision import Decision

logger = logging.getLogger(__name__)

#: How long an answer is replayed (the draft's examples and Stripe use 24 h).
DEFAULT_TTL = 24 * 3600.0
#: How long an in-flight record outlives a crashed answerer.
DEFAULT_IN_FLIGHT_TTL = 60.0
MAX_KEY_LENGTH = 255

CLAIM = """
-- KEYS[1]  the Idempotency-Key's record
-- ARGV[1]  this request's in-flight record (JSON with a random token)
-- ARGV[2]  in-flight TTL, ms
-- return   false: claimed, this request answers the key; else the record already there
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

SETTLE = """
-- KEYS[1]  the Idempotency-Key's record
-- ARGV[1]  our in-flight record
-- ARGV[2]  the done record to keep, or '' to delete ours
-- ARGV[3]  TTL of the done record, ms
-- return   1 settled, 0 the record is not ours any more (it expired): untouched
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
"""

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


@dataclass(frozen=True)
class Claim:
    """This request answers the key: settle it with :meth:`IdempotencyRecords.complete` or
    :meth:`IdempotencyRecords.abandon`."""

    key: str
    record: str


class IdempotencyRecords:
    """The records of one namespace on one redis.asyncio ``Redis`` or ``RedisCluster``."""

    def __init__(
        self,
        client: Any,
        *,
        namespace: str,
        ttl: float = DEFAULT_TTL,
        in_flight_ttl: float = DEFAULT_IN_FLIGHT_TTL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._namespace = quote(namespace, safe="")
        self._ttl_ms = round(ttl * 1000)
        self._in_flight_ms = round(in_flight_ttl * 1000)
        self._claim = client.register_script(CLAIM)
        self._settle = client.register_script(SETTLE)
        self._clock = clock
        self._sleep = sleep

    def key(self, scope: str, idempotency_key: str) -> str:
        return f"{self._namespace}:idempotency:{quote(scope, safe='')}:{idempotency_key}"

    async def claim(
        self, scope: str, idempotency_key: str, print_: str, *, wait: float
    ) -> Claim | Decision:
        """Claim the key for this request, or the decision stored for it.

        Waits up to ``wait`` seconds while the key's first request is in flight; then
        :class:`IdempotentRequestInFlight`. :class:`IdempotencyKeyReused` if the key was used
        for another request.
        """
        key = self.key(scope, idempotency_key)
        mine = json.dumps({"fingerprint": print_, "token": secrets.token_hex(8)})
        deadline = self._clock() + wait
        pause = 0.02
        while True:
            existing = await self._run(self._claim, key, mine, self._in_flight_ms)
            if existing is None:
                return Claim(key=key, record=mine)
            record = json.loads(existing)
            if record["fingerprint"] != print_:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {idempotency_key!r} was used for a different request; "
                    "nothing was started"
                )
            if "decision" in record:
                logger.info("replaying the answer to Idempotency-Key %r", idempotency_key)
                return Decision.from_json(record["decision"])
            if self._clock() >= deadline:
                raise IdempotentRequestInFlight(
                    f"the request first sent with Idempotency-Key {idempotency_key!r} is still "
                    "in flight; nothing was started by this one"
                )
            await self._sleep(pause)
            pause = min(pause * 2, 0.2)

    async def complete(self, claim: Claim, print_: str, decision: Decision) -> None:
        """Keep ``decision`` as the key's answer for the TTL."""
        done = json.dumps({"fingerprint": print_, "decision": decision.to_json()})
        if not await self._run(self._settle, claim.key, claim.record, done, self._ttl_ms):
            logger.warning("Idempotency record %r expired before its answer was kept", claim.key)

    async def abandon(self, claim: Claim) -> None:
        """Free the key (nothing decided): the next request with it runs afresh."""
        try:
            await self._run(self._settle, claim.key, claim.record, "", 0)
        except LeaseUnavailable as exc:
            logger.warning("could not free %r; it expires by itself: %s", claim.key, exc)

    @staticmethod
    async def _run(script: Any, key: str, *args: Any) -> Any:
        try:
            return await script(keys=[key], args=list(args))
        except _REDIS_ERRORS as exc:
            raise LeaseUnavailable(
                f"Redis failed on Idempotency record {key!r}: {type(exc).__name__}: {exc}"
            ) from exc
