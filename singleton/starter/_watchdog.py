"""The watchdog for eternal singletons: keep each watched instance ID running.

A registry of watched IDs lives in Redis (added by :meth:`Watchdog.watch`, i.e.
``SingletonStarter.ensure_running``). Each :meth:`Watchdog.tick` passes over every watched ID
of the client's task hub, and each pass runs under that ID's lease — the very lease the
starter takes for the ID — so two watchdogs (or a watchdog and a starter) never both start it:

* absent, Failed, Terminated (or Canceled): started again, with the registered input;
* Pending for longer than ``stuck_after`` (counted from when a pass first saw it Pending, or
  from our own start): terminated, confirmed no longer active, and only then started again;
  when the terminate does not take (the host's known limits), it is reported as
  ``stayed_pending`` (metric, log) and retried only after the backoff;
* Running, ContinuedAsNew, Suspended: left alone, and the backoff is reset (it ran a whole
  tick since the last restart);
* Completed: left alone (an eternal orchestration that completed meant to), reported.

Backoff, per ID: after the k-th restart in a row the next restart waits ``min(2**(k-1), 32)``
passes (1, 2, 4, ... 32). A failed status read restarts nothing and changes no state.

Registry keys (namespace ``durable-singleton``, hub ``MyHub``; one Redis Cluster slot per hub)::

    durable-singleton:{=watchdog%2FMyHub}:ids     hash: instance ID -> registration JSON
    durable-singleton:{=watchdog%2FMyHub}:state   hash: instance ID -> backoff state JSON

No TTL (a registration lasts until unwatched); at most ``max_ids`` per hub, and each
registration's input at most ``MAX_INPUT_BYTES``.

This module knows nothing of HTTP or Functions.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from singleton._errors import (
    DurableError,
    InvalidStartOption,
    LeaseBusy,
    LeaseError,
    LeaseLost,
    LeaseUnavailable,
    SingletonError,
    StatusReadFailed,
    TerminateFailed,
    TerminateTimedOut,
)
from singleton._telemetry import meter, tracer
from singleton.lease import Leases
from singleton.lease._keys import escape
from singleton.starter._durable import (
    AnyDurableClient,
    InstanceAlreadyExistsError,
    RuntimeStatus,
    hub_name,
    read_status,
    start_orchestration,
    terminate_existing,
)
from singleton.starter._names import validate_instance_id, validate_orchestrator_name

logger = logging.getLogger(__name__)

#: A Pending instance older than this (seconds) is taken for stuck.
DEFAULT_STUCK_AFTER = 300.0
#: Watched IDs per task hub.
DEFAULT_MAX_IDS = 1000
#: A registration's input, JSON-encoded.
MAX_INPUT_BYTES = 64 * 1024
#: The longest wait between two restarts, in passes.
MAX_BACKOFF = 32

restarts_counter = meter.create_counter(
    "durable_singleton.watchdog.restarts",
    unit="{restart}",
    description="Watched instances started again, by reason",
)
passes_counter = meter.create_counter(
    "durable_singleton.watchdog.passes",
    unit="{pass}",
    description="Watchdog passes over a watched instance, by outcome",
)
stuck_counter = meter.create_counter(
    "durable_singleton.watchdog.stuck",
    unit="{instance}",
    description="Stuck Pending instances a terminate did not take out of Pending",
)

_REGISTER = """
-- KEYS[1] - the hub's registry hash
-- ARGV[1] - instance ID, ARGV[2] - registration JSON, ARGV[3] - the most IDs allowed
-- return 1 if registered (added or updated), 0 if the registry is full
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
    or redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    return 1
end
return 0
"""


class WatchlistFull(SingletonError):
    """The hub's registry already holds ``max_ids`` IDs; nothing was registered or started."""


class Reason(str, enum.Enum):
    """Why a watched instance was (or would have been) started again."""

    ABSENT = "absent"
    FAILED = "failed"
    TERMINATED = "terminated"
    STUCK_PENDING = "stuck_pending"
    QUEUED_NEXT = "queued_next"


class PassOutcome(str, enum.Enum):
    """What one pass over a watched ID did."""

    RESTARTED = "restarted"
    RUNNING = "running"
    PENDING = "pending"
    COMPLETED = "completed"
    BACKING_OFF = "backing_off"
    STAYED_PENDING = "stayed_pending"
    ALREADY_RUNNING = "already_running"
    BUSY = "busy"
    LEASE_LOST = "lease_lost"
    STATUS_READ_FAILED = "status_read_failed"
    START_FAILED = "start_failed"
    NOT_WATCHED = "not_watched"
    UNREADABLE = "unreadable"


@dataclasses.dataclass(frozen=True)
class PassResult:
    """One pass's outcome; ``reason`` when a restart was due."""

    instance_id: str
    outcome: PassOutcome
    status: RuntimeStatus | None = None
    reason: Reason | None = None


class QueuedRuns(Protocol):
    """Hook for ``conflict=queue-next``: the ID's pending next run, taken once.

    Called under the ID's lease when its instance is not active. Returns
    ``(orchestrator, input)`` to start instead of the registration, or ``None``.
    """

    async def take(self, hub: str, instance_id: str) -> tuple[str, Any] | None: ...


@dataclasses.dataclass(frozen=True)
class Registration:
    orchestrator: str
    input: Any
    stuck_after: float

    def to_json(self) -> str:
        return json.dumps(
            {"orchestrator": self.orchestrator, "input": self.input, "stuckAfter": self.stuck_after}
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Registration:
        data = json.loads(raw)
        return cls(str(data["orchestrator"]), data.get("input"), float(data["stuckAfter"]))


@dataclasses.dataclass
class _State:
    """Per-ID backoff: restarts in a row, passes still to wait, when it was first seen Pending."""

    restarts: int = 0
    skip: int = 0
    pending_since: float | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"restarts": self.restarts, "skip": self.skip, "pendingSince": self.pending_since}
        )

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> _State:
        if raw is None:
            return cls()
        try:
            data = json.loads(raw)
            return cls(int(data["restarts"]), int(data["skip"]), data.get("pendingSince"))
        except (ValueError, KeyError, TypeError):
            logger.warning("unreadable watchdog state %r; starting afresh", raw)
            return cls()

    def attempted(self) -> None:
        """A restart was made (or tried): the next one waits 1, 2, 4, ... 32 passes."""
        self.restarts += 1
        self.skip = min(2 ** (self.restarts - 1), MAX_BACKOFF)


def backoff_passes(restarts: int) -> int:
    """Passes to wait after the ``restarts``-th restart in a row."""
    return 0 if restarts <= 0 else min(2 ** (restarts - 1), MAX_BACKOFF)


class Watchdog:
    """Keeps watched instance IDs running; see the module docstring for the rules.

    ``leases`` are the starter's (same namespace, so the same lease per ID);
    ``terminate_wait`` bounds the wait for a stuck instance's terminate; ``max_ids`` bounds
    the registry per hub; ``queued`` is the ``queue-next`` hook.
    """

    def __init__(
        self,
        leases: Leases,
        *,
        terminate_wait: float,
        max_ids: int = DEFAULT_MAX_IDS,
        queued: QueuedRuns | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_ids < 1:
            raise ValueError(f"max_ids must be at least 1, not {max_ids!r}")
        self._leases = leases
        self._redis: Any = leases.store.client
        self._terminate_wait = terminate_wait
        self._max_ids = max_ids
        self._queued = queued
        self._clock = clock

    def _keys(self, hub: str) -> tuple[str, str]:
        base = f"{escape(self._leases.namespace)}:{{={escape('watchdog/' + hub)}}}"
        return f"{base}:ids", f"{base}:state"

    async def _redis_call(self, what: str, call: Any) -> Any:
        try:
            return await call
        except Exception as exc:  # redis-py's errors, translated here
            raise LeaseUnavailable(f"watchdog registry: {what} failed: {exc!r}") from exc

    async def watch(
        self,
        client: AnyDurableClient,
        orchestrator: str,
        instance_id: str,
        client_input: Any = None,
        *,
        stuck_after: float = DEFAULT_STUCK_AFTER,
    ) -> PassResult:
        """Register the ID (or update its registration) and make sure it runs now."""
        validate_orchestrator_name(orchestrator)
        validate_instance_id(instance_id)
        if isinstance(stuck_after, bool) or not isinstance(stuck_after, (int, float)):
            raise InvalidStartOption("stuck_after", stuck_after, "seconds > 0")
        if not 0 < stuck_after < float("inf"):
            raise InvalidStartOption("stuck_after", stuck_after, "seconds > 0")
        registration = Registration(orchestrator, client_input, float(stuck_after))
        try:
            encoded = registration.to_json()
        except (TypeError, ValueError) as exc:
            raise InvalidStartOption("input", client_input, "a JSON value") from exc
        if len(encoded.encode()) > MAX_INPUT_BYTES:
            raise InvalidStartOption("input", "...", f"at most {MAX_INPUT_BYTES} bytes as JSON")
        hub = hub_name(client)
        ids, _ = self._keys(hub)
        added = await self._redis_call(
            "register", self._redis.eval(_REGISTER, 1, ids, instance_id, encoded, self._max_ids)
        )
        if not added:
            raise WatchlistFull(
                f"the watchdog of hub {hub!r} already watches {self._max_ids} IDs; "
                f"unwatch one first; {instance_id!r} was not watched nor started"
            )
        logger.info("watching %r (%r, stuck after %g s)", instance_id, orchestrator, stuck_after)
        return await self._pass(client, hub, instance_id, wait=None)

    async def unwatch(self, client: AnyDurableClient, instance_id: str) -> bool:
        """Stop watching the ID; ``True`` if it was watched. Its instance is left as it is.

        Taken under the ID's lease, so no pass that read the registration before is still
        running when this returns: a terminate made after it is not undone. Raises
        :class:`~singleton.LeaseBusy` when the lease stays busy past the leases' wait.
        """
        hub = hub_name(client)
        ids, state = self._keys(hub)
        async with self._leases.hold(f"{hub}/{instance_id}"):
            removed = await self._redis_call("unwatch", self._redis.hdel(ids, instance_id))
            await self._redis_call("unwatch", self._redis.hdel(state, instance_id))
        if removed:
            logger.info("no longer watching %r", instance_id)
        return bool(removed)

    async def watched(self, hub: str) -> dict[str, Registration]:
        """The hub's watched IDs and their registrations."""
        ids, _ = self._keys(hub)
        raw = await self._redis_call("list", self._redis.hgetall(ids))
        found: dict[str, Registration] = {}
        for key, value in raw.items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            try:
                found[name] = Registration.from_json(value)
            except (ValueError, KeyError, TypeError):
                logger.warning("unreadable watchdog registration of %r; skipped", name)
        return found

    async def tick(self, client: AnyDurableClient) -> list[PassResult]:
        """One pass over every watched ID of the client's hub, each under its lease.

        An ID whose lease is busy (another watchdog or a starter on it) is skipped this tick.
        """
        hub = hub_name(client)
        results: list[PassResult] = []
        with tracer.start_as_current_span("singleton.watchdog.tick") as span:
            ids, _ = self._keys(hub)
            # Only the IDs: each pass reads its own registration, under its lease.
            listed = await self._redis_call("list", self._redis.hkeys(ids))
            for key in sorted(listed):
                instance_id = key.decode() if isinstance(key, bytes) else str(key)
                result = await self._pass(client, hub, instance_id, wait=0.0)
                results.append(result)
                if result.outcome in (PassOutcome.RESTARTED, PassOutcome.STAYED_PENDING):
                    span.add_event(
                        f"singleton.watchdog.{result.outcome.value}",
                        {
                            "singleton.instance_id": instance_id,
                            "singleton.watchdog.reason": getattr(result.reason, "value", ""),
                        },
                    )
            span.set_attribute("singleton.watchdog.watched", len(results))
        return results

    async def _pass(
        self, client: AnyDurableClient, hub: str, instance_id: str, *, wait: float | None
    ) -> PassResult:
        try:
            async with self._leases.hold(f"{hub}/{instance_id}", wait=wait):
                result = await self._pass_under_lease(client, hub, instance_id)
        except LeaseBusy:
            result = PassResult(instance_id, PassOutcome.BUSY)
        except LeaseLost as exc:
            # Whether a start got through is unknown; the host's own duplicate guard stands,
            # and the next tick reads the status afresh.
            logger.warning("watchdog pass over %r lost its lease: %s", instance_id, exc)
            result = PassResult(instance_id, PassOutcome.LEASE_LOST)
        except LeaseError as exc:
            logger.warning("watchdog pass over %r: lease failed: %s", instance_id, exc)
            raise
        passes_counter.add(1, {"singleton.watchdog.outcome": result.outcome.value})
        return result

    async def _pass_under_lease(
        self, client: AnyDurableClient, hub: str, instance_id: str
    ) -> PassResult:
        ids, state_key = self._keys(hub)
        raw = await self._redis_call("read", self._redis.hget(ids, instance_id))
        if raw is None:  # unwatched since the tick listed it
            return PassResult(instance_id, PassOutcome.NOT_WATCHED)
        try:
            registration = Registration.from_json(raw)
        except (ValueError, KeyError, TypeError):
            logger.error("unreadable watchdog registration of %r; watch it again", instance_id)
            return PassResult(instance_id, PassOutcome.UNREADABLE)
        state = _State.from_json(
            await self._redis_call("read", self._redis.hget(state_key, instance_id))
        )
        try:
            status = await read_status(client, instance_id)
        except StatusReadFailed as exc:
            # Not "absent": starting now could double-run it. Nothing changes.
            logger.warning("watchdog: %s; nothing restarted", exc)
            return PassResult(instance_id, PassOutcome.STATUS_READ_FAILED)
        try:
            result = await self._decide(client, hub, instance_id, registration, state, status)
        except StatusReadFailed as exc:  # while confirming a terminate
            logger.warning("watchdog: %s; nothing restarted", exc)
            result = PassResult(instance_id, PassOutcome.STATUS_READ_FAILED, status)
        await self._redis_call("write", self._redis.hset(state_key, instance_id, state.to_json()))
        return result

    async def _decide(
        self,
        client: AnyDurableClient,
        hub: str,
        instance_id: str,
        registration: Registration,
        state: _State,
        status: RuntimeStatus | None,
    ) -> PassResult:
        now = self._clock()
        if status is not RuntimeStatus.PENDING:
            state.pending_since = None  # Pending time counts only while it stays Pending
        if status is RuntimeStatus.PENDING:
            if state.pending_since is None:
                state.pending_since = now
            if now - state.pending_since < registration.stuck_after:
                return PassResult(instance_id, PassOutcome.PENDING, status)
            reason = Reason.STUCK_PENDING
        elif status is not None and status.is_active:
            # It has run a whole tick since the last restart: the backoff starts over.
            state.restarts, state.skip = 0, 0
            return PassResult(instance_id, PassOutcome.RUNNING, status)
        elif status is RuntimeStatus.COMPLETED and self._queued is None:
            logger.info("watched %r completed; not restarted", instance_id)
            return PassResult(instance_id, PassOutcome.COMPLETED, status)
        else:
            reason = _reason_of(status)
        if state.skip > 0:
            state.skip -= 1
            return PassResult(instance_id, PassOutcome.BACKING_OFF, status, reason)
        orchestrator, client_input = registration.orchestrator, registration.input
        if reason is not Reason.STUCK_PENDING and self._queued is not None:
            queued = await self._queued.take(hub, instance_id)  # the queue-next hook
            if queued is not None:
                (orchestrator, client_input), reason = queued, Reason.QUEUED_NEXT
            elif status is RuntimeStatus.COMPLETED:
                return PassResult(instance_id, PassOutcome.COMPLETED, status)
        replacing = status  # what the start replaces (a gRPC start names it in its reuse policy)
        if reason is Reason.STUCK_PENDING:
            try:
                replacing = await terminate_existing(
                    client,
                    instance_id,
                    f"watchdog: Pending for over {registration.stuck_after:g} s",
                    timeout=self._terminate_wait,
                )
            except (TerminateTimedOut, TerminateFailed) as exc:
                state.attempted()
                stuck_counter.add(1)
                logger.error(
                    "watched %r is stuck Pending and a terminate did not end it (%s); "
                    "retrying in %d ticks (see durable-extension #1715, #2381, #1380)",
                    instance_id,
                    exc,
                    state.skip,
                )
                return PassResult(instance_id, PassOutcome.STAYED_PENDING, status, reason)
        try:
            await start_orchestration(
                client, orchestrator, instance_id, client_input, replacing=replacing
            )
        except InstanceAlreadyExistsError:
            return PassResult(instance_id, PassOutcome.ALREADY_RUNNING, status, reason)
        except DurableError as exc:
            state.attempted()
            logger.error("watchdog: restarting %r failed: %s", instance_id, exc)
            return PassResult(instance_id, PassOutcome.START_FAILED, status, reason)
        state.attempted()
        state.pending_since = now
        restarts_counter.add(
            1, {"singleton.watchdog.reason": reason.value, "singleton.orchestrator": orchestrator}
        )
        logger.warning(
            "watchdog restarted %r as %r (%s; restart %d in a row, next waits %d ticks)",
            orchestrator,
            instance_id,
            reason.value,
            state.restarts,
            state.skip,
        )
        return PassResult(instance_id, PassOutcome.RESTARTED, status, reason)


def _reason_of(status: RuntimeStatus | None) -> Reason:
    if status is None:
        return Reason.ABSENT
    if status is RuntimeStatus.FAILED:
        return Reason.FAILED
    return Reason.TERMINATED  # Terminated, Canceled (Completed only reaches here to be
    # replaced by a queued run)
