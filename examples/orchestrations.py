"""Two orchestrations to start through the singleton starter.

* ``ProcessBatch`` finishes: it fans out one activity per item and sums the results.
* ``Monitor`` is the classic eternal singleton: check, sleep on a durable timer,
  ``continue_as_new`` — forever, until terminated.
* ``AwaitApproval`` waits for an external ``approval`` event or a timeout, whichever is first.

Function names are constants so callers never repeat the strings.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

PROCESS_BATCH = "ProcessBatch"
PROCESS_ITEM = "process_item"
MONITOR = "Monitor"
CHECK_HEALTH = "check_health"
AWAIT_APPROVAL = "AwaitApproval"
APPROVAL_EVENT = "approval"

DEFAULT_MONITOR_INTERVAL_SECONDS = 30.0

blueprint = df.Blueprint()


@blueprint.function_name(PROCESS_BATCH)
@blueprint.orchestration_trigger(context_name="context")
def process_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Input ``{"items": [numbers]}`` (default ``[1, 2, 3]``); output their doubled sum."""
    batch = context.get_input() or {}
    items = batch.get("items", [1, 2, 3]) if isinstance(batch, dict) else [1, 2, 3]
    doubled = yield context.task_all([context.call_activity(PROCESS_ITEM, item) for item in items])
    return {"items": len(items), "total": sum(doubled)}


@blueprint.activity_trigger(input_name="item")
def process_item(item: float) -> float:
    return item * 2


@blueprint.function_name(MONITOR)
@blueprint.orchestration_trigger(context_name="context")
def monitor(context: df.DurableOrchestrationContext) -> Generator[Any, Any, None]:
    """Input ``{"target": str, "intervalSeconds": float, "checks": int}``; runs until terminated."""
    state = context.get_input() or {}
    if not isinstance(state, dict):
        state = {}
    target = str(state.get("target", "example"))
    interval = float(state.get("intervalSeconds", DEFAULT_MONITOR_INTERVAL_SECONDS))
    checks = int(state.get("checks", 0))

    healthy = yield context.call_activity(CHECK_HEALTH, target)
    checks += 1
    context.set_custom_status({"target": target, "healthy": healthy, "checks": checks})

    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=interval))
    context.continue_as_new({"target": target, "intervalSeconds": interval, "checks": checks})


@blueprint.activity_trigger(input_name="target")
def check_health(target: str) -> bool:
    """Stands in for a real probe of ``target``."""
    return bool(target)


@blueprint.function_name(AWAIT_APPROVAL)
@blueprint.orchestration_trigger(context_name="context")
def await_approval(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Input ``{"timeoutSeconds": float}`` (default 3600); output the decision."""
    request = context.get_input() or {}
    timeout = float(request.get("timeoutSeconds", 3600)) if isinstance(request, dict) else 3600.0
    deadline = context.current_utc_datetime + timedelta(seconds=timeout)
    approval = context.wait_for_external_event(APPROVAL_EVENT)
    timer = context.create_timer(deadline)
    winner = yield context.task_any([approval, timer])
    if winner == approval:
        timer.cancel()
        return {"decision": "approved", "by": approval.result}
    return {"decision": "timed out"}
