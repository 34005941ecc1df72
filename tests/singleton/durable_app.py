"""Orchestrations for the starter's tests, run by the embedded Durable backend."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

WAIT_FOR_FINISH = "WaitForFinish"
"""Stays Running until the ``finish`` event arrives; returns the event's data."""
ECHO = "Echo"
"""Completes at once with its input."""
FAILS = "Fails"
"""Fails at once."""

app = df.DFApp()


@app.function_name(WAIT_FOR_FINISH)
@app.orchestration_trigger(context_name="context")
def wait_for_finish(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    finished = yield context.wait_for_external_event("finish")
    return finished


@app.function_name(ECHO)
@app.orchestration_trigger(context_name="context")
def echo(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return context.get_input()
    yield  # a generator, as orchestrators must be


@app.function_name(FAILS)
@app.orchestration_trigger(context_name="context")
def fails(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    raise ValueError("this orchestration always fails")
    yield  # a generator, as orchestrators must be


# Index once: a second get_functions() on the same app raises.
FUNCTIONS = app.get_functions()
