"""Rewind of a Failed instance: what to put back and what to run again.

The Azure Storage provider (DurableTask.AzureStorage ``AzureTableTrackingStore.RewindHistoryAsync``)
rewrites the failed task's history rows so that replay no longer sees the failure, rewinds
failed sub-orchestrations recursively, and sets the instance back to Pending; the failed task
then runs again and the orchestration continues from there.

The engine reaches the same outcome another way: when an episode fails it keeps the row as it
was *before* that episode (``InstanceState.rewind_point``). Rewinding restores that row, takes
the failure that the episode delivered out of the inbox, and runs the failed task again: the
activity is dispatched anew under its original task ID, a failed sub-orchestration is rewound
(or started again if it is gone). Work in flight at the failure (activities, timers) resumes.
An orchestration that failed in its own code (not from a task) replays and, being
deterministic, fails again — as on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from devhost.durable._history import CONTROL_EVENTS, EventType, HistoryEvent
from devhost.durable._state import InstanceState, PendingActivity

_TASK_FAILURES = (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED)


@dataclass(frozen=True)
class FailedChild:
    """A sub-orchestration whose failure failed the parent: rewind it, or start it again."""

    instance_id: str
    name: str
    input: str | None
    task_id: int


@dataclass(frozen=True)
class RewindPlan:
    restored: InstanceState
    rerun_activity: PendingActivity | None = None
    failed_child: FailedChild | None = None


def _scheduled(history: list[HistoryEvent], kind: EventType, task_id: int) -> HistoryEvent | None:
    return next(
        (e for e in history if e["EventType"] == kind and e.get("EventId") == task_id), None
    )


def plan_rewind(failed: InstanceState) -> RewindPlan | None:
    """The row to restore and the task to run again; None if ``failed`` has no rewind point."""
    if failed.rewind_point is None:
        return None
    restored = InstanceState.from_json(failed.rewind_point)
    restored.rewind_point = None
    failure = next((m for m in restored.inbox if m["EventType"] not in CONTROL_EVENTS), None)
    if failure is None or failure["EventType"] not in _TASK_FAILURES:
        return RewindPlan(restored)
    restored.inbox.remove(failure)
    task_id = int(failure["TaskScheduledId"])
    if failure["EventType"] == EventType.TASK_FAILED:
        scheduled = _scheduled(restored.history, EventType.TASK_SCHEDULED, task_id)
        if scheduled is None:
            return RewindPlan(restored)
        activity = PendingActivity(task_id, str(scheduled["Name"]), scheduled.get("Input"))
        restored.activities.append(activity)
        return RewindPlan(restored, rerun_activity=activity)
    created = _scheduled(restored.history, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, task_id)
    if created is None:
        return RewindPlan(restored)
    child = FailedChild(
        str(created["InstanceId"]), str(created["Name"]), created.get("Input"), task_id
    )
    return RewindPlan(restored, failed_child=child)
