"""A Redis lease: mutual exclusion across processes for a bounded time.

    policy = LeasePolicy(ttl=15.0, wait=5.0)
    leases = Leases(redis_client, namespace="durable-singleton", policy=policy)
    async with leases.hold("MyHub/some-instance-id") as lease:
        ...  # guarded work; lease.fence increases with every acquisition of this name
    await leases.aclose()

The lease knows nothing of what it guards. Its hazards, as a timeline (ttl 15 s)::

    t=0       process A sends its acquire of "x" (fence 7) and starts guarded work
    t=5       A's renewal gets no answer (a network partition, a stalled Redis)
    t=14.848  A's deadline: the TTL from t=0 less the clock-drift allowance. A's keeper
              cancels A's holding task; ``hold`` raises LeaseLost
    t=15      the key expires in Redis; process B acquires "x" (fence 8)

A's guarded block ends before B's begins — as long as A's event loop runs: a holder blocked
in synchronous code (a long CPU loop, a thread it waits on without awaiting) cannot be
cancelled, and should check ``lease.remaining()`` before each irreversible step. Redis TTLs
are not monotonic-clock based and replication is asynchronous (a failover can lose a lease),
so a holder that must not act after losing the lease passes ``lease.fence`` to the store it
writes to, and the guarded store's own duplicate check stays the correctness backstop.

Waiting is fair: waiters of one name take it in the order their first try reached Redis
(a line per name in Redis, see ``QUEUE`` in ``_scripts.py``); a release tells only the first
in line. ``limit=N`` lets N hold one name at once, each with its own token, fence and renewal
(``ACQUIRE_N``); its fences are distinct and increasing, but order each holder's own writes
only, not the N holders against one resource they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import secrets
import time
from types import TracebackType
from typing import Any

from redis.asyncio.cluster import RedisCluster

from singleton._errors import (
    ConfigurationError,
    LeaseBusy,
    LeaseLost,
    LeaseUnavailable,
    ReplicasNotAcknowledged,
)
from singleton._telemetry import lease_lost, timed_lease_wait
from singleton.lease._eviction import EvictionCheck
from singleton.lease._follow import FollowHold, Settled, adopt_bound
from singleton.lease._keys import LeaseKeys, lease_keys
from singleton.lease._policy import Duration, LeasePolicy, milliseconds, seconds, validity
from singleton.lease._renewal import Clock, LeaseKeeper, Sleep
from singleton.lease._store import Attempt, LeaseStore, Release
from singleton.lease._wakeups import WakeUps

__all__ = ["FollowHold", "Lease", "LeaseHold", "LeasePolicy", "Leases", "Settled"]

logger = logging.getLogger(__name__)

#: Shortest nap between two tries of a busy lease (the PTTL may read 0 just before expiry).
_MIN_NAP = 0.001
#: A lease handed over with less time left than this by our clock is confirmed by a try.
_MIN_GRANT_LEFT = 0.05
#: The longest a cleanup (a release after a failed or cancelled acquire) may take.
_CLEANUP_WITHIN = 1.0
#: A waiter's place in line lives this many ``wake_fallback`` s past each of its tries (it
#: tries at least once per fallback): a waiter that died is skipped that long after.
PLACE_FALLBACKS = 3


def check_limit(limit: object) -> int:
    """``limit`` as a holder count: an int >= 1 (ValueError / TypeError otherwise)."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an int >= 1, not {limit!r}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, not {limit!r}")
    return limit


def refuse_unsupported(policy: LeasePolicy, *, cluster: bool) -> None:
    """ConfigurationError if ``policy`` cannot be kept on this kind of Redis (checked before
    any client is built, too)."""
    if cluster and policy.min_replicas:
        # WAIT must follow the write on the same connection; the cluster client cannot
        # promise that, so refuse rather than confirm nothing.
        raise ConfigurationError("min_replicas is not supported with RedisCluster clients")


class Lease:
    """A lease held by this process: ``name``, its Redis ``key``, the random ``token`` of this
    acquisition and its ``fence`` (strictly increasing per name, issued with the acquisition).

    ``acquired_at`` is when the acquiring command was sent (the injected clock's time). The
    lease is ours for :meth:`remaining` seconds more; every Redis call made for it is bounded
    by that.

    ``after_expiry`` is True when the previous holder did not release the lease — it ran out
    (or was deleted) within one TTL before this acquisition — so that holder may still be
    acting on what it guarded: work it started may land after this acquisition. False after
    a release, or when nobody held it within the last TTL. (It is also True, to be safe,
    when an acquire whose reply was lost is recognised by its retry.)"""

    __slots__ = (
        "_keys",
        "_leases",
        "_limit",
        "_released",
        "_result",
        "_valid_until",
        "acquired_at",
        "after_expiry",
        "fence",
        "name",
        "token",
    )

    def __init__(
        self,
        *,
        leases: Leases,
        name: str,
        keys: LeaseKeys,
        token: str,
        fence: int,
        acquired_at: float,
        after_expiry: bool = False,
        limit: int = 1,
        valid_for: float | None = None,
    ) -> None:
        self._leases = leases
        self._keys = keys
        self._limit = limit
        self.name = name
        self.token = token
        self.fence = fence
        self.acquired_at = acquired_at
        self.after_expiry = after_expiry
        ttl = leases.policy.ttl if valid_for is None else valid_for
        self._valid_until = acquired_at + validity(ttl)
        self._result: str | None = None
        self._released = False

    @property
    def key(self) -> str:
        """The Redis key holding this lease (for ``limit`` > 1, the zset of its holders)."""
        return self._keys.lease if self._limit == 1 else self._keys.holders

    @property
    def limit(self) -> int:
        """How many may hold this lease's name at once (1: a plain lease)."""
        return self._limit

    def remaining(self) -> float:
        """Seconds the lease is still certainly ours by this process's monotonic clock: the
        TTL from when the acquiring (or last extending) command was sent, less the drift
        allowance. 0 once it ran out, was released or was found lost."""
        return max(0.0, self._valid_until - self._leases._clock())

    def end(self) -> None:
        """Count the lease as no longer ours (released, or found lost)."""
        self._valid_until = -math.inf

    def settle(self, result: str) -> None:
        """Release with ``result``: the release wakes this lease's followers (see
        :meth:`Leases.hold_or_follow`) with it, and keeps it readable for
        ``policy.result_ttl``, stamped with this lease's fence. A hold publishes it only when
        its block exits normally; one that raises or is cancelled, or a lost lease, publishes
        nothing adoptable. The last result given counts."""
        if not isinstance(result, str):
            raise TypeError(f"a lease's result must be a str, not {result!r}")
        if self._limit > 1:
            raise ValueError("a lease held with limit > 1 has no followers to settle for")
        self._result = result

    @property
    def result(self) -> str | None:
        """The result this lease was settled with, if it was."""
        return self._result

    async def release(self) -> bool:
        """Give the lease up and wake its waiters (with its result, if it was settled). False
        if it was no longer ours (it ran out, maybe taken by someone else, whose lease stays
        untouched).

        Bounded by the time the lease has left (LeaseUnavailable past it). A release whose
        reply was lost, and which redis-py therefore sent again, recognises its own earlier
        success by the release record, and returns True."""
        return await self._release(self._result)

    async def _release(self, result: str | None, *, shielded: bool = False) -> bool:
        """Release (see :meth:`release`); ``shielded``: a cancellation of the caller propagates
        at once, but the release runs on to its end (or the lease's), and the lease counts as
        given up."""
        self._released = True
        remaining = self.remaining()
        if remaining <= 0:
            logger.warning(
                "lease %r (fence %d) had run out before its release", self.name, self.fence
            )
            return False
        leases = self._leases
        try:
            found = await leases.store.release(
                self._keys,
                self.token,
                self.fence,
                record_ttl_ms=milliseconds(
                    remaining if result is None else max(remaining, leases.policy.result_ttl)
                ),
                result=result,
                within=remaining,
                shield_into=leases._background if shielded else None,
                limit=self._limit,
            )
        except asyncio.CancelledError:
            if shielded:  # the release goes on without us: the lease is not ours to use
                self.end()
            raise
        self.end()
        if found is not Release.RELEASED:
            logger.warning(
                "lease %r (fence %d) was no longer ours at release (%s)",
                self.name,
                self.fence,
                "taken by another holder" if found is Release.TAKEN else "expired or deleted",
            )
            return False
        logger.debug("released lease %r (fence %d)", self.name, self.fence)
        return True

    async def extend(self, ttl: Duration | None = None) -> bool:
        """Reset the lease's TTL (default: the policy's) from now. False if no longer ours.

        Bounded by the time the lease has left (LeaseUnavailable past it)."""
        ttl_s = self._leases.policy.ttl if ttl is None else seconds(ttl, what="ttl")
        if ttl_s <= 0:
            raise ValueError(f"ttl must be > 0, not {ttl!r}")
        sent_at = self._leases._clock()
        remaining = self._valid_until - sent_at
        if remaining <= 0:
            return False
        extended = await self._leases.store.extend(
            self._keys, self.token, milliseconds(ttl_s), within=remaining, limit=self._limit
        )
        if not extended:
            self.end()
        elif self._valid_until != -math.inf:  # not released meanwhile
            self._valid_until = sent_at + validity(ttl_s)
        return extended

    def __repr__(self) -> str:
        limit = "" if self._limit == 1 else f", limit={self._limit}"
        return f"Lease(name={self.name!r}, key={self.key!r}, fence={self.fence}{limit})"


class Leases:
    """Takes leases in one namespace of one Redis (``redis.asyncio`` ``Redis`` or ``RedisCluster``).

    Safe to share between many asyncio tasks of one event loop: each acquisition has its own
    token, kept on its :class:`Lease`. Call :meth:`aclose` when done.
    """

    def __init__(
        self,
        client: Any,
        *,
        namespace: str,
        policy: LeasePolicy | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not callable(getattr(client, "evalsha", None)):
            raise TypeError(f"client must be a redis.asyncio Redis or RedisCluster, not {client!r}")
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"namespace must be a non-empty str, not {namespace!r}")
        if policy is not None and not isinstance(policy, LeasePolicy):
            raise TypeError(f"policy must be a LeasePolicy, not {policy!r}")
        self.policy = policy if policy is not None else LeasePolicy()
        sharded = isinstance(client, RedisCluster)
        refuse_unsupported(self.policy, cluster=sharded)
        self.namespace = namespace
        self.store = LeaseStore(client, sharded=sharded)
        # A dead wake-up connection is noticed within about two fallbacks.
        fallback = self.policy.wake_fallback
        self._wakeups = WakeUps(client, probe_every=fallback, reply_within=fallback)
        self.eviction = EvictionCheck(client)  # warns once if Redis may evict lease keys
        self._clock = clock
        self._sleep = sleep
        self._holds: set[LeaseHold] = set()  # open holds, whose renewals aclose() stops
        #: Shielded releases in flight (their callers were cancelled): aclose() waits for them.
        self._background: set[asyncio.Future[Any]] = set()
        # Tokens: random per Leases, counted within it, so unique without a syscall each.
        self._token_prefix = secrets.token_hex(8)
        self._tokens = itertools.count(1)
        self._ttl_ms = milliseconds(self.policy.ttl)
        self._place_ms = milliseconds(PLACE_FALLBACKS * self.policy.wake_fallback)

    def keys(self, name: str) -> LeaseKeys:
        """Where lease ``name`` lives in Redis."""
        return lease_keys(self.namespace, name)

    def hold(self, name: str, *, wait: Duration | None = None, limit: int = 1) -> LeaseHold:
        """``async with leases.hold(name) as lease:`` — acquire (waiting up to ``wait``, default
        the policy's), renew in the background while held, release on exit.

        ``limit``: how many may hold ``name`` at once across every process (default 1). Each
        holder has its own token, fence and renewal. Waiters are served in arrival order at
        Redis (see :meth:`acquire`). See :class:`LeaseHold` for what happens when the lease
        is lost."""
        return LeaseHold(self, name, wait, check_limit(limit))

    def hold_or_follow(
        self, name: str, *, wait: Duration | None = None, newer_than: int | None = None
    ) -> FollowHold:
        """``async with leases.hold_or_follow(name) as held:`` — like :meth:`hold`, but a caller
        that finds the lease busy may not need it: ``held`` is either

        * a :class:`Lease` (acquired: do the work, ``held.settle(result)``, and the normal
          exit publishes the result to everyone following), or
        * a :class:`Settled` ``(result, fence)``: while this caller waited, a holder of the
          lease (its fence at least that of the holder first found busy) exited normally
          and settled it with ``result``. Nothing was acquired; the block just uses it.

        Every follower of one release adopts its result in the same round (from the release
        message; one that missed it reads the release record), none takes the lease in turn
        to learn it. Without an adoptable result (the holder raised, was cancelled, lost the
        lease, or settled nothing) followers acquire as :meth:`hold` does: still one holder
        at a time. An uncontended call costs what :meth:`hold` costs: two round trips.

        ``newer_than``: the fence of a settled result this caller already got and could not
        use; only a result settled by a later holder (a higher fence) is adopted, also one
        settled before this call. The rules are in ``singleton/lease/_follow.py``."""
        return FollowHold(self, name, wait, newer_than)

    async def acquire(self, name: str, *, wait: Duration | None = None, limit: int = 1) -> Lease:
        """Acquire lease ``name``, waiting up to ``wait`` (default: the policy's) if it is busy.
        ``limit``: one of that many holders of ``name`` at once (default 1).

        Fair: waiters of one name take it in the order their first try reached Redis (FIFO).
        A waiter keeps its place by trying at least once per ``wake_fallback``; one that died
        loses it ``PLACE_FALLBACKS`` fallbacks after its last try. A caller that does not
        wait (``wait=0``) does not queue, and never takes a free lease from the line.

        Not renewed: the caller releases it (or extends it) before :meth:`Lease.remaining`
        runs out. Raises LeaseBusy, LeaseUnavailable (nothing held) or
        ReplicasNotAcknowledged. Cancellation-safe: a cancelled acquire whose script may
        have run gives the lease back before the cancellation propagates.
        """
        lease = await self._take(name, wait, follow=False, limit=check_limit(limit))
        assert isinstance(lease, Lease)  # only a follower can be given a Settled
        return lease

    async def _take(
        self,
        name: str,
        wait: Duration | None,
        *,
        follow: bool,
        newer_than: int | None = None,
        limit: int = 1,
    ) -> Lease | Settled:
        wait_s = self.policy.wait if wait is None else seconds(wait, what="wait")
        if wait_s < 0:
            raise ValueError(f"wait must be >= 0, not {wait!r}")
        self.eviction.start()
        keys = lease_keys(self.namespace, name)
        token = f"{self._token_prefix}{next(self._tokens):x}"
        place_ms = self._place_ms if wait_s > 0 else 0
        sent_at = self._clock()
        # Past a result already seen, a later holder's may be in the record already.
        first_bound = None if newer_than is None or not follow else newer_than + 1
        try:
            attempt = await self._try(
                keys, token, first_bound, place_ms, "1" if follow else "0", limit
            )
            if not attempt.acquired and attempt.result is None:
                if wait_s <= 0:
                    raise LeaseBusy(f"lease {name!r} is held by someone else")
                # A follower adopts only what the holder it found, or a later one, settles
                # (see _follow.py: an unknown fence adopts nothing).
                adopt_from = adopt_bound(attempt.fence, newer_than) if follow else None
                if follow and adopt_from is None:
                    logger.info("lease %r: its holder's fence is unknown; not following it", name)
                attempt, sent_at = await timed_lease_wait(
                    self._wait(
                        name, keys, token, sent_at, sent_at + wait_s, attempt, adopt_from, limit
                    )
                )
        except BaseException:
            if place_ms:  # in line, maybe: give the place up rather than hold up the next
                await self._leave(keys, token, limit)
            raise
        if attempt.result is not None:
            logger.debug("followed lease %r: fence %d settled it", name, attempt.fence)
            return Settled(result=attempt.result, fence=attempt.fence)
        granted_for = attempt.granted_for
        lease = Lease(
            leases=self,
            name=name,
            keys=keys,
            token=token,
            fence=attempt.fence,
            acquired_at=sent_at,
            after_expiry=attempt.after_expiry,
            limit=limit,
            valid_for=granted_for,
        )
        if granted_for is not None:
            # Handed over for its place's life only: the TTL at once, off the caller's path.
            self._lengthen(lease)
        logger.debug("acquired lease %r (fence %d)", name, attempt.fence)
        return lease

    def _lengthen(self, lease: Lease) -> None:
        """Extend a lease handed over by a release to the policy's TTL, in the background (a
        hold's keeper sees its deadline move, or, if this fails, the lease run out)."""

        async def extend() -> None:
            try:
                extended = await lease.extend()
            except LeaseUnavailable as exc:
                logger.warning("could not extend lease %r handed over: %s", lease.name, exc)
                return
            if not extended and not lease._released:  # a release may simply have come first
                logger.warning("lease %r was lost before it was extended", lease.name)

        task = asyncio.get_running_loop().create_task(extend())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _try(
        self,
        keys: LeaseKeys,
        token: str,
        adopt_from: int | None = None,
        place_ms: int = 0,
        bound_mode: str = "0",
        limit: int = 1,
    ) -> Attempt:
        policy = self.policy
        try:
            if not policy.min_replicas:
                return await self.store.acquire(
                    keys,
                    token,
                    self._ttl_ms,
                    adopt_from=adopt_from,
                    place_ms=place_ms,
                    bound_mode=bound_mode,
                    limit=limit,
                )
            attempt, acknowledged = await self.store.acquire_confirmed(
                keys,
                token,
                self._ttl_ms,
                policy.min_replicas,
                milliseconds(policy.replica_timeout),
                adopt_from=adopt_from,
                place_ms=place_ms,
                bound_mode=bound_mode,
                limit=limit,
            )
        except (Exception, asyncio.CancelledError):
            # The script may have run and only its reply been lost, or we were cancelled
            # after it reached Redis (a caller's timeout, the WAIT of min_replicas): give
            # back what may be ours rather than leave it held for the whole TTL.
            await self._forget(keys, token, limit)
            raise
        if attempt.acquired and acknowledged < policy.min_replicas:
            await self._forget(keys, token, limit)
            raise ReplicasNotAcknowledged(
                f"lease {keys.lease!r}: {acknowledged} of {policy.min_replicas} replicas "
                f"acknowledged within {policy.replica_timeout} s; released it again"
            )
        return attempt

    async def _leave(self, keys: LeaseKeys, token: str, limit: int) -> None:
        """Give up a place in line we may have: shielded and bounded, as :meth:`_forget`; a
        place not given up runs out by itself."""
        within = min(_CLEANUP_WITHIN, self.policy.ttl)
        try:
            await self.store.leave(
                keys, token, limit=limit, within=within, shield_into=self._background
            )
        except LeaseUnavailable as exc:
            logger.warning("could not leave the line of %r: %r", keys.lease, exc)

    async def _forget(self, keys: LeaseKeys, token: str, limit: int = 1) -> None:
        """Release a lease we may hold without knowing: shielded (it runs to its end even if
        we are cancelled again) and bounded; it expires with its TTL anyway."""
        within = min(_CLEANUP_WITHIN, self.policy.ttl)
        try:
            await self.store.release(
                keys,
                token,
                0,
                record_ttl_ms=milliseconds(within),
                within=within,
                shield_into=self._background,
                limit=limit,
            )
        except LeaseUnavailable as exc:
            logger.warning("could not clean up %r after a failed acquire: %r", keys.lease, exc)

    async def _wait(
        self,
        name: str,
        keys: LeaseKeys,
        token: str,
        busy_at: float,
        deadline: float,
        busy: Attempt,
        adopt_from: int | None,
        limit: int = 1,
    ) -> tuple[Attempt, float]:
        """Wait for a busy lease (found so by the try sent at ``busy_at``) until ``deadline``:
        the winning attempt (acquired, or — with ``adopt_from`` — a result adopted) and when
        it was sent. Each try keeps our place in line; a release hands the lease to the
        first in line (``next <token> <fence> <until>``), and wakes followers with its result."""
        bound_mode = "0" if adopt_from is None else "2"
        with self._wakeups.watch(keys.channel, token) as signal:
            # Until Redis confirms the subscription a release can slip past unseen, so the
            # next try waits for it — but no longer than a fallback nap.
            await signal.subscribed(self._nap(deadline - self._clock(), busy.pttl_ms))
            while True:  # bounded by the deadline; each pass is woken or naps >= _MIN_NAP
                granted, signal.granted = signal.granted, None
                if granted is not None:
                    valid_for = self._granted_for(granted[1], busy, busy_at)
                    if valid_for is not None:  # handed the lease: held, no round trip
                        return Attempt(True, granted[0], granted_for=valid_for), busy_at
                if adopt_from is not None:
                    settled = Settled.from_message(signal.settled, adopt_from)
                    if settled is not None:  # from the release message: no round trip
                        return Attempt(False, settled.fence, result=settled.result), self._clock()
                signal.clear()
                attempt_at = self._clock()
                attempt = await self._try(
                    keys, token, adopt_from, self._place_ms, bound_mode, limit
                )
                if attempt.acquired or attempt.result is not None:
                    return attempt, attempt_at
                busy, busy_at = attempt, attempt_at
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise LeaseBusy(f"lease {name!r} is still held by someone else after waiting")
                await signal.wait(self._nap(remaining, attempt.pttl_ms))

    def _granted_for(self, until_ms: int, busy: Attempt, busy_at: float) -> float | None:
        """How long a lease handed over until ``until_ms`` (server clock) is ours, counted
        from ``busy_at``, when our last busy try was sent; None: not usable as it stands.

        That try ran at Redis at ``busy.place_until_ms - place_ms`` by the server's clock,
        and no earlier than ``busy_at`` by ours: so the lease is ours at least until
        ``busy_at + (until_ms - that)``, less the drift allowance. This holds whichever
        came first: a hand-over before that try (it then ran out before the try, and this
        comes out in the past) or after it. Not usable with ``min_replicas`` (the next try
        confirms it, with WAIT), nor with under ``_MIN_GRANT_LEFT`` left (the next try finds
        it ours, if it is)."""
        if self.policy.min_replicas or busy.place_until_ms is None:
            return None
        valid_for = (until_ms - busy.place_until_ms + self._place_ms) / 1000
        if busy_at + validity(valid_for) - self._clock() <= _MIN_GRANT_LEFT:
            return None
        return valid_for

    def _nap(self, remaining: float, pttl_ms: int) -> float:
        """How long to sleep if no release is announced: until the holder's TTL runs out,
        the fallback cap (jittered so waiters do not retry in lockstep) or our deadline."""
        fallback = self.policy.wake_fallback * random.uniform(0.5, 1.0)
        if pttl_ms >= 0:
            fallback = min(fallback, pttl_ms / 1000 + _MIN_NAP)
        return max(_MIN_NAP, min(remaining, fallback))

    async def aclose(self) -> None:
        """Stop the background work: renewals of open holds (their keepers still end them
        when their leases run out), the pub/sub connections, and wait for shielded
        releases still running."""
        for hold in list(self._holds):
            hold.stop_renewing()
        await self._wakeups.aclose()
        await self.eviction.aclose()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


class LeaseHold:
    """``async with leases.hold(name) as lease:`` — the lease is held inside the block.

    On exit the lease is released (token-checked, shielded from cancellation, bounded by the
    time the lease has left), also when the block raises or is cancelled. A hold that lasts
    longer than ``renew_every`` is renewed in the background. If the lease is lost meanwhile
    (renewal refused, no renewal answered before the lease's deadline, ``max_hold``
    passed), the holding task is cancelled before the lease can expire in Redis and the
    block exits with :class:`LeaseLost`; a cancellation from outside stays a
    ``CancelledError``. A lease found expired at release also raises LeaseLost (unless the
    block raised, which is not masked). A release that fails because Redis is unreachable is
    logged; the lease then expires with its TTL.
    """

    __slots__ = ("_keeper", "_lease", "_leases", "_limit", "_name", "_wait")

    def __init__(self, leases: Leases, name: str, wait: Duration | None, limit: int = 1) -> None:
        self._leases = leases
        self._name = name
        self._wait = wait
        self._limit = limit
        self._lease: Lease | None = None
        self._keeper: LeaseKeeper | None = None

    async def __aenter__(self) -> Lease:
        holder = holder_task(self._lease is not None, "LeaseHold", "Leases.hold")
        lease = await self._leases.acquire(self._name, wait=self._wait, limit=self._limit)
        self._keep(lease, holder)
        return lease

    def _keep(self, lease: Lease, holder: asyncio.Task[Any]) -> None:
        leases = self._leases
        self._lease = lease
        self._keeper = LeaseKeeper(
            lease=lease,
            holder=holder,
            policy=leases.policy,
            clock=leases._clock,
            sleep=leases._sleep,
        )
        leases._holds.add(self)

    def stop_renewing(self) -> None:
        """Renew no more (the lease then runs out, and the hold ends with it). Idempotent."""
        if self._keeper is not None:
            self._keeper.stop_renewing()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lease, keeper = self._lease, self._keeper
        if lease is None or keeper is None:
            raise RuntimeError("LeaseHold exited without being entered")
        keeper.stop()
        self._leases._holds.discard(self)
        if keeper.lost is not None:
            outside = keeper.outside_cancellation(exc)
            keeper.forgive()
            if lease.remaining() > 0:  # still ours (max_hold passed): give it back
                with contextlib.suppress(LeaseUnavailable):
                    await lease._release(None, shielded=True)
            if outside:
                return  # the CancelledError from outside propagates
            raise LeaseLost(
                f"lease {lease.name!r} (fence {lease.fence}) was lost: {keeper.lost}"
            ) from (None if isinstance(exc, asyncio.CancelledError) else exc)
        try:
            # Shielded: a cancellation arriving now must not leave the lease held for its TTL.
            # Only a normal exit publishes the result the lease was settled with.
            result = lease.result if exc_type is None else None
            released = await lease._release(result, shielded=True)
        except LeaseUnavailable as error:
            logger.warning(
                "could not release lease %r; it expires with its TTL: %s", lease.name, error
            )
            return
        if not released and exc_type is None:
            lease_lost()  # counted for telemetry
            raise LeaseLost(
                f"lease {lease.name!r} (fence {lease.fence}) had expired before it was released; "
                "the guarded work may not have been exclusive"
            )


def holder_task(entered: bool, kind: str, method: str) -> asyncio.Task[Any]:
    """The task entering a hold: it is the one the lease's keeper cancels if the lease is lost."""
    if entered:
        raise RuntimeError(f"a {kind} can be entered only once")
    holder = asyncio.current_task()
    if holder is None:
        raise RuntimeError(f"{method} must be used inside an asyncio task")
    return holder
