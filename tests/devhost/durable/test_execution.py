"""Orchestrations run through the SDK's replay protocol: every feature the backend supports.

A wrong sequence id does not raise: the SDK only warns and the orchestration hangs. So each
test here waits (bounded) for a terminal status, and the history tests pin the ids.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from devhost.durable._history import EventType, event, utc_now
from devhost.durable._replay import run_episode
from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import Served, wait_for_status


async def history_of(served: Served, http: aiohttp.ClientSession, instance_id: str) -> Any:
    """The engine's own history (the status API merges and hides the ids these tests pin)."""
    return [
        {**e, "EventType": "".join(p.title() for p in EventType(e["EventType"]).name.split("_"))}
        for e in served.backend.history(instance_id)
        if e["EventType"] not in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED)
    ]


def ids(history: list[dict[str, Any]], kind: str) -> list[int]:
    return [e["EventId"] for e in history if e["EventType"] == kind]


async def test_activity_sequence_with_ids_0_1_2(
    served: Served, http: aiohttp.ClientSession
) -> None:
    await served.client.start_new(o.SEQUENCE, "seq", ["a", "b", "c"])
    status = await wait_for_status(served.client, "seq", "Completed")
    assert status.output == ["Hello a!", "Hello b!", "Hello c!"]
    history = await history_of(served, http, "seq")
    assert ids(history, "TaskScheduled") == [0, 1, 2]
    completed = [e["TaskScheduledId"] for e in history if e["EventType"] == "TaskCompleted"]
    assert completed == [0, 1, 2]
    assert history[0]["EventType"] == "ExecutionStarted"
    assert history[-1]["EventType"] == "ExecutionCompleted"


async def test_async_activity_is_awaited(served: Served) -> None:
    await served.client.start_new(o.ASYNC_ACTIVITY, "async-act", "Oslo")
    status = await wait_for_status(served.client, "async-act", "Completed")
    assert status.output == "Hello async Oslo!"


async def test_fan_out_task_all(served: Served, http: aiohttp.ClientSession) -> None:
    await served.client.start_new(o.FAN_OUT, "fan", 5)
    status = await wait_for_status(served.client, "fan", "Completed")
    assert status.output == [f"Hello {i}!" for i in range(5)]
    assert sorted(ids(await history_of(served, http, "fan"), "TaskScheduled")) == [0, 1, 2, 3, 4]


async def test_durable_timer_fires_on_the_wall_clock(served: Served) -> None:
    await served.client.start_new(o.TIMER, "timer", 0.2)
    running = await served.client.get_status("timer")
    assert running.runtime_status.value in ("Pending", "Running")
    status = await wait_for_status(served.client, "timer", "Completed")
    # current_utc_datetime advanced to the episode after the timer fired.
    assert status.output >= 0.2


async def test_external_event_completes_a_waiting_orchestration(served: Served) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, "go", None)
    await wait_for_status(served.client, "go", "Running")
    await served.client.raise_event("go", "go", {"n": 7})
    status = await wait_for_status(served.client, "go", "Completed")
    # The client posts json.dumps(data): Azure hands the orchestrator that JSON text, quotes
    # and all (durable-python #295); the host stores a raised event's body as sent.
    assert status.output == {"got": '{"n": 7}'}


async def test_event_raised_before_it_is_awaited_is_buffered(served: Served) -> None:
    await served.client.start_new(o.BUFFERED_EVENT, "early", None)
    await wait_for_status(served.client, "early", "Running")
    await served.client.raise_event("early", "early", "kept")
    status = await wait_for_status(served.client, "early", "Completed")
    assert status.output == '"kept"'  # double-encoded by the client, as in Azure


async def test_task_any_event_beats_timer(served: Served, http: aiohttp.ClientSession) -> None:
    await served.client.start_new(o.EVENT_OR_TIMEOUT, "any-event", 30)
    await wait_for_status(served.client, "any-event", "Running")
    await served.client.raise_event("any-event", "approve", "yes")
    status = await wait_for_status(served.client, "any-event", "Completed")
    # "yes" arrives with its quotes: the client double-encodes event data (see above).
    assert status.output == {"outcome": "approved", "value": '"yes"', "after": "Hello approved!"}
    history = await history_of(served, http, "any-event")
    # Timer took id 0 (the event takes none), the follow-up activity id 1.
    assert ids(history, "TimerCreated") == [0]
    assert ids(history, "TaskScheduled") == [1]


async def test_task_any_timer_beats_event(served: Served) -> None:
    await served.client.start_new(o.EVENT_OR_TIMEOUT, "any-timer", 0.1)
    status = await wait_for_status(served.client, "any-timer", "Completed")
    assert status.output == {"outcome": "timed out"}


async def test_sub_orchestrations_and_a_failing_child(
    served: Served, http: aiohttp.ClientSession
) -> None:
    await served.client.start_new(o.PARENT, "parent", None)
    status = await wait_for_status(served.client, "parent", "Completed", "Failed")
    assert status.runtime_status.value == "Completed", status.output
    assert status.output["children"] == ["child:Hello a!", "child:Hello b!"]
    assert "orchestrator broke on purpose" in status.output["failure"]
    named_child = await served.client.get_status("parent-child-b", show_input=True)
    assert named_child.runtime_status.value == "Completed"
    assert named_child.output == "child:Hello b!"
    history = await history_of(served, http, "parent")
    assert ids(history, "SubOrchestrationInstanceCreated") == [0, 1, 2]


async def test_continue_as_new_runs_new_executions(served: Served) -> None:
    await served.client.start_new(o.COUNTER, "counter", {"n": 0, "stop": 3})
    status = await wait_for_status(served.client, "counter", "Completed")
    assert status.output == {"n": 3, "stop": 3}


async def test_custom_status_follows_the_orchestrator(served: Served) -> None:
    await served.client.start_new(o.CUSTOM_STATUS, "custom", None)
    status = await wait_for_status(served.client, "custom", "Running")
    assert status.custom_status == {"stage": 1}
    await served.client.raise_event("custom", "next", None)
    stage_two = await _wait_custom(served, "custom", {"stage": 2})
    assert stage_two.runtime_status.value == "Running"
    await served.client.raise_event("custom", "next", None)
    assert (await wait_for_status(served.client, "custom", "Completed")).output == "done"


async def _wait_custom(served: Served, instance_id: str, wanted: Any) -> Any:
    from tests.devhost.durable.conftest import wait_for

    return await wait_for(
        lambda: served.client.get_status(instance_id), lambda s: s.custom_status == wanted
    )


async def test_orchestrator_failure_is_failed_with_the_hosts_message(
    served: Served, http: aiohttp.ClientSession
) -> None:
    await served.client.start_new(o.FAILING, "fails", None)
    status = await wait_for_status(served.client, "fails", "Failed")
    assert status.output.startswith(f"Orchestrator function '{o.FAILING}' failed: ")
    assert "orchestrator broke on purpose" in status.output
    async with http.get(served.webhook("instances/fails")) as response:
        assert response.status == 200
    url = served.webhook("instances/fails?returnInternalServerErrorOnFailure=true")
    async with http.get(url) as response:
        assert response.status == 500


async def test_retry_succeeds_on_the_third_attempt(
    served: Served, http: aiohttp.ClientSession
) -> None:
    settings = {"key": "retry-ok", "succeed_on": 3, "attempts": 5}
    await served.client.start_new(o.RETRYING, "retry-ok", settings)
    status = await wait_for_status(served.client, "retry-ok", "Completed", "Failed")
    assert status.output == {"result": "succeeded on call 3", "after": "Hello after retry!"}
    assert o.flaky_calls["retry-ok"] == 3
    history = await history_of(served, http, "retry-ok")
    # attempt 0, retry timer 1, attempt 2, timer 3, attempt 4, then the next activity 5.
    assert ids(history, "TaskScheduled") == [0, 2, 4, 5]
    assert ids(history, "TimerCreated") == [1, 3]


async def test_retry_gives_up_after_max_attempts(served: Served) -> None:
    settings = {"key": "retry-fail", "succeed_on": 99, "attempts": 2}
    await served.client.start_new(o.RETRYING, "retry-fail", settings)
    status = await wait_for_status(served.client, "retry-fail", "Completed", "Failed")
    assert o.flaky_calls["retry-fail"] == 2
    assert status.output["failed"].startswith(f"Activity function '{o.FLAKY}' failed: ")
    assert "flaky failure 2" in status.output["failed"]


async def test_missing_activity_fails_the_task_with_the_hosts_message(served: Served) -> None:
    await served.client.start_new(o.MISSING_ACTIVITY, "missing", None)
    status = await wait_for_status(served.client, "missing", "Completed", "Failed")
    assert status.output.startswith(
        "Activity function 'no_such_activity' failed: The function 'no_such_activity' "
        "doesn't exist, is disabled, or is not an activity function."
    )


async def test_orchestrator_is_known_by_its_function_name(served: Served) -> None:
    await served.client.start_new(o.RENAMED, "renamed", None)
    assert (await wait_for_status(served.client, "renamed", "Completed")).output == "renamed ran"
    with pytest.raises(Exception, match="doesn't exist"):
        await served.client.start_new("python_name_of_renamed", "by-def-name", None)


async def test_suspend_holds_events_until_resume(served: Served) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, "susp", None)
    await wait_for_status(served.client, "susp", "Running")
    await served.client.suspend("susp", "pause")
    await wait_for_status(served.client, "susp", "Suspended")
    await served.client.raise_event("susp", "go", 1)
    # The event is held: the instance stays Suspended (checked after the worker had turns).
    for _ in range(20):
        assert (await served.client.get_status("susp")).runtime_status.value == "Suspended"
    await served.client.resume("susp", "continue")
    status = await wait_for_status(served.client, "susp", "Completed")
    assert status.output == {"got": "1"}  # the client's double encoding, as in Azure


def test_a_wrong_task_id_leaves_the_sdk_waiting_silently() -> None:
    """Why ids matter: the SDK does not fail on a mismatched id, it just never resumes."""
    handle = _echo_activity_handle()
    now = utc_now()
    started = event(EventType.EXECUTION_STARTED, now, Name="one_activity", Input=None, Version="")

    def history(completed_id: int) -> list[dict[str, Any]]:
        return [
            event(EventType.ORCHESTRATOR_STARTED, now),
            started,
            event(EventType.TASK_SCHEDULED, now, event_id=0, Name="act"),
            event(EventType.ORCHESTRATOR_COMPLETED, now),
            event(EventType.ORCHESTRATOR_STARTED, now),
            event(EventType.TASK_COMPLETED, now, TaskScheduledId=completed_id, Result='"r"'),
        ]

    kwargs: dict[str, Any] = {"instance_id": "i", "input_value": None, "parent_instance_id": None}
    assert run_episode(handle, history=history(0), **kwargs).is_done
    wrong = run_episode(handle, history=history(1), **kwargs)
    assert not wrong.is_done
    assert wrong.error is None


def _echo_activity_handle() -> Any:
    import azure.durable_functions as df
    import azure.functions as func

    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.orchestration_trigger(context_name="context")
    def one_activity(context: df.DurableOrchestrationContext) -> Any:
        return (yield context.call_activity("act", None))

    (function,) = app.get_functions()
    return function.get_user_function()
