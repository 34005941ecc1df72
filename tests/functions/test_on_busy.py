"""``on_busy`` on HTTP, timer and queue triggers, with the real ``azure.functions`` objects.

One invocation holds the scope (its body waits on a gate); a second one meets the busy scope.
HTTP answers 409 problem+json (``Retry-After`` unless skipping); other triggers raise
``LeaseBusy`` (fail) or return None without running (skip); ``wait`` runs the second once the
first is done, or fails as ``fail`` after its wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import azure.functions as func
import pytest

from singleton import LeaseBusy, Leases, singleton
from tests.functions.conftest import MakeLeases, http_request, queue_message, timer_request

pytestmark = pytest.mark.redis

TRIGGERS = ("http", "timer", "queue")


class Gate:
    """Counts the runs of a body and holds each one until opened."""

    def __init__(self) -> None:
        self.runs = 0
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()

    async def pass_through(self) -> None:
        self.runs += 1
        self.entered.set()
        await self.opened.wait()


Invoke = Callable[[], Coroutine[Any, Any, Any]]


def guarded(trigger: str, gate: Gate, leases: Leases, **options: Any) -> Invoke:
    """A decorated function of the trigger type, and how the host would invoke it."""
    source = {"leases": lambda: leases, **options}
    if trigger == "http":

        @singleton("{customerId}", **source)
        async def build(req: func.HttpRequest) -> func.HttpResponse:
            await gate.pass_through()
            return func.HttpResponse("built")

        return lambda: build(http_request("c1"))
    if trigger == "timer":

        @singleton(**source)
        async def tick(timer: func.TimerRequest) -> None:
            await gate.pass_through()

        return lambda: tick(timer_request())

    @singleton("{customerId}", **source)
    async def handle(msg: func.QueueMessage) -> None:
        await gate.pass_through()

    return lambda: handle(queue_message({"customerId": "c1", "n": 1}))


async def hold_the_scope(invoke: Invoke, gate: Gate) -> asyncio.Task[Any]:
    first = asyncio.create_task(invoke())
    await asyncio.wait_for(gate.entered.wait(), 5)
    return first


def assert_busy_answer(response: func.HttpResponse, *, retry_after: str | None) -> None:
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.headers.get("Retry-After") == retry_after
    body = json.loads(response.get_body())
    assert body["type"] == "urn:durable-singleton:problem:scope-busy"
    assert body["status"] == 409
    assert body["scope"] == "c1"


@pytest.mark.parametrize("trigger", TRIGGERS)
async def test_fail_answers_409_with_retry_after_or_raises_and_does_not_run(
    trigger: str, make_leases: MakeLeases
) -> None:
    gate = Gate()
    invoke = guarded(trigger, gate, make_leases(wait=30), on_busy="fail", retry_after=7)
    first = await hold_the_scope(invoke, gate)
    started = time.monotonic()
    if trigger == "http":
        assert_busy_answer(await invoke(), retry_after="7")
    else:
        with pytest.raises(LeaseBusy, match="held by another invocation"):
            await invoke()
    assert time.monotonic() - started < 1.0  # at once: the policy's 30 s wait is not used
    assert gate.runs == 1
    gate.opened.set()
    await first
    await invoke()  # free again: it runs
    assert gate.runs == 2


@pytest.mark.parametrize("trigger", TRIGGERS)
async def test_skip_answers_409_at_once_or_returns_none_logged_and_does_not_run(
    trigger: str, make_leases: MakeLeases, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    invoke = guarded(trigger, gate, make_leases(wait=30), on_busy="skip")
    first = await hold_the_scope(invoke, gate)
    with caplog.at_level(logging.INFO, logger="singleton.functions.decorator"):
        outcome = await invoke()
    if trigger == "http":
        assert_busy_answer(outcome, retry_after=None)
    else:
        assert outcome is None
        assert "is busy; skipped this invocation" in caplog.text
    assert gate.runs == 1
    gate.opened.set()
    await first


@pytest.mark.parametrize("trigger", TRIGGERS)
async def test_wait_runs_the_second_invocation_once_the_first_is_done(
    trigger: str, make_leases: MakeLeases
) -> None:
    gate = Gate()
    invoke = guarded(trigger, gate, make_leases(wait=30))  # on_busy="wait" is the default
    first = await hold_the_scope(invoke, gate)
    second = asyncio.create_task(invoke())
    await asyncio.sleep(0.3)
    assert not second.done()
    assert gate.runs == 1  # still waiting for the scope
    gate.opened.set()
    results = await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert gate.runs == 2
    if trigger == "http":
        assert [r.status_code for r in results] == [200, 200]


@pytest.mark.parametrize("trigger", TRIGGERS)
async def test_wait_fails_as_fail_after_its_wait(trigger: str, make_leases: MakeLeases) -> None:
    gate = Gate()
    invoke = guarded(trigger, gate, make_leases(wait=30), wait=0.3)
    first = await hold_the_scope(invoke, gate)
    started = time.monotonic()
    if trigger == "http":
        assert_busy_answer(await invoke(), retry_after="1")
    else:
        with pytest.raises(LeaseBusy):
            await invoke()
    assert 0.3 <= time.monotonic() - started < 2.0  # the decorator's wait, not the policy's
    assert gate.runs == 1
    gate.opened.set()
    await first


async def test_a_busy_scope_does_not_hold_up_another_scope(make_leases: MakeLeases) -> None:
    gate = Gate()
    leases = make_leases(wait=30)

    @singleton("{customerId}", on_busy="fail", leases=lambda: leases)
    async def handle(msg: func.QueueMessage) -> str:
        await gate.pass_through()
        return str(msg.get_json()["customerId"])

    first = asyncio.create_task(handle(queue_message({"customerId": "c1"})))
    await asyncio.wait_for(gate.entered.wait(), 5)
    gate.entered.clear()
    other = asyncio.create_task(handle(queue_message({"customerId": "c2"})))
    await asyncio.wait_for(gate.entered.wait(), 5)  # c2 runs while c1 holds its scope
    assert gate.runs == 2
    gate.opened.set()
    assert await asyncio.gather(first, other) == ["c1", "c2"]


def test_bad_options_fail_at_decoration() -> None:
    with pytest.raises(ValueError, match="on_busy"):
        singleton(on_busy="later")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="wait= applies"):
        singleton(on_busy="fail", wait=1)
    with pytest.raises(ValueError, match="unbalanced"):
        singleton("{customerId")
    with pytest.raises(ValueError, match="name"):
        singleton(name="a:b")
    with pytest.raises(ValueError, match="retry_after"):
        singleton(retry_after=-1)
