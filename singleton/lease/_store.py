"""The lease's only contact with Redis: its scripts run here, and redis-py's errors are
translated into ``LeaseUnavailable`` here and nowhere else.

Every call can be bounded (``within`` seconds): a call made on behalf of a held lease must
not outlive the lease, whatever redis-py's own timeouts, retries and pool waits would
allow. A call cut short raises LeaseUnavailable like any other failure of Redis; whether
its script ran is then unknown, which the callers account for (a release, an extend and
a cleanup are all token-checked and safe to repeat or to lose).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from singleton._errors import LeaseUnavailable
from singleton._telemetry import redis_error
from singleton.lease._bounded import bounded_call
from singleton.lease._keys import LeaseKeys
from singleton.lease._scripts import CLUSTER_SCRIPTS, SCRIPTS, Script

logger = logging.getLogger(__name__)

#: What redis-py raises when Redis fails or cannot be reached (TimeoutError is an OSError).
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


class Release(enum.Enum):
    """What the release script found (its reply, one value each)."""

    RELEASED = 1
    """Our token held the key: deleted, waiters notified — now, or by an earlier run of this
    very release whose reply was lost (redis-py retried it; the release record told)."""
    TAKEN = 0
    """Another token holds the key: untouched."""
    ABSENT = -1
    """Nobody holds the key, and our token did not release it: it expired or was deleted."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of the acquire script: acquired, busy, or (following) adopted a result."""

    acquired: bool
    fence: int
    """Ours if acquired; the holder's if busy (0 if unknown); the settler's if ``result``."""
    pttl_ms: int = -1
    """Busy: the holder's remaining TTL in ms (-1: none)."""
    result: str | None = None
    """Following: the result a holder with fence >= the one asked for settled the lease with."""
    after_expiry: bool = False
    """Acquired: the previous holder did not release the lease (it ran out or was deleted)
    within the last TTL, so it may still be acting on it (see ACQUIRE)."""
    place_until_ms: int | None = None
    """Busy, in line: when this try's place in line runs out (ms, server clock); the try ran
    ``place_ms`` before that (a lease handed over is measured against it)."""
    granted_for: float | None = None
    """Acquired by a release handing the lease over (QUEUE's grant): it is ours this many
    seconds from when this attempt was sent, until the new holder extends it."""

    @classmethod
    def from_reply(cls, reply: int | list[Any]) -> Attempt:
        if isinstance(reply, int):  # acquired: fence * 2 + expired
            return cls(acquired=True, fence=reply >> 1, after_expiry=bool(reply & 1))
        code = int(reply[0])
        if code == 2:
            result = reply[2]
            text = result.decode() if isinstance(result, bytes) else str(result)
            return cls(acquired=False, fence=int(reply[1]), result=text)
        fence = int(reply[2]) if len(reply) > 2 else 0
        place = int(reply[3]) if len(reply) > 3 else None
        return cls(acquired=False, fence=fence, pttl_ms=int(reply[1]), place_until_ms=place)


def _unavailable(action: str, key: str, exc: BaseException) -> LeaseUnavailable:
    """The one translation of a redis-py failure; raise it ``from exc``."""
    redis_error(action)  # counted for telemetry
    return LeaseUnavailable(f"Redis failed to {action} {key!r}: {type(exc).__name__}: {exc}")


class LeaseStore:
    """Runs the lease scripts on one redis.asyncio ``Redis`` or ``RedisCluster`` client."""

    def __init__(self, client: Any, *, sharded: bool) -> None:
        self.client = client
        # Release publishes on a shard channel on Redis Cluster, a plain channel otherwise.
        self.scripts = CLUSTER_SCRIPTS if sharded else SCRIPTS

    async def _run(
        self,
        script: Script,
        action: str,
        keys: tuple[str, ...],
        *args: Any,
        within: float | None = None,
        shield_into: set[asyncio.Future[Any]] | None = None,
    ) -> Any:
        try:
            if within is None:
                return await self._evalsha(script, keys, *args)
            return await bounded_call(
                lambda: self._evalsha(script, keys, *args), within, shield_into=shield_into
            )
        except asyncio.TimeoutError as exc:
            raise LeaseUnavailable(
                f"Redis did not {action} {keys[0]!r} within {within:.3f} s "
                "(the lease would have run out first)"
            ) from exc
        except REDIS_ERRORS as exc:
            raise _unavailable(action, keys[0], exc) from exc

    async def _evalsha(self, script: Script, keys: tuple[str, ...], *args: Any) -> Any:
        try:
            return await self.client.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:  # the server forgot it (restart, SCRIPT FLUSH): load, run again
            await self.client.script_load(script.source)
            return await self.client.evalsha(script.sha, len(keys), *keys, *args)

    def _acquire_call(
        self,
        keys: LeaseKeys,
        token: str,
        ttl_ms: int,
        adopt_from: int | None,
        *,
        place_ms: int = 0,
        bound_mode: str = "0",
        limit: int = 1,
    ) -> tuple[Script, tuple[str, ...], tuple[Any, ...]]:
        scripts = self.scripts
        if limit > 1:
            n_keys = (
                keys.holders,
                keys.fence,
                keys.queue,
                keys.alive,
                keys.bounds,
                keys.channel,
            )
            return scripts.acquire_n, n_keys, (token, ttl_ms, place_ms, limit)
        # The trailing arguments are left out where they are the script's default.
        if adopt_from is not None:
            args = (token, ttl_ms, place_ms, adopt_from, bound_mode)
            return scripts.follow, keys.acquire_keys, args
        if bound_mode != "0":
            return scripts.acquire, keys.acquire_keys, (token, ttl_ms, place_ms, 0, bound_mode)
        if place_ms:
            return scripts.acquire, keys.acquire_keys, (token, ttl_ms, place_ms)
        return scripts.acquire, keys.acquire_keys, (token, ttl_ms)

    async def acquire(
        self,
        keys: LeaseKeys,
        token: str,
        ttl_ms: int,
        *,
        adopt_from: int | None = None,
        place_ms: int = 0,
        bound_mode: str = "0",
        limit: int = 1,
    ) -> Attempt:
        """Try to take the lease for ``token``. With ``adopt_from``, first adopt the result a
        holder with that fence or a later one settled the lease with, if one did. With
        ``place_ms``, a caller that does not get it takes (or keeps) its place in the line of
        waiters for that long; ``bound_mode`` says how a follower's adopt bound is kept with
        it (see ACQUIRE). ``limit`` > 1: one of that many slots (ACQUIRE_N)."""
        script, script_keys, args = self._acquire_call(
            keys,
            token,
            ttl_ms,
            adopt_from,
            place_ms=place_ms,
            bound_mode=bound_mode,
            limit=limit,
        )
        return Attempt.from_reply(await self._run(script, "acquire", script_keys, *args))

    async def leave(
        self,
        keys: LeaseKeys,
        token: str,
        *,
        limit: int = 1,
        within: float | None = None,
        shield_into: set[asyncio.Future[Any]] | None = None,
    ) -> bool:
        """Give up ``token``'s place in the line of waiters (telling the next, if it is now its
        turn). True if it was in line."""
        held_key = keys.lease if limit == 1 else keys.holders
        left = await self._run(
            self.scripts.leave,
            "leave the line of",
            (keys.queue, keys.alive, keys.bounds, held_key, keys.channel),
            token,
            limit,
            within=within,
            shield_into=shield_into,
        )
        return bool(left == 1)

    async def acquire_confirmed(
        self,
        keys: LeaseKeys,
        token: str,
        ttl_ms: int,
        replicas: int,
        timeout_ms: int,
        *,
        adopt_from: int | None = None,
        place_ms: int = 0,
        bound_mode: str = "0",
        limit: int = 1,
    ) -> tuple[Attempt, int]:
        """Like :meth:`acquire`, then ``WAIT replicas timeout_ms``; also returns the replicas
        that acknowledged. Both go down one connection in one pipeline: WAIT only counts the
        writes of the connection it is sent on."""
        script, script_keys, args = self._acquire_call(
            keys,
            token,
            ttl_ms,
            adopt_from,
            place_ms=place_ms,
            bound_mode=bound_mode,
            limit=limit,
        )
        try:
            for _ in range(2):  # a second pass only after loading the script (NOSCRIPT)
                pipe = self.client.pipeline(transaction=False)
                pipe.evalsha(script.sha, len(script_keys), *script_keys, *args)
                pipe.execute_command("WAIT", replicas, timeout_ms)
                try:
                    reply, acknowledged = await pipe.execute()
                except NoScriptError:
                    await self.client.script_load(script.source)
                    continue
                return Attempt.from_reply(reply), int(acknowledged)
            raise NoScriptError(f"the acquire script could not be loaded on {keys.lease!r}")
        except REDIS_ERRORS as exc:
            raise _unavailable("acquire", keys.lease, exc) from exc

    async def release(
        self,
        keys: LeaseKeys,
        token: str,
        fence: int,
        *,
        record_ttl_ms: int,
        result: str | None = None,
        within: float | None = None,
        shield_into: set[asyncio.Future[Any]] | None = None,
        limit: int = 1,
    ) -> Release:
        """Delete the lease if ``token`` still holds it, record who released it (and the
        ``result`` it was settled with) for ``record_ttl_ms``, and tell the next in line.
        ``limit`` > 1: give up one of that many slots (RELEASE_N; no result).

        With ``within``, cut after that many seconds; with ``shield_into`` too, a cancellation
        of the caller does not stop the release (see :func:`bounded`)."""
        if limit > 1:
            found = await self._run(
                self.scripts.release_n,
                "release",
                (
                    keys.holders,
                    keys.channel,
                    keys.done(token),
                    keys.queue,
                    keys.alive,
                    keys.bounds,
                ),
                token,
                fence,
                record_ttl_ms,
                limit,
                within=within,
                shield_into=shield_into,
            )
            return Release(int(found))
        args: tuple[Any, ...] = (token, fence, record_ttl_ms)
        if result is not None:
            args += (result,)
        found = await self._run(
            self.scripts.release,
            "release",
            keys.release_keys,
            *args,
            within=within,
            shield_into=shield_into,
        )
        return Release(int(found))

    async def extend(
        self,
        keys: LeaseKeys,
        token: str,
        ttl_ms: int,
        *,
        within: float | None = None,
        limit: int = 1,
    ) -> bool:
        """Reset the lease's TTL to ``ttl_ms`` if ``token`` still holds it (one of ``limit``)."""
        script, held = (
            (self.scripts.extend_n, keys.holders)
            if limit > 1
            else (self.scripts.extend, keys.lease)
        )
        extended = await self._run(
            script, "extend", (held, keys.fence), token, ttl_ms, within=within
        )
        return bool(extended == 1)
