"""Small orchestrations and activities the backend tests run, built on a fresh ``df.DFApp``.

``build_functions()`` makes a new app each call: ``get_functions()`` may be called only once
per app, and each backend under test gets its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

WAIT_FOR_GO = "wait_for_go"
ECHO = "echo"
SEQUENCE = "hello_sequence"
TIMER = "sleep_then_finish"
FAN_OUT = "fan_out"
EVENT_OR_TIMEOUT = "event_or_timeout"
FAILING = "failing"
RETRYING = "retrying"
PARENT = "parent"
CHILD = "child"
COUNTER = "counter"
CUSTOM_STATUS = "custom_status"
RENAMED = "renamed_orchestrator"
MISSING_ACTIVITY = "missing_activity"
BUFFERED_EVENT = "buffered_event"
ASYNC_ACTIVITY = "async_activity_caller"
REWINDABLE = "rewindable"
REWINDABLE_PARENT = "rewindable_parent"
LONG_THEN_WAIT = "long_then_wait"
SHOUTING = "shouting_sequence"

HELLO = "say_hello"
ASYNC_HELLO = "say_hello_async"
FLAKY = "flaky"
BOOM = "boom"

# Shared with the tests: how many times ``flaky`` ran, per key.
flaky_calls: dict[str, int] = {}
_flaky_lock = threading.Lock()

Context = df.DurableOrchestrationContext
Orchestration = Generator[Any, Any, Any]


def build_functions() -> list[func.Function]:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.orchestration_trigger(context_name="context")
    def wait_for_go(context: Context) -> Orchestration:
        context.set_custom_status("waiting")
        value = yield context.wait_for_external_event("go")
        return {"got": value}

    @app.orchestration_trigger(context_name="context")
    def echo(context: Context) -> Orchestration:
        return context.get_input()
        yield  # a generator, as orchestrators are

    @app.orchestration_trigger(context_name="context")
    def hello_sequence(context: Context) -> Orchestration:
        names = context.get_input() or ["Tokyo", "Seattle", "London"]
        greetings = []
        for name in names:
            greetings.append((yield context.call_activity(HELLO, name)))
        return greetings

    @app.orchestration_trigger(context_name="context")
    def sleep_then_finish(context: Context) -> Orchestration:
        seconds = float(context.get_input())
        started = context.current_utc_datetime
        yield context.create_timer(started + timedelta(seconds=seconds))
        return (context.current_utc_datetime - started).total_seconds()

    @app.orchestration_trigger(context_name="context")
    def fan_out(context: Context) -> Orchestration:
        count = int(context.get_input())
        tasks = [context.call_activity(HELLO, str(i)) for i in range(count)]
        results = yield context.task_all(tasks)
        return results

    @app.orchestration_trigger(context_name="context")
    def event_or_timeout(context: Context) -> Orchestration:
        seconds = float(context.get_input())
        timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
        approval = context.wait_for_external_event("approve")
        winner = yield context.task_any([approval, timer])
        if winner == approval:
            timer.cancel()
            after = yield context.call_activity(HELLO, "approved")
            return {"outcome": "approved", "value": approval.result, "after": after}
        return {"outcome": "timed out"}

    @app.orchestration_trigger(context_name="context")
    def failing(context: Context) -> Orchestration:
        yield context.call_activity(HELLO, "before failing")
        raise ValueError("orchestrator broke on purpose")

    @app.orchestration_trigger(context_name="context")
    def retrying(context: Context) -> Orchestration:
        settings = context.get_input()
        options = df.RetryOptions(
            first_retry_interval_in_milliseconds=50,
            max_number_of_attempts=settings["attempts"],
        )
        try:
            result = yield context.call_activity_with_retry(FLAKY, options, settings)
        except Exception as exc:
            return {"failed": str(exc)}
        after = yield context.call_activity(HELLO, "after retry")
        return {"result": result, "after": after}

    @app.orchestration_trigger(context_name="context")
    def parent(context: Context) -> Orchestration:
        first = yield context.call_sub_orchestrator(CHILD, "a")
        second = yield context.call_sub_orchestrator(
            CHILD, "b", instance_id=f"{context.instance_id}-child-b"
        )
        try:
            yield context.call_sub_orchestrator(FAILING, None)
        except Exception as exc:
            failure = str(exc)
        return {"children": [first, second], "failure": failure}

    @app.orchestration_trigger(context_name="context")
    def child(context: Context) -> Orchestration:
        greeting = yield context.call_activity(HELLO, context.get_input())
        return f"child:{greeting}"

    @app.orchestration_trigger(context_name="context")
    def counter(context: Context) -> Orchestration:
        state = context.get_input()
        if state["n"] < state["stop"]:
            yield context.call_activity(HELLO, str(state["n"]))
            context.continue_as_new({"n": state["n"] + 1, "stop": state["stop"]})
            return None
        return state

    @app.orchestration_trigger(context_name="context")
    def custom_status(context: Context) -> Orchestration:
        context.set_custom_status({"stage": 1})
        yield context.wait_for_external_event("next")
        context.set_custom_status({"stage": 2})
        yield context.wait_for_external_event("next")
        return "done"

    @app.function_name(RENAMED)
    @app.orchestration_trigger(context_name="context")
    def python_name_of_renamed(context: Context) -> Orchestration:
        return "renamed ran"
        yield

    @app.orchestration_trigger(context_name="context")
    def missing_activity(context: Context) -> Orchestration:
        try:
            yield context.call_activity("no_such_activity", 1)
        except Exception as exc:
            return str(exc)
        return "unreachable"

    @app.orchestration_trigger(context_name="context")
    def buffered_event(context: Context) -> Orchestration:
        # The event is raised while the orchestrator is still busy with the timer.
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=0.3))
        value = yield context.wait_for_external_event("early")
        return value

    @app.orchestration_trigger(context_name="context")
    def async_activity_caller(context: Context) -> Orchestration:
        return (yield context.call_activity(ASYNC_HELLO, context.get_input()))

    @app.orchestration_trigger(context_name="context")
    def rewindable(context: Context) -> Orchestration:
        before = yield context.call_activity(HELLO, "before")
        flaky = yield context.call_activity(FLAKY, context.get_input())
        return [before, flaky]

    @app.orchestration_trigger(context_name="context")
    def rewindable_parent(context: Context) -> Orchestration:
        settings = context.get_input()
        return (
            yield context.call_sub_orchestrator(
                REWINDABLE, settings, instance_id=f"{context.instance_id}-child"
            )
        )

    @app.orchestration_trigger(context_name="context")
    def long_then_wait(context: Context) -> Orchestration:
        # ``steps`` activities one after another (four history events each), then an event.
        greetings = []
        for step in range(int(context.get_input()["steps"])):
            greetings.append((yield context.call_activity(HELLO, str(step))))
        context.set_custom_status("waiting")
        last = yield context.wait_for_external_event("go")
        return {"count": len(greetings), "first": greetings[0], "last": greetings[-1], "go": last}

    @app.orchestration_trigger(context_name="context")
    def shouting_sequence(context: Context) -> Orchestration:
        # The activity by another spelling of its name: the host matches names ignoring case.
        return (yield context.call_activity(HELLO.upper(), "case"))

    @app.activity_trigger(input_name="name")
    def say_hello(name: str) -> str:
        return f"Hello {name}!"

    @app.activity_trigger(input_name="name")
    async def say_hello_async(name: str) -> str:
        await asyncio.sleep(0.01)
        return f"Hello async {name}!"

    @app.activity_trigger(input_name="settings")
    def flaky(settings: dict[str, Any]) -> str:
        with _flaky_lock:
            calls = flaky_calls.get(settings["key"], 0) + 1
            flaky_calls[settings["key"]] = calls
        if calls < settings["succeed_on"]:
            raise RuntimeError(f"flaky failure {calls}")
        return f"succeeded on call {calls}"

    return list(app.get_functions())
