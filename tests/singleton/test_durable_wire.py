"""What goes over the wire to the Durable host, and what its answers mean: "absent" only from a
404, and events posted once, as the caller sent them.

Real Durable client, the embedded backend over real HTTP, real Redis. Faults the backend's own
hooks cannot make (a 500 with an *empty* body) come from an aiohttp middleware in front of it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from singleton import RaiseEventFailed, RuntimeStatus, SingletonStarter, StatusReadFailed
from singleton.functions.http import handle_start_request
from singleton.starter._durable import raise_event, read_runtime_status
from tests.singleton.durable_app import ECHO, FAILS, WAIT_FOR_FINISH
from tests.singleton.harness import DurableHost, post, running_durable_host
from tests.singleton.test_http import problem_of

pytestmark = pytest.mark.redis

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Wire:
    """A middleware that can answer status reads with a bodiless 500 and records the bodies
    of the raise-event posts it lets through."""

    def __init__(self) -> None:
        self.fail_status_reads = False
        self.event_bodies: list[bytes] = []

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if request.method == "GET" and "/instances/" in path and self.fail_status_reads:
            return web.Response(status=500)  # no body at all: the client's "absent" shape
        if request.method == "POST" and "/raiseEvent/" in path:
            self.event_bodies.append(await request.read())
        return await handler(request)


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
async def durable(wire: Wire) -> AsyncIterator[DurableHost]:
    async with running_durable_host(middlewares=[wire.middleware]) as host:
        yield host


async def call(
    durable: DurableHost,
    starter: SingletonStarter,
    orchestrator: str,
    instance_id: str,
    body: bytes = b"",
    **params: str,
) -> Any:
    return await handle_start_request(
        post(orchestrator, instance_id, body, params=params),
        durable.client(),
        starter=lambda: starter,
    )


# ------------------------------------------------------------------ "absent" only from a 404


async def test_the_clients_get_status_cannot_tell_a_bodiless_500_from_absent(
    durable: DurableHost, wire: Wire
) -> None:
    """Why the status is read at the endpoint: the client's own answer is the same shape."""
    wire.fail_status_reads = True
    failed = await durable.client().get_status("anything")
    wire.fail_status_reads = False
    absent = await durable.client().get_status("never-started")
    assert not failed
    assert not absent
    assert failed.runtime_status is None
    assert absent.runtime_status is None


async def test_a_bodiless_500_is_a_read_failure(durable: DurableHost, wire: Wire) -> None:
    wire.fail_status_reads = True
    with pytest.raises(StatusReadFailed, match="HTTP 500"):
        await read_runtime_status(durable.client(), "w1")


async def test_only_a_404_is_absent(durable: DurableHost) -> None:
    client = durable.client()
    assert await read_runtime_status(client, "never-started") is None
    await client.start_new(ECHO, "w2", "x")
    assert await durable.wait_for_status("w2", RuntimeStatus.COMPLETED)
    assert await read_runtime_status(client, "w2") is RuntimeStatus.COMPLETED


@pytest.mark.parametrize(
    ("reuse", "orchestrator", "finished"),
    [
        ("reject", ECHO, RuntimeStatus.COMPLETED),
        ("failed-only", ECHO, RuntimeStatus.COMPLETED),
        ("reject", FAILS, RuntimeStatus.FAILED),
    ],
)
async def test_a_finished_id_is_not_started_again_while_status_reads_fail(
    durable: DurableHost,
    wire: Wire,
    starter: SingletonStarter,
    reuse: str,
    orchestrator: str,
    finished: RuntimeStatus,
) -> None:
    instance_id = f"done-{reuse}-{finished.value}"
    await durable.client().start_new(orchestrator, instance_id, "old")
    await durable.wait_for_status(instance_id, finished)
    wire.fail_status_reads = True

    response = await call(durable, starter, orchestrator, instance_id, b'"new"', reuse=reuse)

    assert response.status_code == 502
    assert problem_of(response)["type"].endswith(":durable-failed")
    wire.fail_status_reads = False
    assert durable.started(instance_id) == 1  # only the first, planted start
    assert await read_runtime_status(durable.client(), instance_id) is finished


async def test_a_fresh_id_is_not_started_while_status_reads_fail(
    durable: DurableHost, wire: Wire, starter: SingletonStarter
) -> None:
    wire.fail_status_reads = True

    response = await call(durable, starter, WAIT_FOR_FINISH, "fresh")

    assert response.status_code == 502
    assert problem_of(response)["type"].endswith(":durable-failed")
    assert durable.started("fresh") == 0


@pytest.mark.parametrize("active", [False, True])
async def test_an_event_is_neither_raised_nor_started_with_while_status_reads_fail(
    durable: DurableHost, wire: Wire, starter: SingletonStarter, active: bool
) -> None:
    instance_id = f"ev-{active}"
    if active:
        await durable.client().start_new(WAIT_FOR_FINISH, instance_id)
        await durable.wait_for_status(instance_id, RuntimeStatus.RUNNING)
    wire.fail_status_reads = True

    response = await call(durable, starter, WAIT_FOR_FINISH, instance_id, b'"go"', event="finish")

    assert response.status_code == 502
    assert problem_of(response)["type"].endswith(":durable-failed")
    assert wire.event_bodies == []
    assert durable.started(instance_id) == (1 if active else 0)
    wire.fail_status_reads = False
    if active:
        assert await read_runtime_status(durable.client(), instance_id) is RuntimeStatus.RUNNING


# ------------------------------------------------------------------ events posted once


@pytest.mark.parametrize("data", ["alice", {"by": "alice"}, 7, [1, "two"], None])
async def test_event_with_start_delivers_the_callers_json_decoded_once(
    durable: DurableHost, wire: Wire, starter: SingletonStarter, data: Any
) -> None:
    """The orchestration returns the event's data: it got the value the caller sent (Azure's
    webhook delivers the body as is), not its JSON text (the client's double encoding)."""
    instance_id = f"evt-{json.dumps(data)}".replace(" ", "").replace('"', "")
    body = json.dumps(data).encode()

    response = await call(durable, starter, WAIT_FOR_FINISH, instance_id, body, event="finish")

    assert response.status_code == 202
    status = await durable.wait_for_status(instance_id, RuntimeStatus.COMPLETED)
    assert status.output == data
    assert wire.event_bodies == [body]  # posted once, encoded once


@pytest.mark.parametrize("data", ["alice", {"by": "alice"}])
async def test_an_event_raised_on_the_running_instance_is_decoded_once(
    durable: DurableHost, wire: Wire, starter: SingletonStarter, data: Any
) -> None:
    instance_id = f"running-{len(json.dumps(data))}"
    first = await call(durable, starter, WAIT_FOR_FINISH, instance_id)
    assert first.status_code == 202
    await durable.wait_for_status(instance_id, RuntimeStatus.RUNNING)
    body = json.dumps(data).encode()

    response = await call(durable, starter, WAIT_FOR_FINISH, instance_id, body, event="finish")

    assert response.status_code == 200
    assert json.loads(response.get_body())["eventRaised"] == "finish"
    status = await durable.wait_for_status(instance_id, RuntimeStatus.COMPLETED)
    assert status.output == data
    assert wire.event_bodies == [body]


async def test_the_hosts_refusals_of_an_event_keep_the_clients_messages(
    durable: DurableHost,
) -> None:
    client = durable.client()
    with pytest.raises(RaiseEventFailed, match="No instance with ID nobody found"):
        await raise_event(client, "nobody", "finish", "x")
    await client.start_new(ECHO, "over", "x")
    await durable.wait_for_status("over", RuntimeStatus.COMPLETED)
    with pytest.raises(RaiseEventFailed, match="is gone: either completed or failed"):
        await raise_event(client, "over", "finish", "x")


async def test_a_failed_event_post_is_raise_event_failed(durable: DurableHost) -> None:
    client = durable.client()
    await client.start_new(WAIT_FOR_FINISH, "flaky")
    await durable.wait_for_status("flaky", RuntimeStatus.RUNNING)
    durable.backend.inject_fault(operation="raise_event", status=500, times=1)
    with pytest.raises(RaiseEventFailed, match="unrecognized status code 500"):
        await raise_event(client, "flaky", "finish", "x")
    assert await read_runtime_status(client, "flaky") is RuntimeStatus.RUNNING


async def test_event_data_that_is_not_json_is_refused_before_any_post(
    durable: DurableHost, wire: Wire
) -> None:
    with pytest.raises(RaiseEventFailed, match="not JSON-serialisable"):
        await raise_event(durable.client(), "x", "finish", object())
    assert wire.event_bodies == []
