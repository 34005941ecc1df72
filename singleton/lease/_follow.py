"""Following a lease: a waiter that may not need the lease adopts what its holder settled.

The protocol, in one place (the lease knows nothing of what the result means)::

    holder H (fence 7)                  follower F
    acquire "x"                         acquire "x": busy, holder's fence 7
    ... work ...                        adopt from 7: wait, subscribed to the release channel
    settle(result); release  ------->   'settled 7 <result>': 7 >= 7, adopt it (no round trip)
      (record '<token> 7 <result>'      a follower that missed the message reads the record
       kept for result_ttl)             with its next try (ADOPT, before ACQUIRE)

* **Adopt only what is concurrent with the wait.** The bound is the fence of the holder
  the follower first found busy: that holder, or a later one, settled while it waited. A
  record of an earlier holder (settled before the wait began) is never adopted.
* **An unknown fence adopts nothing.** The acquire script answers fence 0 when the holder's
  fence key is gone (evicted): no bound can be trusted, so that wait does not follow at all
  (it waits for the lease, as :meth:`Leases.hold` does) rather than adopt a stale record.
* **A follower keeps following.** A result the caller cannot use (another policy, another
  version) is passed back as ``newer_than``: the next turn follows the lease again and
  adopts only what a *later* holder settles (fence above it), or takes the lease itself.
  It never drops to a plain hold, which could miss the next holder's result.
* A holder that raises, is cancelled or loses its lease publishes nothing adoptable: its
  followers acquire in turn, one holder at a time.

The scripts are ``ADOPT`` + ``ACQUIRE`` in ``_scripts.py``; the release message and record are
written by ``RELEASE``; the waiting itself is ``Leases._wait``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from singleton.lease._policy import Duration
from singleton.lease._wakeups import SETTLED_PREFIX

if TYPE_CHECKING:
    from singleton.lease._leases import Lease, LeaseHold, Leases

__all__ = ["FollowHold", "Settled", "adopt_bound"]


@dataclass(frozen=True, slots=True)
class Settled:
    """What :meth:`Leases.hold_or_follow` gives a caller that did not need the lease: while it
    waited, a holder of the lease (``fence``: that holder's, at least the fence of the holder
    it first found busy) finished normally and settled the lease with ``result``."""

    result: str
    fence: int

    @classmethod
    def from_message(cls, message: bytes | None, adopt_from: int) -> Settled | None:
        """The settled result a release message carries, if it may be adopted."""
        if message is None or not message.startswith(SETTLED_PREFIX):
            return None
        fence, _, result = message[len(SETTLED_PREFIX) :].partition(b" ")
        if int(fence) < adopt_from:
            return None
        return cls(result=result.decode(), fence=int(fence))


def adopt_bound(found_fence: int, newer_than: int | None) -> int | None:
    """The lowest fence whose settled result a follower may adopt, or ``None``: adopt nothing.

    ``found_fence`` is the fence of the holder the follower found busy (0: unknown, its fence
    key was evicted); ``newer_than`` the fence of a result the follower already saw and could
    not use. Anything settled above ``newer_than`` was settled while the follower waited, so
    that bound holds even when the found holder's fence is unknown; without it an unknown
    fence gives no bound at all.
    """
    bounds = [found_fence] if found_fence > 0 else []
    if newer_than is not None:
        bounds.append(newer_than + 1)
    return max(bounds) if bounds else None


class FollowHold:
    """``async with leases.hold_or_follow(name) as held:`` — ``held`` is the :class:`Lease`
    (held as by :class:`LeaseHold`) or a :class:`Settled` result (nothing held, nothing to
    release). See :meth:`Leases.hold_or_follow`."""

    __slots__ = ("_entered", "_hold", "_leases", "_name", "_newer_than", "_wait")

    def __init__(
        self, leases: Leases, name: str, wait: Duration | None, newer_than: int | None = None
    ) -> None:
        self._leases = leases
        self._name = name
        self._wait = wait
        self._newer_than = newer_than
        self._hold: LeaseHold | None = None
        self._entered = False  # also when it followed, and so holds nothing

    async def __aenter__(self) -> Lease | Settled:
        from singleton.lease._leases import LeaseHold, holder_task

        holder = holder_task(self._entered, "FollowHold", "Leases.hold_or_follow")
        self._entered = True
        held = await self._leases._take(
            self._name, self._wait, follow=True, newer_than=self._newer_than
        )
        if not isinstance(held, Settled):
            self._hold = LeaseHold(self._leases, self._name, self._wait)
            self._hold._keep(held, holder)
        return held

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._hold is not None:
            await self._hold.__aexit__(exc_type, exc, tb)
