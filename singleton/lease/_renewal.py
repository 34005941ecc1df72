"""The keeper of a held lease: it owns the lease's deadline, renews it, and ends the hold
when the lease is lost.

``Leases.hold`` gives every held lease one keeper. The lease is ours until its *deadline*:
the TTL counted from when the acquiring (or the last successful extending) command was
sent, less an allowance for the drift between this process's clock and Redis's. Redis
cannot expire the key before that, so a holder stopped by then never overlaps the next.

* The deadline is a timer: when it fires and no renewal moved it, the holding task is
  cancelled — whatever any Redis call is doing at that moment. Every call made for the
  lease (extend, release) is itself bounded by the time left, so none outlives it.
* Renewal is a task started only once a hold lasted ``renew_every`` (short holds, like the
  starter's millisecond ones, send nothing). It extends the lease every ``renew_every``.
* ``max_hold`` caps the renewing: past it the holder loses the lease the same way.

Timeline of a partition (ttl 15 s, renew_every 5 s, drift allowance 0.152 s)::

    t=0       acquire sent; deadline 14.848
    t=5       EXTEND sent, no answer (the network is partitioned). redis-py would time out
              and retry for ~25 s; the call is cut at the deadline instead
    t=14.848  the deadline passes: the keeper cancels the holding task;
              its next await raises, and ``hold`` raises LeaseLost
    t>=15     Redis expires the key: only now can another process acquire it

The keeper cancels the holder at most once, and tells that cancellation from one that
came from outside (which must stay a CancelledError) in the same way on every Python
version: by the cancellations the block actually saw (see :meth:`LeaseKeeper.outside_cancellation`).
On Python 3.11+, where tasks count cancellation requests for ``asyncio.timeout`` and
``TaskGroup``, it also takes its own request back from that count (``uncancel``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from singleton._errors import LeaseUnavailable
from singleton._telemetry import lease_lost
from singleton.lease._policy import LeasePolicy

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[object]]
Clock = Callable[[], float]


class Kept(Protocol):
    """What the keeper needs of a lease (``Lease`` provides it)."""

    name: str
    fence: int
    acquired_at: float

    def remaining(self) -> float: ...

    async def extend(self) -> bool: ...

    def end(self) -> None: ...


class LeaseKeeper:
    """Keeps one held lease: its deadline timer, its renewal, the holder's cancellation."""

    def __init__(
        self,
        *,
        lease: Kept,
        holder: asyncio.Task[object],
        policy: LeasePolicy,
        clock: Clock,
        sleep: Sleep,
    ) -> None:
        self._lease = lease
        self._holder = holder
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        #: Why the lease was lost, once it was; the holder was cancelled then.
        self.lost: str | None = None
        self.renewals = 0
        self._cancelled = False
        self._last_error: LeaseUnavailable | None = None
        self._loop = holder.get_loop()
        self._renewal: asyncio.Task[None] | None = None
        # One timer per hold (a hold is often over in a millisecond): it fires first for the
        # first renewal (if that comes before the deadline), then for the deadline.
        remaining = lease.remaining()
        first_renewal = lease.acquired_at + policy.renew_every - clock()
        self._renewal_due = first_renewal < remaining
        self._timer = self._loop.call_later(
            max(0.0, first_renewal) if self._renewal_due else remaining, self._tick
        )

    def _tick(self) -> None:
        if self._renewal_due:  # the first renewal is due: start renewing
            self._renewal_due = False
            self._renewal = self._loop.create_task(self._renew())
        remaining = self._lease.remaining()
        if remaining > 0:  # the deadline is ahead (or moved by a renewal): wait for it
            self._timer = self._loop.call_later(remaining, self._tick)
            return
        cause = f": {self._last_error}" if self._last_error is not None else ""
        self._lose(f"could not be renewed before it ran out{cause}")

    async def _renew(self) -> None:
        policy, lease = self._policy, self._lease
        while True:  # ends with the hold (stop), at max_hold, or when the lease is lost
            if policy.max_hold is not None and self._clock() - lease.acquired_at >= policy.max_hold:
                self._lose(f"held for longer than max_hold ({policy.max_hold} s)", ended=False)
                return
            if lease.remaining() <= 0:
                return  # out of time: the deadline timer ends the hold
            try:
                extended = await lease.extend()  # bounded by the time the lease has left
            except LeaseUnavailable as exc:
                self._last_error = exc
                retry_in = min(policy.renew_every / 4, lease.remaining())
                if retry_in <= 0:
                    return  # out of time: the deadline timer ends the hold
                logger.warning(
                    "renewing lease %r failed, retrying in %.3f s: %s", lease.name, retry_in, exc
                )
                await self._sleep(retry_in)
                continue
            if not extended:
                self._lose("expired or was taken by another holder before it was renewed")
                return
            self.renewals += 1
            self._last_error = None
            logger.debug("renewed lease %r (%d)", lease.name, self.renewals)
            pause = policy.renew_every
            if policy.max_hold is not None:
                pause = min(pause, lease.acquired_at + policy.max_hold - self._clock())
            await self._sleep(max(0.0, pause))

    def _lose(self, reason: str, *, ended: bool = True) -> None:
        if self.lost is not None:
            return
        self.lost = reason
        lease_lost()  # counted for telemetry
        if ended:
            self._lease.end()  # not ours any more: nothing to release
        self._timer.cancel()
        self._renewal_due = False
        if self._renewal is not None and self._renewal is not asyncio.current_task():
            self._renewal.cancel()
        logger.error("lease %r lost: %s; cancelling its holder", self._lease.name, reason)
        lease = self._lease
        self._cancelled = self._holder.cancel(f"lease {lease.name!r} (fence {lease.fence}) lost")

    def stop_renewing(self) -> None:
        """Renew no more; the deadline still ends the hold when the lease runs out."""
        self._renewal_due = False
        if self._renewal is not None:
            self._renewal.cancel()

    def stop(self) -> None:
        """The hold is ending: stop everything (no cancellation can follow). Idempotent."""
        self._timer.cancel()
        self.stop_renewing()

    def outside_cancellation(self, exc: BaseException | None) -> bool:
        """Whether the block that ended with ``exc`` was also cancelled by someone else.

        Counts the CancelledErrors the block saw: ``exc`` and those it was raised while
        handling (``__context__``: a ``finally`` that awaited after one cancellation and got
        another). More than the keeper's own means another cancellation, which must
        propagate. Python 3.10 neither counts cancellation requests nor keeps a
        cancellation's message across awaited tasks, so this is the test that works alike
        on every version."""
        if not isinstance(exc, asyncio.CancelledError):
            return False
        seen: set[int] = set()
        cancellations = 0
        error: BaseException | None = exc
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            cancellations += isinstance(error, asyncio.CancelledError)
            error = error.__context__
        return cancellations > (1 if self._cancelled else 0)

    def forgive(self) -> None:
        """Take the keeper's cancellation request back from the holder's count (Python 3.11+
        counts them for ``asyncio.timeout`` and ``TaskGroup``; 3.10 keeps no count)."""
        if self._cancelled:
            self._cancelled = False
            uncancel = getattr(self._holder, "uncancel", None)
            if uncancel is not None:
                uncancel()
