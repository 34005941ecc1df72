"""History events in the PascalCase shape azure-functions-durable replays.

Every event carries ``EventType`` (DurableTask.Core ``EventType`` number), ``EventId``,
``IsPlayed`` and ``Timestamp`` (ISO 8601 with ``Z``: mixing naive and aware times breaks the
SDK's ``current_utc_datetime``).
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

HistoryEvent = dict[str, Any]


class EventType(enum.IntEnum):
    """DurableTask.Core ``EventType`` numbers (the SDK's ``HistoryEventType``)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC_EVENT = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20


# Events that a client or a finished task sends to an instance and that an episode delivers
# to the orchestrator (anything else in an inbox is a control message).
CONTROL_EVENTS = frozenset(
    {EventType.EXECUTION_TERMINATED, EventType.EXECUTION_SUSPENDED, EventType.EXECUTION_RESUMED}
)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_status_time(moment: datetime) -> str:
    """The status API's ``ToString("s") + "Z"``: whole seconds."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def event(
    event_type: EventType, at: datetime, *, event_id: int = -1, **fields: Any
) -> HistoryEvent:
    """One history event; ``fields`` are the type's own PascalCase keys."""
    return {
        "EventType": int(event_type),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_timestamp(at),
        **fields,
    }
