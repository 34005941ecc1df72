"""Runs orchestrations, activities and timers the way the Durable Functions host does.

Each orchestration advances in *episodes*: the engine appends ``OrchestratorStarted`` and ONE
new event to the history, lets the SDK replay it (``_replay.run_episode``), turns the new
actions into history events with sequence ids, then appends ``OrchestratorCompleted``.

Sequence ids must match the SDK's own counter exactly (a wrong id only warns and the
orchestration hangs). The SDK numbers, in the order it meets them: every action except
WaitForExternalEvent (compound actions depth-first, already-scheduled children skipped), and
inside a ``*WithRetry`` call a retry timer after each failure and a re-attempt after each
timer. Delivering one event per episode keeps the engine's counter in step with the SDK's:
the SDK allocates the retry ids while it processes the event, before user code yields.

All state changes happen on the event loop thread, one episode at a time, so an episode is
atomic with respect to the management API.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from devhost.durable._functions import FunctionRegistry
from devhost.durable._history import (
    CONTROL_EVENTS,
    EventType,
    HistoryEvent,
    event,
    format_timestamp,
)
from devhost.durable._payloads import context_input
from devhost.durable._replay import run_episode
from devhost.durable._rewind import plan_rewind
from devhost.durable._state import InstanceState, PendingActivity, RetryPlan
from devhost.durable._status import TERMINAL_STATUSES, RuntimeStatus
from devhost.durable._store import InstanceStore
from devhost.durable._timers import TimerIndex

logger = logging.getLogger(__name__)

# SDK action types (azure.durable_functions.models.actions.ActionType).
CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
WAIT_FOR_EXTERNAL_EVENT = 6
WHEN_ANY = 11
WHEN_ALL = 12
_COMPOUND = (WHEN_ANY, WHEN_ALL)
_UNSUPPORTED = {7: "CallEntity", 8: "CallHttp", 9: "SignalEntity"}

_MAX_EPISODES_PER_WAKE = 10_000


def leaf_actions(actions: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Actions depth-first with compound actions opened, in the SDK's numbering order."""
    for action in actions:
        if action.get("actionType") in _COMPOUND:
            yield from leaf_actions(action.get("compoundActions") or [])
        else:
            yield action


def _retry_plan(
    kind: str,
    name: str,
    payload: Any,
    retry: dict[str, Any],
    *,
    child_instance_id: str | None = None,
) -> RetryPlan:
    """The retry bookkeeping of a ``*WithRetry`` action, from its ``retryOptions``."""
    return RetryPlan(
        kind=kind,
        name=name,
        input=payload,
        max_attempts=int(retry.get("maxNumberOfAttempts", 1)),
        interval_ms=int(retry.get("firstRetryIntervalInMilliseconds", 0)),
        child_instance_id=child_instance_id,
    )


def _as_host_input(action_input: str | None) -> str | None:
    """How the host stores an input the worker sent in an action (continue-as-new, a
    sub-orchestration): the worker sends JSON *text*, the host keeps that string as a JSON
    value (OutOfProcOrchestrationShim: ``action.Input`` is an object, serialized again), exactly
    as it keeps the body the client posts. So the status API shows every generation's input the
    same way, and the SDK's ``get_input()`` decodes that text (see ``_payloads``)."""
    return None if action_input is None else json.dumps(action_input)


class _EpisodeWork:
    """Side effects decided in an episode, carried out only after the state is saved."""

    def __init__(self) -> None:
        self.activities: list[PendingActivity] = []
        self.timers: list[tuple[int, str]] = []
        self.cancelled_timers: list[int] = []
        self.children: list[tuple[str, str, str | None, int]] = []
        self.messages: list[tuple[str, str | None, HistoryEvent]] = []


class Engine:
    """The background executor; ``DurableBackend`` owns it and calls ``start``/``stop``."""

    def __init__(
        self,
        *,
        registry: FunctionRegistry,
        store: InstanceStore,
        now: Callable[[], datetime],
    ) -> None:
        self._registry = registry
        self._store = store
        self._now = now
        self._ready: dict[str, None] = {}
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._timers = TimerIndex(fire=self._fire_timer, now=now)
        self._activity_tasks: set[asyncio.Task[None]] = set()
        self._running = False

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._wakeup = asyncio.Event()
        for state in self._store.list_all():
            self._resume_in_flight(state)
        self._worker = asyncio.create_task(self._work_loop(), name="devhost-durable-worker")

    async def stop(self) -> None:
        self._running = False
        self._timers.clear()
        tasks = [t for t in self._activity_tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if self._worker is not None:
            self._worker.cancel()
            tasks.append(self._worker)
            self._worker = None
        # Activities in worker threads cannot be interrupted; their results are dropped.
        await asyncio.gather(*tasks, return_exceptions=True)

    def _resume_in_flight(self, state: InstanceState) -> None:
        """After a restart: re-arm timers, re-run activities, replay pending messages."""
        if state.status in TERMINAL_STATUSES:
            return
        for task_id, fire_at in state.timers.items():
            self._arm_timer(state.instance_id, state.execution_id, task_id, fire_at)
        for activity in state.activities:
            self._dispatch_activity(state.instance_id, state.execution_id, activity)
        if state.inbox:
            self._mark_ready(state.instance_id)

    # ----------------------------------------------------------------- management

    def create_instance(
        self,
        *,
        name: str,
        instance_id: str,
        raw_input: str | None,
        version: str = "",
        parent: tuple[str, str, int] | None = None,
    ) -> InstanceState:
        """Write a fresh Pending instance (replacing any old row) and queue its start."""
        self._cancel_timers(instance_id)
        now = self._now()
        execution_id = uuid.uuid4().hex
        state = InstanceState(
            instance_id=instance_id,
            name=name,
            execution_id=execution_id,
            status=RuntimeStatus.PENDING,
            input=raw_input,
            created_time=format_timestamp(now),
            last_updated_time=format_timestamp(now),
            version=version,
        )
        if parent is not None:
            state.parent_instance_id, state.parent_execution_id, state.parent_task_id = parent
        state.inbox.append(self._execution_started(state, now))
        self._store.save(state)
        self._mark_ready(instance_id)
        return state

    def send(self, instance_id: str, message: HistoryEvent) -> bool:
        """Queue a client message (terminate, raise event, suspend, resume)."""
        state = self._store.load(instance_id)
        if state is None:
            return False
        state.inbox.append(message)
        self._store.save(state)
        self._mark_ready(instance_id)
        return True

    def forget(self, instance_id: str) -> None:
        """Drop in-flight work of a purged instance."""
        self._cancel_timers(instance_id)
        self._ready.pop(instance_id, None)

    def rewind(self, instance_id: str) -> bool:
        """Put a Failed instance back to before its failure and run the failed task again
        (see ``_rewind``); False when there is nothing to rewind to."""
        failed = self._store.load(instance_id)
        plan = None if failed is None else plan_rewind(failed)
        if plan is None:
            return False
        state = plan.restored
        state.last_updated_time = format_timestamp(self._now())
        self._store.save(state)
        self._resume_in_flight(state)
        child = plan.failed_child
        if child is not None and not self.rewind(child.instance_id):
            self._start_child(state, child.instance_id, child.name, child.input, child.task_id)
        return True

    # ----------------------------------------------------------------- scheduling

    def _mark_ready(self, instance_id: str) -> None:
        self._ready[instance_id] = None
        self._wakeup.set()

    async def _work_loop(self) -> None:
        while self._running:
            await self._wakeup.wait()
            self._wakeup.clear()
            for _ in range(_MAX_EPISODES_PER_WAKE):
                if not self._ready:
                    break
                instance_id = next(iter(self._ready))
                del self._ready[instance_id]
                try:
                    self._advance(instance_id)
                except Exception:
                    logger.exception("episode of %r crashed", instance_id)
                # Let HTTP handlers and completions interleave with long chains of episodes.
                await asyncio.sleep(0)
            if self._ready:
                self._wakeup.set()

    def _cancel_timers(self, instance_id: str) -> None:
        self._timers.cancel_instance(instance_id)

    def _arm_timer(self, instance_id: str, execution_id: str, task_id: int, fire_at: str) -> None:
        if self._running:
            self._timers.arm(instance_id, execution_id, task_id, fire_at)

    def _fire_timer(self, instance_id: str, execution_id: str, task_id: int, fire_at: str) -> None:
        fired = event(EventType.TIMER_FIRED, self._now(), TimerId=task_id, FireAt=fire_at)
        self._deliver(instance_id, execution_id, fired, timer_id=task_id)

    def _dispatch_activity(
        self, instance_id: str, execution_id: str, activity: PendingActivity
    ) -> None:
        if not self._running:
            return
        task = asyncio.create_task(self._run_activity(instance_id, execution_id, activity))
        self._activity_tasks.add(task)
        task.add_done_callback(self._activity_tasks.discard)

    async def _run_activity(
        self, instance_id: str, execution_id: str, activity: PendingActivity
    ) -> None:
        definition = self._registry.activities.get(activity.name)
        if definition is None:
            # TaskNonexistentActivityShim: the activity fails, the orchestration decides.
            message = self._registry.unknown_activity_message(activity.name)
            outcome = self._task_failed(activity, message, details=None)
        else:
            try:
                datum = meta.Datum(type="json", value=activity.input or "null")
                argument = ActivityTriggerConverter.decode(datum, trigger_metadata=None)
                kwargs = {definition.parameter: argument}
                if inspect.iscoroutinefunction(definition.function):
                    result = await definition.function(**kwargs)
                else:
                    loop = asyncio.get_running_loop()
                    result = await loop.run_in_executor(None, lambda: definition.function(**kwargs))
                encoded = ActivityTriggerConverter.encode(result, expected_type=None)
                outcome = event(
                    EventType.TASK_COMPLETED,
                    self._now(),
                    TaskScheduledId=activity.task_id,
                    Result=encoded.value,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = self._task_failed(
                    activity, f"{type(exc).__name__}: {exc}", details=traceback.format_exc()
                )
        self._deliver(instance_id, execution_id, outcome, activity_id=activity.task_id)

    def _task_failed(
        self, activity: PendingActivity, message: str, *, details: str | None
    ) -> HistoryEvent:
        return event(
            EventType.TASK_FAILED,
            self._now(),
            TaskScheduledId=activity.task_id,
            Reason=f"Activity function '{activity.name}' failed: {message}",
            Details=details,
        )

    def _deliver(
        self,
        instance_id: str,
        execution_id: str | None,
        message: HistoryEvent,
        *,
        activity_id: int | None = None,
        timer_id: int | None = None,
    ) -> None:
        """Put a completion into an instance's inbox, unless its execution is gone."""
        state = self._store.load(instance_id)
        if state is None or (execution_id is not None and state.execution_id != execution_id):
            logger.debug("dropped a message for a gone execution of %r", instance_id)
            return
        if state.status in TERMINAL_STATUSES:
            return
        if activity_id is not None:
            state.activities = [a for a in state.activities if a.task_id != activity_id]
        if timer_id is not None:
            state.timers.pop(timer_id, None)
        state.inbox.append(message)
        self._store.save(state)
        self._mark_ready(instance_id)

    # ----------------------------------------------------------------- episodes

    def _advance(self, instance_id: str) -> None:
        state = self._store.load(instance_id)
        if state is None or not state.inbox:
            return
        if state.status in TERMINAL_STATUSES:
            state.inbox.clear()
            self._store.save(state)
            return
        work = _EpisodeWork()
        self._apply_control_messages(state, work)
        delivered = None
        if state.status not in TERMINAL_STATUSES and state.status != RuntimeStatus.SUSPENDED:
            delivered = next((m for m in state.inbox if m["EventType"] not in CONTROL_EVENTS), None)
            if delivered is not None:
                state.inbox.remove(delivered)
                self._run_episode(state, delivered, work)
        self._store.save(state)
        self._carry_out(state, work)
        if delivered is not None and state.inbox and state.status != RuntimeStatus.SUSPENDED:
            self._mark_ready(instance_id)

    def _apply_control_messages(self, state: InstanceState, work: _EpisodeWork) -> None:
        now = self._now()
        for message in [m for m in state.inbox if m["EventType"] in CONTROL_EVENTS]:
            state.inbox.remove(message)
            kind = message["EventType"]
            if state.status in TERMINAL_STATUSES:
                continue
            state.history.append(message)
            state.last_updated_time = format_timestamp(now)
            if kind == EventType.EXECUTION_TERMINATED:
                state.status = RuntimeStatus.TERMINATED
                # DTFx keeps the reason text as the output; the status API parses it
                # (DurableClient.ParseToJToken), so reason=123 reads back as 123.
                state.output = message.get("Input")
                self._finish(state, work, failed_reason=f"terminated: {message.get('Input')}")
            elif kind == EventType.EXECUTION_SUSPENDED:
                if state.status in (RuntimeStatus.RUNNING, RuntimeStatus.PENDING):
                    state.status = RuntimeStatus.SUSPENDED
            elif kind == EventType.EXECUTION_RESUMED and state.status == RuntimeStatus.SUSPENDED:
                state.status = RuntimeStatus.RUNNING

    def _run_episode(
        self, state: InstanceState, delivered: HistoryEvent, work: _EpisodeWork
    ) -> None:
        now = self._now()
        orchestrator = self._registry.orchestrators.get(state.name)
        if delivered["EventType"] == EventType.EXECUTION_STARTED:
            state.history = []
            state.played = 0
            state.played_json = []
            state.status = RuntimeStatus.RUNNING
        decisions: list[HistoryEvent] = []
        state.history.append(event(EventType.ORCHESTRATOR_STARTED, now))
        self._retry_bookkeeping(state, delivered, decisions, work, now)
        state.history.append(delivered)
        if orchestrator is None:
            message = self._registry.unknown_orchestrator_message(state.name)
            self._fail(state, work, message, now)
            return
        result = run_episode(
            orchestrator.handle,
            instance_id=state.instance_id,
            history=state.history,
            played_json=state.played_history_json(),
            input_value=context_input(state.input),
            parent_instance_id=state.parent_instance_id,
        )
        state.custom_status = (
            None if result.custom_status is None else json.dumps(result.custom_status)
        )
        if state.timer_positions or state.leaves_seen < 0:
            # A timer's ``isCanceled`` can change in any later episode: read every leaf.
            first = 0
            leaves = list(leaf_actions(result.actions))
            already = sum(1 for _ in leaf_actions(result.actions[: state.actions_seen]))
        else:
            # Replay schema V2 only appends actions: those after the ones seen are the new
            # ones, so an episode's cost does not grow with the actions before it.
            first = already = state.leaves_seen
            leaves = list(leaf_actions(result.actions[state.actions_seen :]))
        state.actions_seen = max(state.actions_seen, len(result.actions))
        state.leaves_seen = first + len(leaves)
        continue_as_new_input: str | None = None
        continued = False
        unsupported: str | None = None
        for position, action in enumerate(leaves, start=first):
            if position < already:
                continue
            kind = action.get("actionType")
            if kind == CONTINUE_AS_NEW:
                state.next_sequence += 1
                continued = True
                continue_as_new_input = action.get("input")
            elif kind == WAIT_FOR_EXTERNAL_EVENT:
                continue
            elif kind in _UNSUPPORTED:
                unsupported = _UNSUPPORTED[int(kind)]
            else:
                self._schedule(state, action, position, decisions, work, now)
        self._cancel_abandoned_timers(state, first, leaves, work)
        state.history.extend(decisions)
        if unsupported is not None and result.error is None:
            result.error = (
                f"devhost does not support {unsupported} actions (entities/HTTP are out of scope)"
            )
        if result.error is not None:
            self._fail(state, work, result.error, now)
            return
        if result.is_done and continued:
            self._continue_as_new(state, continue_as_new_input, work, now)
            return
        if result.is_done:
            state.status = RuntimeStatus.COMPLETED
            state.output = json.dumps(result.output)
            state.history.append(
                event(
                    EventType.EXECUTION_COMPLETED,
                    now,
                    OrchestrationStatus="Completed",
                    Result=state.output,
                )
            )
            self._finish(state, work)
        self._close_episode(state, now)

    def _close_episode(self, state: InstanceState, now: datetime) -> None:
        state.history.append(event(EventType.ORCHESTRATOR_COMPLETED, now))
        # The next episode replays this one: its events are played from now on. They are
        # replaced, never changed in place (stores share history events with their copies).
        history = state.history
        for position in range(state.played, len(history)):
            history[position] = {**history[position], "IsPlayed": True}
        state.played = len(history)
        state.last_updated_time = format_timestamp(now)

    def _retry_bookkeeping(
        self,
        state: InstanceState,
        delivered: HistoryEvent,
        decisions: list[HistoryEvent],
        work: _EpisodeWork,
        now: datetime,
    ) -> None:
        """Play DTFx's RetryInterceptor: after a failure a timer, after the timer a re-attempt."""
        kind = delivered["EventType"]
        if kind in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED):
            state.retries.pop(delivered["TaskScheduledId"], None)
        elif kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
            plan = state.retries.get(delivered["TaskScheduledId"])
            if plan is not None:
                timer_id = state.next_sequence
                state.next_sequence += 1
                fire_at = format_timestamp(now + timedelta(milliseconds=plan.interval_ms))
                decisions.append(
                    event(EventType.TIMER_CREATED, now, event_id=timer_id, FireAt=fire_at)
                )
                state.retry_timers[timer_id] = delivered["TaskScheduledId"]
                state.timers[timer_id] = fire_at
                work.timers.append((timer_id, fire_at))
        elif kind == EventType.TIMER_FIRED and delivered["TimerId"] in state.retry_timers:
            failed_id = state.retry_timers.pop(delivered["TimerId"])
            plan = state.retries.pop(failed_id)
            if plan.attempt < plan.max_attempts:
                plan.attempt += 1
                task_id = state.next_sequence
                state.next_sequence += 1
                state.retries[task_id] = plan
                if plan.kind == "activity":
                    self._schedule_activity(
                        state, task_id, plan.name, plan.input, decisions, work, now
                    )
                else:
                    self._schedule_child(
                        state,
                        task_id,
                        plan.name,
                        plan.input,
                        plan.child_instance_id,
                        decisions,
                        work,
                        now,
                    )

    def _schedule(
        self,
        state: InstanceState,
        action: dict[str, Any],
        position: int,
        decisions: list[HistoryEvent],
        work: _EpisodeWork,
        now: datetime,
    ) -> None:
        kind = action.get("actionType")
        task_id = state.next_sequence
        state.next_sequence += 1
        name = str(action.get("functionName"))
        payload = action.get("input")
        retry = action.get("retryOptions") or {}
        if kind in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY):
            self._schedule_activity(state, task_id, name, payload, decisions, work, now)
            if kind == CALL_ACTIVITY_WITH_RETRY:
                state.retries[task_id] = _retry_plan("activity", name, payload, retry)
        elif kind in (CALL_SUB_ORCHESTRATOR, CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            child_id = action.get("instanceId") or f"{state.instance_id}:{task_id:04d}"
            self._schedule_child(state, task_id, name, payload, child_id, decisions, work, now)
            if kind == CALL_SUB_ORCHESTRATOR_WITH_RETRY:
                state.retries[task_id] = _retry_plan(
                    "suborchestration", name, payload, retry, child_instance_id=child_id
                )
        elif kind == CREATE_TIMER:
            fire_at = str(action.get("fireAt"))
            decisions.append(event(EventType.TIMER_CREATED, now, event_id=task_id, FireAt=fire_at))
            state.timer_positions[position] = task_id
            if not action.get("isCanceled"):
                state.timers[task_id] = fire_at
                work.timers.append((task_id, fire_at))
        else:
            logger.warning("unknown action type %r in %r", kind, state.instance_id)

    def _schedule_activity(
        self,
        state: InstanceState,
        task_id: int,
        name: str,
        payload: str | None,
        decisions: list[HistoryEvent],
        work: _EpisodeWork,
        now: datetime,
    ) -> None:
        decisions.append(
            event(EventType.TASK_SCHEDULED, now, event_id=task_id, Name=name, Input=payload)
        )
        pending = PendingActivity(task_id=task_id, name=name, input=payload)
        state.activities.append(pending)
        work.activities.append(pending)

    def _schedule_child(
        self,
        state: InstanceState,
        task_id: int,
        name: str,
        payload: str | None,
        child_id: str | None,
        decisions: list[HistoryEvent],
        work: _EpisodeWork,
        now: datetime,
    ) -> None:
        child = child_id or f"{state.instance_id}:{task_id:04d}"
        decisions.append(
            event(
                EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
                now,
                event_id=task_id,
                Name=name,
                InstanceId=child,
                Input=payload,
            )
        )
        work.children.append((child, name, payload, task_id))

    def _cancel_abandoned_timers(
        self, state: InstanceState, first: int, leaves: list[dict[str, Any]], work: _EpisodeWork
    ) -> None:
        """A timer the orchestrator cancelled (task_any lost) need not fire; ``leaves`` are
        the episode's leaf actions from position ``first`` on."""
        for position, task_id in state.timer_positions.items():
            index = position - first
            cancelled = 0 <= index < len(leaves) and leaves[index].get("isCanceled")
            if cancelled and state.timers.pop(task_id, None) is not None:
                work.cancelled_timers.append(task_id)

    def _fail(self, state: InstanceState, work: _EpisodeWork, error: str, now: datetime) -> None:
        # The stored row is still the one from before this episode: it is the rewind point.
        before = self._store.load(state.instance_id)
        state.rewind_point = None if before is None else before.to_json()
        message = f"Orchestrator function '{state.name}' failed: {error}"
        state.status = RuntimeStatus.FAILED
        state.output = json.dumps(message)
        state.history.append(
            event(
                EventType.EXECUTION_COMPLETED,
                now,
                OrchestrationStatus="Failed",
                Result=state.output,
            )
        )
        self._finish(state, work, failed_reason=message)
        self._close_episode(state, now)

    def _finish(
        self, state: InstanceState, work: _EpisodeWork, *, failed_reason: str | None = None
    ) -> None:
        """The execution ended: drop its outstanding work and tell a parent orchestration."""
        work.cancelled_timers.extend(state.timers)
        state.timers.clear()
        state.activities.clear()
        state.retries.clear()
        state.retry_timers.clear()
        state.inbox.clear()
        if state.parent_instance_id is None or state.parent_task_id is None:
            return
        now = self._now()
        if state.status == RuntimeStatus.COMPLETED:
            notice = event(
                EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                now,
                TaskScheduledId=state.parent_task_id,
                Result=state.output,
            )
        else:
            notice = event(
                EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                now,
                TaskScheduledId=state.parent_task_id,
                Reason=failed_reason,
                Details=None,
            )
        work.messages.append((state.parent_instance_id, state.parent_execution_id, notice))

    def _continue_as_new(
        self, state: InstanceState, new_input: str | None, work: _EpisodeWork, now: datetime
    ) -> None:
        carried = list(state.inbox)
        work.cancelled_timers.extend(state.timers)
        self._close_episode(state, now)
        state.status = RuntimeStatus.CONTINUED_AS_NEW
        state.input = _as_host_input(new_input)
        state.output = None
        state.execution_id = uuid.uuid4().hex
        state.next_sequence = 0
        state.actions_seen = 0
        state.leaves_seen = 0
        state.timers.clear()
        state.timer_positions.clear()
        state.activities.clear()
        state.retries.clear()
        state.retry_timers.clear()
        # Unprocessed external events carry over to the new generation.
        state.inbox = [self._execution_started(state, now), *carried]

    def _execution_started(self, state: InstanceState, now: datetime) -> HistoryEvent:
        parent = None
        if state.parent_instance_id is not None:
            parent = {
                "OrchestrationInstance": {
                    "InstanceId": state.parent_instance_id,
                    "ExecutionId": state.parent_execution_id,
                },
                "TaskScheduleId": state.parent_task_id,
            }
        return event(
            EventType.EXECUTION_STARTED,
            now,
            Name=state.name,
            Input=state.input,
            Version=state.version,
            OrchestrationInstance={
                "InstanceId": state.instance_id,
                "ExecutionId": state.execution_id,
            },
            ParentInstance=parent,
        )

    def _carry_out(self, state: InstanceState, work: _EpisodeWork) -> None:
        for task_id in work.cancelled_timers:
            self._timers.cancel(state.instance_id, task_id)
        for task_id, fire_at in work.timers:
            if task_id in state.timers:
                self._arm_timer(state.instance_id, state.execution_id, task_id, fire_at)
        for activity in work.activities:
            if any(a.task_id == activity.task_id for a in state.activities):
                self._dispatch_activity(state.instance_id, state.execution_id, activity)
        for child_id, name, payload, task_id in work.children:
            self._start_child(state, child_id, name, payload, task_id)
        for target, execution_id, message in work.messages:
            self._deliver(target, execution_id, message)

    def _start_child(
        self, parent: InstanceState, child_id: str, name: str, payload: str | None, task_id: int
    ) -> None:
        if name not in self._registry.orchestrators:
            failure = event(
                EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                self._now(),
                TaskScheduledId=task_id,
                Reason=self._registry.unknown_orchestrator_message(name),
                Details=None,
            )
            self._deliver(parent.instance_id, parent.execution_id, failure)
            return
        self.create_instance(
            name=name,
            instance_id=child_id,
            raw_input=_as_host_input(payload),
            parent=(parent.instance_id, parent.execution_id, task_id),
        )
