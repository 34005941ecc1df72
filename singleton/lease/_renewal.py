"""Background renewal of a lease held by ``Leases.hold``.

Nothing runs for short holds: ``hold`` arms a timer for ``renew_every`` after acquisition
and cancels it on exit, so the starter's millisecond holds never send an extend (nor build
a Renewal). Once the timer fires, a Renewal task extends the lease every ``renew_every``
with the token-checked EXTEND script.

A failed renewal is never silent. Timeline of a loss (ttl 15 s, renew_every 5 s)::

    t=0    task A acquires, enters the guarded block
    t=5    renewal: EXTEND -> 0 (the key was flushed, or an operator deleted it)
           -> the renewal cancels task A and records why
    t=5+   task A's next await raises CancelledError inside the block;
           ``hold`` turns it into LeaseLost on exit (an outside cancellation stays a
           CancelledError)

Redis errors during renewal are retried until the lease's last known expiry is near;
the holder loses the lease only when it can no longer be sure of it. ``max_hold`` caps
the renewing: past it the holder loses the lease the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from singleton._errors import LeaseUnavailable
from singleton._telemetry import lease_lost
from singleton.lease._policy import LeasePolicy

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[object]]
Clock = Callable[[], float]


class Renewal:
    """Keeps one lease alive for the task holding it; cancels that task if it cannot."""

    def __init__(
        self,
        *,
        name: str,
        extend: Callable[[], Awaitable[bool]],
        holder: asyncio.Task[object],
        acquired_at: float,
        policy: LeasePolicy,
        clock: Clock,
        sleep: Sleep,
    ) -> None:
        self._name = name
        self._extend = extend
        self._holder = holder
        self._acquired_at = acquired_at
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        #: Why the lease was lost, once it was; the holder was cancelled then.
        self.lost: str | None = None
        self.renewals = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        policy = self._policy
        valid_until = self._acquired_at + policy.ttl
        while True:  # ends with the hold (stop), at max_hold, or when the lease is lost
            if policy.max_hold is not None and self._clock() - self._acquired_at >= policy.max_hold:
                self._lose(f"held for longer than max_hold ({policy.max_hold} s)")
                return
            attempt_at = self._clock()
            try:
                extended = await self._extend()
            except LeaseUnavailable as exc:
                retry_in = policy.renew_every / 4
                if attempt_at + retry_in >= valid_until:
                    self._lose(f"could not be renewed before it expired: {exc}")
                    return
                logger.warning(
                    "renewing lease %r failed, retrying in %.3f s: %s", self._name, retry_in, exc
                )
                await self._sleep(retry_in)
                continue
            if not extended:
                self._lose("expired or was taken by another holder before it was renewed")
                return
            self.renewals += 1
            valid_until = attempt_at + policy.ttl
            logger.debug("renewed lease %r (%d)", self._name, self.renewals)
            await self._sleep(policy.renew_every)

    def _lose(self, reason: str) -> None:
        self.lost = reason
        lease_lost()  # counted for telemetry
        logger.error("lease %r lost: %s; cancelling its holder", self._name, reason)
        self._holder.cancel(f"lease {self._name!r} lost")

    def stop(self) -> None:
        """Stop renewing (the hold is ending). Idempotent."""
        if not self._task.done():
            self._task.cancel()
