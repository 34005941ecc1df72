"""A Redis lease: mutual exclusion across processes for a bounded time.

    policy = LeasePolicy(ttl=15.0, wait=5.0)
    leases = Leases(redis_client, namespace="durable-singleton", policy=policy)
    async with leases.hold("MyHub/some-instance-id") as lease:
        ...  # guarded work; lease.fence increases with every acquisition of this name
    await leases.aclose()

The lease knows nothing of what it guards. Its hazards, as a timeline (ttl 15 s)::

    t=0    process A acquires "x" (fence 7) and starts guarded work
    t=15   A has stalled (GC pause, network partition) and its renewals failed: the key expires
    t=15   process B acquires "x" (fence 8) and starts the same work
    t=16   A wakes: its renewal already cancelled it; ``hold`` raises LeaseLost

A holder that must not act after losing the lease can pass ``lease.fence`` to the store
it writes to and have the store refuse fences older than the newest it has seen. Redis
TTLs are not monotonic-clock based and replication is asynchronous (a failover can lose a
lease), so treat the lease as the efficiency lock and keep the guarded store's own
duplicate check as the correctness backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
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
from singleton.lease._keys import LeaseKeys, lease_keys
from singleton.lease._policy import Duration, LeasePolicy, milliseconds, seconds
from singleton.lease._renewal import Clock, Renewal, Sleep
from singleton.lease._store import LeaseStore
from singleton.lease._wakeups import WakeUps

__all__ = ["Lease", "LeaseHold", "LeasePolicy", "Leases"]

logger = logging.getLogger(__name__)

#: Shortest nap between two tries of a busy lease (the PTTL may read 0 just before expiry).
_MIN_NAP = 0.001


class Lease:
    """A lease held by this process: ``name``, its Redis ``key``, the random ``token`` of this
    acquisition and its ``fence`` (strictly increasing per name, issued with the acquisition)."""

    __slots__ = ("_keys", "_leases", "acquired_at", "fence", "name", "token")

    def __init__(
        self,
        *,
        leases: Leases,
        name: str,
        keys: LeaseKeys,
        token: str,
        fence: int,
        acquired_at: float,
    ) -> None:
        self._leases = leases
        self._keys = keys
        self.name = name
        self.token = token
        self.fence = fence
        self.acquired_at = acquired_at

    @property
    def key(self) -> str:
        return self._keys.lease

    async def release(self) -> bool:
        """Give the lease up and wake its waiters. False if it was no longer ours (it expired,
        maybe taken by someone else, whose lease stays untouched)."""
        released = await self._leases.store.release(self._keys, self.token)
        if released:
            logger.debug("released lease %r (fence %d)", self.name, self.fence)
        else:
            logger.warning(
                "lease %r (fence %d) was no longer ours at release", self.name, self.fence
            )
        return released

    async def extend(self, ttl: Duration | None = None) -> bool:
        """Reset the lease's TTL (default: the policy's) from now. False if no longer ours."""
        ttl_s = self._leases.policy.ttl if ttl is None else seconds(ttl, what="ttl")
        if ttl_s <= 0:
            raise ValueError(f"ttl must be > 0, not {ttl!r}")
        return await self._leases.store.extend(self._keys, self.token, milliseconds(ttl_s))

    def __repr__(self) -> str:
        return f"Lease(name={self.name!r}, key={self.key!r}, fence={self.fence})"


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
        if sharded and self.policy.min_replicas:
            # WAIT must follow the write on the same connection; the cluster client cannot
            # promise that, so refuse rather than confirm nothing.
            raise ConfigurationError("min_replicas is not supported with RedisCluster clients")
        self.namespace = namespace
        self.store = LeaseStore(client, sharded=sharded)
        self._wakeups = WakeUps(client)
        self.eviction = EvictionCheck(client)  # warns once if Redis may evict lease keys
        self._clock = clock
        self._sleep = sleep
        self._holds: set[LeaseHold] = set()  # open holds, whose renewals aclose() stops
        self._ttl_ms = milliseconds(self.policy.ttl)

    def keys(self, name: str) -> LeaseKeys:
        """Where lease ``name`` lives in Redis."""
        return lease_keys(self.namespace, name)

    def hold(self, name: str, *, wait: Duration | None = None) -> LeaseHold:
        """``async with leases.hold(name) as lease:`` — acquire (waiting up to ``wait``, default
        the policy's), renew in the background while held, release on exit.

        See :class:`LeaseHold` for what happens when the lease is lost."""
        return LeaseHold(self, name, wait)

    async def acquire(self, name: str, *, wait: Duration | None = None) -> Lease:
        """Acquire lease ``name``, waiting up to ``wait`` (default: the policy's) if it is busy.

        Not renewed: the caller releases it (or extends it) before its TTL runs out.
        Raises LeaseBusy, LeaseUnavailable (nothing held) or ReplicasNotAcknowledged.
        """
        wait_s = self.policy.wait if wait is None else seconds(wait, what="wait")
        if wait_s < 0:
            raise ValueError(f"wait must be >= 0, not {wait!r}")
        self.eviction.start()
        keys = lease_keys(self.namespace, name)
        token = secrets.token_hex(16)
        started = self._clock()
        acquired, number = await self._try(keys, token)
        if not acquired:
            if wait_s <= 0:
                raise LeaseBusy(f"lease {name!r} is held by someone else")
            number, started = await timed_lease_wait(
                self._wait(name, keys, token, started + wait_s)
            )
        lease = Lease(
            leases=self, name=name, keys=keys, token=token, fence=number, acquired_at=started
        )
        logger.debug("acquired lease %r (fence %d)", name, number)
        return lease

    async def _try(self, keys: LeaseKeys, token: str) -> tuple[bool, int]:
        policy = self.policy
        try:
            if not policy.min_replicas:
                return await self.store.acquire(keys, token, self._ttl_ms)
            acquired, number, acknowledged = await self.store.acquire_confirmed(
                keys, token, self._ttl_ms, policy.min_replicas, milliseconds(policy.replica_timeout)
            )
        except LeaseUnavailable:
            # The script may have run and only its reply been lost: give back what may be ours.
            await self._forget(keys, token)
            raise
        if acquired and acknowledged < policy.min_replicas:
            await self._forget(keys, token)
            raise ReplicasNotAcknowledged(
                f"lease {keys.lease!r}: {acknowledged} of {policy.min_replicas} replicas "
                f"acknowledged within {policy.replica_timeout} s; released it again"
            )
        return acquired, number

    async def _forget(self, keys: LeaseKeys, token: str) -> None:
        """Best-effort release of a lease we may hold without knowing; it expires anyway."""
        try:
            await asyncio.wait_for(self.store.release(keys, token), min(1.0, self.policy.ttl))
        except (LeaseUnavailable, TimeoutError) as exc:
            logger.warning("could not clean up %r after a failed acquire: %r", keys.lease, exc)

    async def _wait(
        self, name: str, keys: LeaseKeys, token: str, deadline: float
    ) -> tuple[int, float]:
        """Wait for a busy lease until ``deadline``: (fence, when the winning try began)."""
        async with self._wakeups.watch(
            keys.channel, timeout=max(_MIN_NAP, deadline - self._clock())
        ) as signal:
            while True:  # bounded by the deadline; each pass is woken or naps >= _MIN_NAP
                signal.clear()
                attempt_at = self._clock()
                acquired, number = await self._try(keys, token)
                if acquired:
                    return number, attempt_at
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise LeaseBusy(f"lease {name!r} is still held by someone else after waiting")
                await signal.wait(self._nap(remaining, number))

    def _nap(self, remaining: float, pttl_ms: int) -> float:
        """How long to sleep if no release is announced: until the holder's TTL runs out,
        the fallback cap (jittered so waiters do not retry in lockstep) or our deadline."""
        fallback = self.policy.wake_fallback * random.uniform(0.5, 1.0)
        if pttl_ms >= 0:
            fallback = min(fallback, pttl_ms / 1000 + _MIN_NAP)
        return max(_MIN_NAP, min(remaining, fallback))

    async def aclose(self) -> None:
        """Stop the background work: renewals of open holds (their leases then run out with
        their TTL) and the pub/sub listeners."""
        for hold in list(self._holds):
            hold.stop_renewing()
        await self._wakeups.aclose()
        await self.eviction.aclose()


class LeaseHold:
    """``async with leases.hold(name) as lease:`` — the lease is held inside the block.

    On exit the lease is released (token-checked), also when the block raises or is
    cancelled. A hold that lasts longer than ``renew_every`` is renewed in the background.
    If the lease is lost meanwhile (renewal refused or impossible, ``max_hold`` passed),
    the holding task is cancelled and the block exits with :class:`LeaseLost`; a
    cancellation from outside stays a ``CancelledError``. A lease found expired at release
    also raises LeaseLost (unless the block raised, which is not masked). A release that
    fails because Redis is unreachable is logged; the lease then expires with its TTL.
    """

    __slots__ = ("_holder", "_lease", "_leases", "_name", "_renewal", "_timer", "_wait")

    def __init__(self, leases: Leases, name: str, wait: Duration | None) -> None:
        self._leases = leases
        self._name = name
        self._wait = wait
        self._lease: Lease | None = None
        self._holder: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._renewal: Renewal | None = None

    async def __aenter__(self) -> Lease:
        if self._lease is not None:
            raise RuntimeError("a LeaseHold can be entered only once")
        holder = asyncio.current_task()
        if holder is None:
            raise RuntimeError("Leases.hold must be used inside an asyncio task")
        leases = self._leases
        lease = self._lease = await leases.acquire(self._name, wait=self._wait)
        self._holder = holder
        # Only a timer for now: holds shorter than renew_every never renew at all.
        self._timer = holder.get_loop().call_later(leases.policy.renew_every, self._start_renewing)
        leases._holds.add(self)
        return lease

    def _start_renewing(self) -> None:
        lease, holder, leases = self._lease, self._holder, self._leases
        if lease is None or holder is None:
            return
        self._renewal = Renewal(
            name=lease.name,
            extend=lease.extend,
            holder=holder,
            acquired_at=lease.acquired_at,
            policy=leases.policy,
            clock=leases._clock,
            sleep=leases._sleep,
        )

    def stop_renewing(self) -> None:
        """Cancel the renewal timer, or the renewal once it runs. Idempotent."""
        if self._timer is not None:
            self._timer.cancel()
        if self._renewal is not None:
            self._renewal.stop()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lease, holder = self._lease, self._holder
        if lease is None or holder is None:
            raise RuntimeError("LeaseHold exited without being entered")
        self.stop_renewing()
        self._leases._holds.discard(self)
        lost = self._renewal.lost if self._renewal is not None else None
        if lost is not None:
            # Undo our own cancellation; one from outside (still counted) must propagate.
            holder.uncancel()
            with contextlib.suppress(LeaseUnavailable):
                await _release_shielded(lease.release)
            if holder.cancelling():
                return
            raise LeaseLost(f"lease {lease.name!r} (fence {lease.fence}) was lost: {lost}") from (
                None if isinstance(exc, asyncio.CancelledError) else exc
            )
        try:
            if exc_type is None:
                released = await lease.release()
            else:
                # Release even when cancelled; a second cancellation must not cut it short.
                released = await _release_shielded(lease.release)
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


async def _release_shielded(release: Callable[[], Awaitable[bool]]) -> bool:
    return await asyncio.shield(release())
