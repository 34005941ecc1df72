"""Runtime statuses as the Durable Functions host reports them."""

from __future__ import annotations

import enum


class RuntimeStatus(str, enum.Enum):
    """``OrchestrationRuntimeStatus`` names, exactly as the status API spells them."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    SUSPENDED = "Suspended"


# HttpApiHandler.IsCompletedStatus: purge, terminate (410) and raiseEvent (410) use it.
TERMINAL_STATUSES = frozenset(
    {
        RuntimeStatus.COMPLETED,
        RuntimeStatus.FAILED,
        RuntimeStatus.CANCELED,
        RuntimeStatus.TERMINATED,
    }
)

# OverridableStatesExtensions.ToDedupeStatuses(NonRunningStates): an existing instance in one
# of these makes a start of the same ID fail with OrchestrationAlreadyExistsException.
NON_RUNNING_DEDUPE_STATUSES = frozenset(
    {
        RuntimeStatus.RUNNING,
        RuntimeStatus.CONTINUED_AS_NEW,
        RuntimeStatus.PENDING,
        RuntimeStatus.SUSPENDED,
    }
)

# Statuses for which GET status answers 202 with a Location header.
IN_PROGRESS_STATUSES = NON_RUNNING_DEDUPE_STATUSES

# DurableClient.IsOrchestrationSuspendable: SuspendAsync refuses any other status.
SUSPENDABLE_STATUSES = frozenset(
    {RuntimeStatus.RUNNING, RuntimeStatus.PENDING, RuntimeStatus.CONTINUED_AS_NEW}
)

# OrchestrationRuntimeStatus (and DurableTask.Core OrchestrationStatus) numbers: query strings
# may name a status by number (Enum.TryParse). "Unknown" (-1) exists only in the former.
STATUS_NUMBERS: dict[RuntimeStatus, int] = {
    RuntimeStatus.RUNNING: 0,
    RuntimeStatus.COMPLETED: 1,
    RuntimeStatus.CONTINUED_AS_NEW: 2,
    RuntimeStatus.FAILED: 3,
    RuntimeStatus.CANCELED: 4,
    RuntimeStatus.TERMINATED: 5,
    RuntimeStatus.PENDING: 6,
    RuntimeStatus.SUSPENDED: 7,
}
ORCHESTRATION_STATUS_NAMES = {status.value: number for status, number in STATUS_NUMBERS.items()}
RUNTIME_STATUS_NAMES = {**ORCHESTRATION_STATUS_NAMES, "Unknown": -1}
