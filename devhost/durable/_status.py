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


def parse_runtime_status(text: str) -> RuntimeStatus | None:
    """The status named ``text`` (case-insensitive, like .NET ``Enum.TryParse``), else None."""
    lowered = text.strip().lower()
    for status in RuntimeStatus:
        if status.value.lower() == lowered:
            return status
    return None
