"""The one place the starter takes the lease: decide under it and publish the decision with
the release, or adopt the decision a concurrent holder published while we waited.

The lease-level rules (which settled result may be adopted at all) are in
``singleton/lease/_follow.py``; here a settled result is a :class:`Decision`, and whether it
answers us is :meth:`Decision.adopt`'s call::

    turn 1   follow the lease          -> a Lease: decide, settle, release (publish)
                                       -> a decision that answers us: adopted
                                       -> a decision that does not (another reuse policy,
                                          an event's own, another version): turn 2
    turn 2   follow again, past it     -> the next holder's decision, or the lease itself
             (newer_than = its fence)

A follower never drops to a plain hold: a plain hold takes the lease after the next holder's
release and decides afresh, so an instance that finished at once would be started again.
Callers whose policy never adopts (``terminate-existing``, an event) hold the lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from singleton._errors import LeaseBusy, LeaseLost
from singleton.lease import Lease, Leases, Settled
from singleton.starter._decision import Decision, Outcome, StartResult
from singleton.starter._policies import StartPolicy

logger = logging.getLogger(__name__)

#: Decide under the lease just taken: the answer to publish.
Decide = Callable[[Lease], Awaitable[StartResult]]


async def decide_or_adopt(
    leases: Leases,
    name: str,
    instance_id: str,
    policy: StartPolicy,
    decide: Decide,
    *,
    wait: float,
) -> Decision:
    """Our decision (``decide`` under lease ``name``) or an adopted one, within ``wait`` s.

    A BUSY result when the lease stayed busy past the wait. Raises LeaseLost when the lease
    was lost before ``decide`` finished, and whatever ``decide`` raises."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    newer_than: int | None = None
    while True:
        remaining = max(0.0, deadline - loop.time())
        turn = await _turn(
            leases, name, instance_id, policy, decide, wait=remaining, newer_than=newer_than
        )
        if isinstance(turn, Decision):
            return turn
        newer_than = turn  # what we followed did not fit us: follow past it


async def _turn(
    leases: Leases,
    name: str,
    instance_id: str,
    policy: StartPolicy,
    decide: Decide,
    *,
    wait: float,
    newer_than: int | None,
) -> Decision | int:
    """One turn at the lease: our decision, an adopted one, or the fence of a published
    decision that does not answer us."""
    result: StartResult | None = None
    hold = (
        leases.hold_or_follow(name, wait=wait, newer_than=newer_than)
        if policy.shareable
        else leases.hold(name, wait=wait)
    )
    try:
        async with hold as held:
            if isinstance(held, Settled):
                adopted = _adopted(held, policy)
                return held.fence if adopted is None else Decision(policy, adopted)
            result = await decide(held)
            # Published with the release, for the callers following this lease.
            held.settle(Decision(policy, result).to_json())
    except LeaseBusy:
        logger.info("lease on %r stayed busy past the wait; not started", instance_id)
        result = StartResult(outcome=Outcome.BUSY, instance_id=instance_id, runtime_status=None)
    except LeaseLost:
        if result is None:
            # Lost while deciding or starting: the work was cancelled, and whether the
            # host got the start is unknown. A retry starts it at most once.
            raise
        # Decided and done, but the lease had expired by the release: anyone who started
        # after that expiry was stopped only by the host's own duplicate guard.
        logger.warning(
            "lease on %r expired before its release (fence %s); outcome %s stands",
            instance_id,
            result.fence,
            result.outcome.value,
        )
    return Decision(policy, result)


def _adopted(settled: Settled, policy: StartPolicy) -> StartResult | None:
    """Our answer from the decision a concurrent holder published, if it fits our policy."""
    try:
        decision = Decision.from_json(settled.result)
    except ValueError:
        logger.warning("unreadable decision on the lease (fence %d); following on", settled.fence)
        return None
    adopted = decision.adopt(policy)
    if adopted is None:
        logger.info(
            "%r: the decision of fence %d (%s) does not answer this policy; following on",
            decision.result.instance_id,
            settled.fence,
            decision.result.outcome.value,
        )
    else:
        logger.info(
            "%r: adopted the decision of fence %d (%s)",
            adopted.instance_id,
            settled.fence,
            decision.result.outcome.value,
        )
    return adopted
