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
caller the decision does not answer (another reuse policy) follows the lease on, past it, to
the next holder's decision or the lease itself; one whose holder failed (published nothing)
takes the lease. The follow protocol is ``_follow.py``.

A lease taken after its previous holder's lease *ran out* (not released) is the one moment
the status read cannot be trusted: that holder's start may still reach the host. Then, after
the start, the instance is read again and must run this start's input (``_late_start``);
otherwise the answer is the conflict answer, not a 202 whose input was dropped. The common
path — a released or free lease — stays two Durable calls.

The starter knows nothing of HTTP: it takes a Durable client and returns a :class:`StartResult`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable
from typing import Any

from singleton._errors import (
    DurableError,
    InvalidStartOption,
    LeaseBusy,
    LeaseError,
    LeaseUnavailable,
    RaiseEventFailed,
    StartRejected,
    StatusReadFailed,
)
from singleton._telemetry import traced_start
from singleton.lease import Lease, Leases
from singleton.starter._decision import Decision, Outcome, StartResult
from singleton.starter._durable import (
    AnyDurableClient,
    InstanceAlreadyExistsError,
    RuntimeStatus,
    deliver_event,
    hub_name,
    read_status,
    runs_other_input,
    start_orchestration,
    terminate_existing,
)
from singleton.starter._flights import Detached, Flights
from singleton.starter._follow import decide_or_adopt
from singleton.starter._idempotency import (
    IdempotencyRecords,
    fingerprint,
    validate_idempotency_key,
)
from singleton.starter._names import validate_instance_id, validate_orchestrator_name
from singleton.starter._pending import PendingRecordUnreadable, PendingRun, PendingRuns, new_run
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

    client: AnyDurableClient
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
            # The host matches orchestrator names ignoring case (the extension's FunctionName):
            # "Monitor" and "monitor" start the same function, so they are the same request.
            self.orchestrator.casefold(),
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
        pending: PendingRuns | None = None,
    ) -> None:
        self._leases = leases
        self._idempotency = idempotency or IdempotencyRecords(
            leases.store.client, namespace=leases.namespace
        )
        self._terminate_wait = terminate_wait
        #: The ``queue-next`` pending runs (default: in the leases' Redis and namespace).
        self.pending = pending or PendingRuns(leases.store.client, namespace=leases.namespace)
        self._flights: Flights[Decision] = Flights()
        #: The Idempotency-Key answers in progress (each owns its key's claim and record).
        self._keyed: Detached[StartResult] = Detached()
        self.watchdog = Watchdog(leases, terminate_wait=terminate_wait, max_ids=watchdog_max_ids)
        """The watchdog of :meth:`ensure_running`; ``tick(client)`` keeps the watched IDs
        running."""

    async def ensure_running(
        self,
        client: AnyDurableClient,
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

    async def unwatch(self, client: AnyDurableClient, instance_id: str) -> bool:
        """Stop watching ``instance_id`` (its instance is left as it is); ``True`` if watched."""
        return await self.watchdog.unwatch(client, instance_id)

    @traced_start  # a span and the start metrics (singleton/_telemetry.py)
    async def start(
        self,
        client: AnyDurableClient,
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
        start. With ``idempotency_key`` a repeat of the same request to the same instance ID
        within the records' TTL (24 h by default) gets the first answer again (``replayed``)
        and starts nothing. ``wait`` overrides how long to wait for
        another starter's lease on the same ID.

        Raises :class:`~singleton.InvalidInstanceId`, :class:`~singleton.InvalidOrchestratorName`
        or :class:`~singleton.InvalidStartOption` before touching anything;
        :class:`~singleton.IdempotencyKeyReused` / :class:`~singleton.IdempotentRequestInFlight`
        for a reused or still-busy key, :class:`~singleton.IdempotencyRecordUnreadable` for a
        key another version recorded; :class:`~singleton.LeaseUnavailable` when Redis fails
        (nothing started); :class:`~singleton.LeaseLost` when the lease was lost before the start
        was confirmed (a retry starts at most once); a :class:`~singleton.DurableError` when the
        Durable host fails.
        """
        validate_orchestrator_name(orchestrator)
        validate_instance_id(instance_id)
        conflict = ConflictPolicy.parse(conflict)
        if conflict is ConflictPolicy.QUEUE_NEXT and event is not None:
            # A queued run starts later, by whoever comes first: no caller is there to be
            # told whether its event reached it. Refused rather than half-done.
            raise InvalidStartOption(
                "event", event.name, "no event with conflict queue-next (a queued run has none)"
            )
        policy = StartPolicy(
            conflict=conflict,
            reuse=ReusePolicy.parse(reuse),
            event=None if event is None else event.name,
        )
        request = _Request(
            client,
            hub_name(client),
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
        """Answer the first request with ``key``; replay that answer to its repeats.

        The key's whole life (claim, decision, record) runs in a task of its own, which the
        caller only awaits: a caller that goes away (cancelled, timed out) changes nothing of
        what the key answers. Its attempt still decides, and the record keeps that decision,
        so a retry gets the same answer, replayed."""
        return await self._keyed.run(self._answer_key(key, request))

    async def _answer_key(self, key: str, request: _Request) -> StartResult:
        print_ = request.fingerprint()
        wait = self._leases.policy.wait if request.wait is None else request.wait
        found = await self._idempotency.claim(
            request.lease_name, key, print_, wait=wait + self._terminate_wait
        )
        if isinstance(found, Decision):
            return dataclasses.replace(found.result, replayed=True)
        try:
            result = await self._share(request)
        except BaseException:
            await self._idempotency.abandon(found)  # decided nothing: a retry runs afresh
            raise
        if result.outcome is Outcome.BUSY:
            await self._idempotency.abandon(found)  # decided nothing: a retry runs afresh
            return result
        decision = Decision(request.policy, result)
        try:
            await self._idempotency.complete(found, print_, decision)
        except LeaseUnavailable as exc:
            # Decided (maybe started): that stands whatever Redis does now. Keep trying to
            # record it, so that a retry meeting our claim gets this answer, not a new one.
            logger.error(
                "%r: %s, but its Idempotency-Key answer was not kept (%s); retrying that in "
                "the background",
                request.instance_id,
                result.outcome.value,
                exc,
            )
            self._idempotency.complete_later(found, print_, decision)
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
        """Decide under the lease on the ID, or adopt a concurrent holder's decision (the
        follow protocol: ``singleton/starter/_follow.py``)."""
        wait = self._leases.policy.wait if request.wait is None else request.wait

        def decide(lease: Lease) -> Awaitable[StartResult]:
            return self._decide(request, lease.fence, after_expiry=lease.after_expiry)

        return await decide_or_adopt(
            self._leases,
            request.lease_name,
            request.instance_id,
            request.policy,
            decide,
            wait=wait,
        )

    async def _decide(
        self, request: _Request, fence: int, *, after_expiry: bool = False
    ) -> StartResult:
        """Under the lease: one status read, then the policies decide. ``after_expiry``: the
        lease was taken after its previous holder's ran out, so a start of that holder's may
        still land (see :meth:`_start`)."""
        status = await read_status(request.client, request.instance_id)
        if status is not None and status.is_active:
            if after_expiry:
                await self._forget_started_pending(request.client, request.lease_name)
            return await self._on_active(request, status, fence, after_expiry=after_expiry)
        if status is not None:
            # A finished instance: a run queued behind it (queue-next) goes first.
            started = await self._start_pending_run(request.client, request.lease_name, status)
            if started is not None:
                return await self._on_active(request, RuntimeStatus.PENDING, fence)
        if status is not None and not request.policy.reuse.allows(status):
            logger.info("%r is %s; reuse policy refuses a new start", request.instance_id, status)
            return _result(Outcome.REUSE_REJECTED, request, status, fence)
        return await self._start(
            request, status, fence, replacing=status, after_expiry=after_expiry
        )

    async def _on_active(
        self, request: _Request, status: RuntimeStatus, fence: int, *, after_expiry: bool = False
    ) -> StartResult:
        client, instance_id = request.client, request.instance_id
        if request.policy.conflict is ConflictPolicy.TERMINATE_EXISTING:
            reason = f"terminate-existing: replaced by a new start (fence {fence})"
            ended = await terminate_existing(
                client, instance_id, reason, timeout=self._terminate_wait
            )
            return await self._start(
                request, status, fence, replacing=ended, after_expiry=after_expiry
            )
        if request.event is not None:
            await deliver_event(client, instance_id, request.event.name, request.event.data)
            logger.info("raised %r on %r (%s)", request.event.name, instance_id, status.value)
            return _result(Outcome.EVENT_RAISED, request, status, fence)
        if request.policy.conflict is ConflictPolicy.QUEUE_NEXT:
            return await self._queue_next(request, status, fence)
        logger.info("%r is already %s; not started", instance_id, status.value)
        return _result(_existing(request.policy), request, status, fence)

    async def _start(
        self,
        request: _Request,
        status: RuntimeStatus | None,
        fence: int,
        *,
        replacing: RuntimeStatus | None,
        after_expiry: bool = False,
    ) -> StartResult:
        """Start; ``replacing`` is the finished status the start may replace (``None``: no
        instance): a gRPC start replaces that one and no other."""
        client, instance_id = request.client, request.instance_id
        try:
            await start_orchestration(
                client,
                request.orchestrator,
                instance_id,
                request.client_input,
                replacing=replacing,
            )
        except InstanceAlreadyExistsError:
            # The host's own guard (overridableExistingInstanceStates) caught a start we
            # could not see: e.g. one made without this starter.
            return _result(_existing(request.policy), request, RuntimeStatus.RUNNING, fence)
        if after_expiry:
            late = await _late_start(request, fence)
            if late is not None:
                return await self._on_late_start(request, late, fence)
        if request.event is not None:
            try:
                await deliver_event(client, instance_id, request.event.name, request.event.data)
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

    # ------------------------------------------------------------ queue-next (_pending.py)

    async def _queue_next(
        self, request: _Request, status: RuntimeStatus, fence: int
    ) -> StartResult:
        """Under the lease, an active instance: keep this request as the ID's pending run,
        unless one is pending already (the first queued wins)."""
        try:
            run = new_run(
                request.lease_name,
                request.orchestrator,
                request.client_input,
                request.policy.reuse.value,
            )
        except (TypeError, ValueError) as exc:
            raise InvalidStartOption(
                "input", type(request.client_input).__name__, "JSON-serialisable"
            ) from exc
        try:
            queued = await self.pending.queue(run)
        except PendingRecordUnreadable as exc:
            # Another version's run is pending (a rolling deploy): it holds the place.
            logger.warning("%r: %s; not queued", request.instance_id, exc)
            return _result(Outcome.NEXT_ALREADY_QUEUED, request, status, fence)
        if queued is None:
            logger.info("%r is %s; queued run %s as its next", request.instance_id, status, run.id)
            return dataclasses.replace(
                _result(Outcome.QUEUED, request, status, fence), pending_run=run.id
            )
        logger.info(
            "%r is %s and run %s is already queued next; not queued",
            request.instance_id,
            status.value,
            queued.id,
        )
        return dataclasses.replace(
            _result(Outcome.NEXT_ALREADY_QUEUED, request, status, fence), pending_run=queued.id
        )

    async def _start_pending_run(
        self, client: AnyDurableClient, lease_name: str, finished: RuntimeStatus | None
    ) -> PendingRun | None:
        """Under the lease on ``lease_name``, its instance ``finished`` (or absent): start
        the pending run, if any, and delete it. The run started, or ``None``.

        A run whose reuse policy refuses ``finished`` is dropped (logged). The record is
        deleted only after the start: a start that fails leaves it pending."""
        run = await self._readable_pending(lease_name)
        if run is None:
            return None
        instance_id = run.instance_id
        if finished is not None and not ReusePolicy.parse(run.reuse).allows(finished):
            logger.warning(
                "%r ended %s; its queued run %s (reuse %s) is dropped, not started",
                instance_id,
                finished.value,
                run.id,
                run.reuse,
            )
            await self.pending.drop(lease_name, run.id)
            return None
        try:
            await start_orchestration(
                client, run.orchestrator, instance_id, run.input, replacing=finished
            )
        except InstanceAlreadyExistsError:
            logger.info("%r was started elsewhere; its queued run %s waits", instance_id, run.id)
            return None
        await self.pending.drop(lease_name, run.id)
        logger.info("started the queued run %s of %r", run.id, instance_id)
        return run

    async def _readable_pending(self, lease_name: str) -> PendingRun | None:
        """The pending run of ``lease_name``; ``None`` also for a record another version wrote
        (a rolling deploy: a worker of that version starts it), logged."""
        try:
            return await self.pending.get(lease_name)
        except PendingRecordUnreadable as exc:
            logger.warning("%r: %s; left to the version that wrote it", lease_name, exc)
            return None

    async def _forget_started_pending(self, client: AnyDurableClient, lease_name: str) -> None:
        """Under a lease taken after its holder's ran out, an active instance: if it runs the
        pending run's input, that holder started the run and died before deleting it —
        delete it now, so it does not start a second time."""
        run = await self._readable_pending(lease_name)
        if run is None:
            return
        try:
            other = await runs_other_input(client, run.instance_id, run.input)
        except StatusReadFailed as exc:
            logger.warning("%r: could not check its queued run %s: %s", lease_name, run.id, exc)
            return
        if other is None:
            logger.warning(
                "%r runs the input of its queued run %s, started by a holder whose lease ran "
                "out before it deleted the run; deleted now",
                lease_name,
                run.id,
            )
            await self.pending.drop(lease_name, run.id)

    async def start_pending_runs(self, client: AnyDurableClient) -> list[StartResult]:
        """Start every pending ``queue-next`` run of the client's task hub whose instance has
        finished (:meth:`start_pending` for each): one tick of the timer a starter that offers
        ``queue-next`` brings with it. The runs started (a busy ID is tried again next tick)."""
        prefix = f"{hub_name(client)}/"
        started: list[StartResult] = []
        for run in await self.pending.list():
            name = run if isinstance(run, str) else run.lease_name
            if not name.startswith(prefix):
                continue  # another task hub's
            result = await self.start_pending(client, name[len(prefix) :], wait=0)
            if result is not None and result.outcome is Outcome.STARTED:
                started.append(result)
        return started

    async def start_pending(
        self, client: AnyDurableClient, instance_id: str, *, wait: float | None = None
    ) -> StartResult | None:
        """Start the pending ``queue-next`` run of ``instance_id`` if its instance has
        finished: the hook of the watchdog's tick (any caller may use it).

        Under the ID's lease (waiting up to ``wait``, default the leases' policy): reads the
        pending run and the instance's status; starts the run with its input and deletes it
        when the instance is absent or finished. Returns the STARTED result (its
        ``pending_run`` the run's id), a BUSY result when the lease stayed busy, or ``None``
        when nothing was started (no pending run, or the instance is still active).
        Concurrent calls, in any process, start a run once. Raises LeaseUnavailable,
        LeaseLost or a DurableError as :meth:`start` does."""
        validate_instance_id(instance_id)
        hub = hub_name(client)
        lease_name = f"{hub}/{instance_id}"
        if await self._readable_pending(lease_name) is None:
            return None  # the common tick: nothing queued, no lease taken
        budget = self._leases.policy.wait if wait is None else wait
        try:
            async with self._leases.hold(lease_name, wait=budget) as lease:
                status = await read_status(client, instance_id)
                if status is not None and status.is_active:
                    if lease.after_expiry:
                        await self._forget_started_pending(client, lease_name)
                    return None
                run = await self._start_pending_run(client, lease_name, status)
                if run is None:
                    return None
                result = StartResult(
                    outcome=Outcome.STARTED,
                    instance_id=instance_id,
                    runtime_status=status,
                    fence=lease.fence,
                    pending_run=run.id,
                )
                policy = StartPolicy(reuse=ReusePolicy.parse(run.reuse))
                lease.settle(Decision(policy, result).to_json())
                return result
        except LeaseBusy:
            return StartResult(outcome=Outcome.BUSY, instance_id=instance_id, runtime_status=None)

    async def _on_late_start(
        self, request: _Request, status: RuntimeStatus, fence: int
    ) -> StartResult:
        """A late start of the previous holder's runs instead of ours: answer as if we had
        found it running (an event goes to it; nothing is terminated: it is the newer)."""
        if request.event is not None and status.is_active:
            client, name = request.client, request.event.name
            await deliver_event(client, request.instance_id, name, request.event.data)
            return _result(Outcome.EVENT_RAISED, request, status, fence)
        return _result(_existing(request.policy), request, status, fence)


async def _late_start(request: _Request, fence: int) -> RuntimeStatus | None:
    """After a start made under a lease taken from a holder whose lease *ran out*: the
    instance, if it runs another start's input — that holder's start, which reached the host
    after its lease expired and won the host's race (Azure Storage answers both starts 202
    and drops one input). ``None`` when it runs ours (equal inputs count as ours)::

        holder A (fence 7)                      holder B (fence 8)
        read: absent; send start(input a) ...
        (A dies; its lease runs out)            acquire: after_expiry
                                                read: absent (A's start not applied yet)
        host applies A's start                  start(input b): 202, but b is dropped
                                                re-read: the instance runs a, not b -> 409

    Clocks are not compared; only the input. A re-read that fails keeps the 202 (logged):
    the start was made, and no other start was seen."""
    try:
        other = await runs_other_input(request.client, request.instance_id, request.client_input)
    except StatusReadFailed as exc:
        logger.warning(
            "%r started after an expired lease (fence %d), but the check that it runs this "
            "start failed: %s",
            request.instance_id,
            fence,
            exc,
        )
        return None
    if other is None:
        return None
    logger.warning(
        "%r: a start that reached the host after its holder's lease expired won over this "
        "one (fence %d); this start's input was dropped by the host",
        request.instance_id,
        fence,
    )
    return other


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
