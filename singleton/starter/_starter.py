"""Start a Durable Functions orchestration as a singleton, under the policies the caller chose.

The documented singleton starter reads the status, then starts: two callers can both read
"absent" and both start, and Azure Storage swallows the loser's write, so both are told
"started" while one input is lost. :class:`SingletonStarter` closes that window by holding a
lease on the instance ID across the read and the start — two Durable calls, like the sample::

    caller A                          caller B (another process)
    take lease (ok)                   take lease: busy, follow it...
    read status: absent
    start
    settle: "started, fence 7"
    release lease          ------>    woken with A's decision: adopt it
                                      -> 409 naming the instance A started (nothing read)

Every caller concurrent with a decision is answered by it, in one round, however soon the
instance it started finishes: callers in one process that ask for the same ID under the same
policy share one attempt (single-flight: one lease, one read, one start), and callers in other
processes that waited on its lease adopt the decision its holder published at release. A
caller whose policy differs, or whose holder failed (published nothing), takes the lease itself.

The starter knows nothing of HTTP: it takes a Durable client and returns a :class:`StartResult`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from singleton._errors import (
    DurableError,
    LeaseBusy,
    LeaseError,
    LeaseLost,
    RaiseEventFailed,
    StartRejected,
)
from singleton._telemetry import traced_start
from singleton.lease import Lease, Leases, Settled
from singleton.starter._decision import Decision, Outcome, StartResult
from singleton.starter._durable import (
    DurableClient,
    InstanceAlreadyExistsError,
    RuntimeStatus,
    raise_event,
    read_runtime_status,
    start_instance,
    task_hub_of,
    terminate_and_wait,
)
from singleton.starter._flights import Flights
from singleton.starter._idempotency import (
    IdempotencyRecords,
    fingerprint,
    validate_idempotency_key,
)
from singleton.starter._names import validate_instance_id, validate_orchestrator_name
from singleton.starter._policies import ConflictPolicy, Event, ReusePolicy, StartPolicy
from singleton.starter._watchdog import (
    DEFAULT_MAX_IDS,
    DEFAULT_STUCK_AFTER,
    PassResult,
    Watchdog,
)

logger = logging.getLogger(__name__)

#: How long ``terminate-existing`` waits for the host to report the old instance finished.
DEFAULT_TERMINATE_WAIT = 10.0


@dataclasses.dataclass(frozen=True)
class _Request:
    """One caller's start request, validated."""

    client: DurableClient
    hub: str
    orchestrator: str
    instance_id: str
    client_input: Any
    policy: StartPolicy
    event: Event | None
    wait: float | None

    @property
    def lease_name(self) -> str:
        # The hub is part of the name: two hubs sharing one Redis never block each other.
        return f"{self.hub}/{self.instance_id}"

    def fingerprint(self) -> str:
        policy = self.policy
        event_data = None if self.event is None else self.event.data
        return fingerprint(
            self.orchestrator,
            self.instance_id,
            self.client_input,
            policy.conflict.value,
            policy.reuse.value,
            policy.event,
            event_data,
        )


class SingletonStarter:
    """Starts orchestrations so that at most one instance per ID is active.

    ``leases`` decides the lease's TTL, wait and namespace; ``idempotency`` keeps the answers
    to requests with an Idempotency-Key (default: in the leases' Redis and namespace);
    ``terminate_wait`` bounds how long ``terminate-existing`` (and the watchdog, for a stuck
    Pending instance) waits for the old instance; ``watchdog_max_ids`` bounds the IDs
    :meth:`ensure_running` can watch per task hub.
    """

    def __init__(
        self,
        *,
        leases: Leases,
        idempotency: IdempotencyRecords | None = None,
        terminate_wait: float = DEFAULT_TERMINATE_WAIT,
        watchdog_max_ids: int = DEFAULT_MAX_IDS,
    ) -> None:
        self._leases = leases
        self._idempotency = idempotency or IdempotencyRecords(
            leases.store.client, namespace=leases.namespace
        )
        self._terminate_wait = terminate_wait
        self._flights: Flights[Decision] = Flights()
        self.watchdog = Watchdog(leases, terminate_wait=terminate_wait, max_ids=watchdog_max_ids)
        """The watchdog of :meth:`ensure_running`; ``tick(client)`` keeps the watched IDs
        running."""

    async def ensure_running(
        self,
        client: DurableClient,
        name: str,
        instance_id: str,
        input: Any = None,
        *,
        stuck_after: float = DEFAULT_STUCK_AFTER,
    ) -> PassResult:
        """Watch ``instance_id`` (orchestrator ``name``, started with ``input``) and make sure
        it runs now; from then on every watchdog tick restarts it when it is absent, Failed,
        Terminated or stuck Pending for over ``stuck_after`` seconds (see ``_watchdog.py``)."""
        return await self.watchdog.watch(client, name, instance_id, input, stuck_after=stuck_after)

    async def unwatch(self, client: DurableClient, instance_id: str) -> bool:
        """Stop watching ``instance_id`` (its instance is left as it is); ``True`` if watched."""
        return await self.watchdog.unwatch(client, instance_id)

    @traced_start  # a span and the start metrics (singleton/_telemetry.py)
    async def start(
        self,
        client: DurableClient,
        orchestrator: str,
        instance_id: str,
        client_input: Any = None,
        *,
        conflict: ConflictPolicy | str = ConflictPolicy.FAIL,
        reuse: ReusePolicy | str = ReusePolicy.ALLOW,
        event: Event | None = None,
        idempotency_key: str | None = None,
        wait: float | None = None,
    ) -> StartResult:
        """Start ``orchestrator`` as ``instance_id`` unless the policies say otherwise.

        ``conflict`` decides when an active instance holds the ID, ``reuse`` when a finished
        one does; ``event`` raises an event on the active instance, or on the new one after the
        start. With ``idempotency_key`` a repeat of the same request within 24 h gets the first
        answer again (``replayed``) and starts nothing. ``wait`` overrides how long to wait for
        another starter's lease on the same ID.

        Raises :class:`~singleton.InvalidInstanceId`, :class:`~singleton.InvalidOrchestratorName`
        or :class:`~singleton.InvalidStartOption` before touching anything;
        :class:`~singleton.IdempotencyKeyReused` / :class:`~singleton.IdempotentRequestInFlight`
        for a reused or still-busy key; :class:`~singleton.LeaseUnavailable` when Redis fails
        (nothing started); :class:`~singleton.LeaseLost` when the lease was lost before the start
        was confirmed (a retry starts at most once); a :class:`~singleton.DurableError` when the
        Durable host fails.
        """
        validate_orchestrator_name(orchestrator)
        validate_instance_id(instance_id)
        policy = StartPolicy(
            conflict=ConflictPolicy.parse(conflict),
            reuse=ReusePolicy.parse(reuse),
            event=None if event is None else event.name,
        )
        request = _Request(
            client,
            task_hub_of(client),
            orchestrator,
            instance_id,
            client_input,
            policy,
            event,
            wait,
        )
        if idempotency_key is None:
            return await self._share(request)
        return await self._once_per_key(validate_idempotency_key(idempotency_key), request)

    async def _once_per_key(self, key: str, request: _Request) -> StartResult:
        """Answer the first request with ``key``; replay that answer to its repeats."""
        print_ = request.fingerprint()
        wait = self._leases.policy.wait if request.wait is None else request.wait
        found = await self._idempotency.claim(
            request.hub, key, print_, wait=wait + self._terminate_wait
        )
        if isinstance(found, Decision):
            return dataclasses.replace(found.result, replayed=True)
        try:
            result = await self._share(request)
        except BaseException:
            await self._idempotency.abandon(found)
            raise
        if result.outcome is Outcome.BUSY:
            await self._idempotency.abandon(found)  # decided nothing: a retry runs afresh
        else:
            await self._idempotency.complete(found, print_, Decision(request.policy, result))
        return result

    async def _share(self, request: _Request) -> StartResult:
        """Decide, sharing one attempt with the concurrent callers of this process that ask for
        the same ID under the same policy."""
        policy = request.policy
        if not policy.shareable:
            return (await self._decide_under_lease(request)).result
        key = (request.hub, request.instance_id, policy)

        def attempt() -> Any:
            return self._decide_under_lease(request)

        flight, joined = self._flights.join(key, attempt)
        try:
            decision = await asyncio.shield(flight)
        except (LeaseError, DurableError) as exc:
            if not joined or isinstance(exc, StartRejected):
                raise
            # The attempt we joined decided nothing: take a turn of our own (with whoever
            # else does), still under the lease, so still at most one start.
            logger.info("shared start of %r failed (%r); trying again", request.instance_id, exc)
            flight, joined = self._flights.join(key, attempt)
            decision = await asyncio.shield(flight)
        if not joined:
            return decision.result
        return decision.adopt(policy) or decision.result

    async def _decide_under_lease(self, request: _Request) -> Decision:
        """The one place the lease is taken: decide under it and publish the decision with the
        release — or adopt the decision a concurrent holder published while we waited.

        A shareable policy follows the lease (``hold_or_follow``); a decision it cannot adopt
        (another policy, another version) sends it back for the lease itself, within what is
        left of its wait."""
        policy = request.policy
        wait = self._leases.policy.wait if request.wait is None else request.wait
        deadline = asyncio.get_running_loop().time() + wait
        follow = policy.shareable
        while True:
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
            decision = await self._hold_and_decide(request, follow=follow, wait=remaining)
            if decision is not None:
                return decision
            follow = False  # what we followed did not fit us: take the lease ourselves

    async def _hold_and_decide(
        self, request: _Request, *, follow: bool, wait: float
    ) -> Decision | None:
        """One turn at the lease: our decision, an adopted one, or ``None`` when what we
        followed cannot answer us."""
        result: StartResult | None = None
        name = request.lease_name
        hold = (
            self._leases.hold_or_follow(name, wait=wait)
            if follow
            else self._leases.hold(name, wait=wait)
        )
        try:
            async with hold as held:
                if isinstance(held, Settled):
                    adopted = _adopted(held, request.policy)
                    return None if adopted is None else Decision(request.policy, adopted)
                assert isinstance(held, Lease)
                result = await self._decide(request, held.fence)
                # Published with the release, for the callers following this lease.
                held.settle(Decision(request.policy, result).to_json())
        except LeaseBusy:
            logger.info("lease on %r stayed busy past the wait; not started", request.instance_id)
            result = _result(Outcome.BUSY, request, None, None)
        except LeaseLost:
            if result is None:
                # Lost while deciding or starting: the work was cancelled, and whether the
                # host got the start is unknown. A retry starts it at most once.
                raise
            # Decided and done, but the lease had expired by the release: anyone who started
            # after that expiry was stopped only by the host's own duplicate guard.
            logger.warning(
                "lease on %r expired before its release (fence %s); outcome %s stands",
                request.instance_id,
                result.fence,
                result.outcome.value,
            )
        return Decision(request.policy, result)

    async def _decide(self, request: _Request, fence: int) -> StartResult:
        """Under the lease: one status read, then the policies decide."""
        status = await read_runtime_status(request.client, request.instance_id)
        if status is not None and status.is_active:
            return await self._on_active(request, status, fence)
        if status is not None and not request.policy.reuse.allows(status):
            logger.info("%r is %s; reuse policy refuses a new start", request.instance_id, status)
            return _result(Outcome.REUSE_REJECTED, request, status, fence)
        return await self._start(request, status, fence)

    async def _on_active(self, request: _Request, status: RuntimeStatus, fence: int) -> StartResult:
        client, instance_id = request.client, request.instance_id
        if request.policy.conflict is ConflictPolicy.TERMINATE_EXISTING:
            reason = f"terminate-existing: replaced by a new start (fence {fence})"
            await terminate_and_wait(client, instance_id, reason, timeout=self._terminate_wait)
            return await self._start(request, status, fence)
        if request.event is not None:
            await raise_event(client, instance_id, request.event.name, request.event.data)
            logger.info("raised %r on %r (%s)", request.event.name, instance_id, status.value)
            return _result(Outcome.EVENT_RAISED, request, status, fence)
        logger.info("%r is already %s; not started", instance_id, status.value)
        return _result(_existing(request.policy), request, status, fence)

    async def _start(
        self, request: _Request, status: RuntimeStatus | None, fence: int
    ) -> StartResult:
        client, instance_id = request.client, request.instance_id
        try:
            await start_instance(client, request.orchestrator, instance_id, request.client_input)
        except InstanceAlreadyExistsError:
            # The host's own guard (overridableExistingInstanceStates) caught a start we
            # could not see: e.g. one made without this starter.
            return _result(_existing(request.policy), request, RuntimeStatus.RUNNING, fence)
        if request.event is not None:
            try:
                await raise_event(client, instance_id, request.event.name, request.event.data)
            except RaiseEventFailed as exc:
                raise RaiseEventFailed(
                    f"{instance_id!r} was started (fence {fence}) but its event was not "
                    f"delivered: {exc}"
                ) from exc
        logger.info(
            "started %r as %r (was %s, fence %d)",
            request.orchestrator,
            instance_id,
            status.value if status else "absent",
            fence,
        )
        return _result(Outcome.STARTED, request, status, fence)


def _adopted(settled: Settled, policy: StartPolicy) -> StartResult | None:
    """Our answer from the decision a concurrent holder published, if it fits our policy."""
    try:
        decision = Decision.from_json(settled.result)
    except ValueError:
        logger.warning(
            "unreadable decision on the lease (fence %d); deciding ourselves", settled.fence
        )
        return None
    adopted = decision.adopt(policy)
    if adopted is not None:
        logger.info(
            "%r: adopted the decision of fence %d (%s)",
            adopted.instance_id,
            settled.fence,
            decision.result.outcome.value,
        )
    return adopted


def _existing(policy: StartPolicy) -> Outcome:
    """The answer, without an event, when an active instance holds the ID."""
    if policy.conflict is ConflictPolicy.USE_EXISTING:
        return Outcome.USED_EXISTING
    return Outcome.ALREADY_RUNNING


def _result(
    outcome: Outcome, request: _Request, status: RuntimeStatus | None, fence: int | None
) -> StartResult:
    return StartResult(
        outcome=outcome, instance_id=request.instance_id, runtime_status=status, fence=fence
    )
