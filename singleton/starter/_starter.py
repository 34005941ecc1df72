"""Start a Durable Functions orchestration only if no instance with its ID is active.

The documented singleton starter reads the status, then starts: two callers can both read
"absent" and both start, and Azure Storage swallows the loser's write, so both are told
"started" while one input is lost. :class:`SingletonStarter` closes that window by holding a
lease on the instance ID across the read and the start::

    caller A                          caller B
    read status: absent               read status: absent
    take lease (ok)                   take lease: busy, wait for release...
    read status: absent
    start                             ...
    release lease          ------>    woken, take lease (ok)
                                      read status: Pending  -> already running
                                      release lease

The first, lease-free read only answers "already running" early; it never decides to start.
The starter knows nothing of HTTP: it takes a Durable client and returns a :class:`StartResult`.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from typing import Any

from singleton._errors import LeaseBusy, LeaseLost
from singleton._telemetry import traced_start
from singleton.lease import Leases
from singleton.starter._durable import (
    DurableClient,
    InstanceAlreadyExistsError,
    RuntimeStatus,
    read_runtime_status,
    start_instance,
    task_hub_of,
)
from singleton.starter._names import validate_instance_id, validate_orchestrator_name

logger = logging.getLogger(__name__)


class Outcome(str, enum.Enum):
    """What became of a start request."""

    STARTED = "started"
    """This call started the instance."""
    ALREADY_RUNNING = "already_running"
    """An active instance holds the ID; nothing was started."""
    BUSY = "busy"
    """Another starter held the lease on the ID for longer than we waited; nothing was started."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class StartResult:
    """The answer of :meth:`SingletonStarter.start`."""

    outcome: Outcome
    instance_id: str
    runtime_status: RuntimeStatus | None
    """The status that decided the outcome (``None``: absent, or unknown when BUSY)."""
    fence: int | None = None
    """The lease's fencing number when the lease was taken, for audit."""

    @property
    def started(self) -> bool:
        return self.outcome is Outcome.STARTED


class SingletonStarter:
    """Starts orchestrations so that at most one instance per ID is active.

    ``leases`` decides the lease's TTL, wait and namespace. The lease name is the client's
    task hub plus the instance ID, so two hubs sharing one Redis never block each other.
    """

    def __init__(self, *, leases: Leases) -> None:
        self._leases = leases

    @traced_start  # a span and the start metrics (singleton/_telemetry.py)
    async def start(
        self,
        client: DurableClient,
        orchestrator: str,
        instance_id: str,
        client_input: Any = None,
        *,
        wait: float | None = None,
    ) -> StartResult:
        """Start ``orchestrator`` as ``instance_id`` unless an active instance holds the ID.

        ``wait`` overrides how long to wait for another starter's lease on the same ID.

        Raises :class:`~singleton.InvalidInstanceId` / :class:`~singleton.InvalidOrchestratorName`
        before touching anything, :class:`~singleton.LeaseUnavailable` when Redis fails (nothing
        started), :class:`~singleton.LeaseLost` when the lease was lost before the start was
        confirmed (the work is cancelled; a retry starts at most once),
        :class:`~singleton.StatusReadFailed` / :class:`~singleton.StartFailed` when the Durable
        host fails.
        """
        validate_orchestrator_name(orchestrator)
        validate_instance_id(instance_id)

        status = await read_runtime_status(client, instance_id)
        if status is not None and status.is_active:
            return self._already_running(instance_id, status, fence=None)

        lease_name = f"{task_hub_of(client)}/{instance_id}"
        result: StartResult | None = None
        try:
            async with self._leases.hold(lease_name, wait=wait) as lease:
                result = await self._start_under_lease(
                    client, orchestrator, instance_id, client_input, lease.fence
                )
        except LeaseBusy:
            logger.info("lease on %r stayed busy past the wait; not started", instance_id)
            return StartResult(outcome=Outcome.BUSY, instance_id=instance_id, runtime_status=None)
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
        return result

    async def _start_under_lease(
        self,
        client: DurableClient,
        orchestrator: str,
        instance_id: str,
        client_input: Any,
        fence: int,
    ) -> StartResult:
        # Read again under the lease: the first read may be stale by now.
        status = await read_runtime_status(client, instance_id)
        if status is not None and status.is_active:
            return self._already_running(instance_id, status, fence=fence)
        try:
            await start_instance(client, orchestrator, instance_id, client_input)
        except InstanceAlreadyExistsError:
            # The host's own guard (overridableExistingInstanceStates) caught a start we
            # could not see: e.g. one made without this starter.
            return self._already_running(instance_id, RuntimeStatus.RUNNING, fence)
        logger.info(
            "started %r as %r (was %s, fence %d)",
            orchestrator,
            instance_id,
            status.value if status else "absent",
            fence,
        )
        return StartResult(
            outcome=Outcome.STARTED, instance_id=instance_id, runtime_status=status, fence=fence
        )

    @staticmethod
    def _already_running(instance_id: str, status: RuntimeStatus, fence: int | None) -> StartResult:
        logger.info("%r is already %s; not started", instance_id, status.value)
        return StartResult(
            outcome=Outcome.ALREADY_RUNNING,
            instance_id=instance_id,
            runtime_status=status,
            fence=fence,
        )
