"""The gRPC client boundary (``singleton/starter/_grpc.py``): each gRPC answer translated,
against the SDK's backend serving real gRPC (a fault makes one method answer a status code)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator

import grpc
import pytest
from durabletask import client as dt

from singleton import (
    ConflictPolicy,
    DurableError,
    Event,
    Outcome,
    RaiseEventFailed,
    RuntimeStatus,
    SingletonStarter,
    StartFailed,
    StartRejected,
    StatusReadFailed,
    TerminateFailed,
    TerminateTimedOut,
)
from singleton.lease import Leases
from singleton.starter._durable import (
    InstanceAlreadyExistsError,
    hub_name,
    is_grpc_client,
    read_status,
    start_orchestration,
)
from tests.grpc.backends import CountingBackend, StorageRaceBackend
from tests.grpc.conftest import address_of, wait_for_status
from tests.grpc.orchestrations import WAIT_FOR_FINISH

pytestmark = pytest.mark.redis

C = grpc.StatusCode
S = RuntimeStatus


@pytest.fixture
def faults(grpc_backend: CountingBackend) -> Iterator[dict[str, grpc.StatusCode]]:
    yield grpc_backend.faults
    grpc_backend.faults.clear()


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_both_grpc_clients_are_recognised_and_the_v1_client_is_not(
    grpc_client: dt.AsyncTaskHubGrpcClient, sync_client: dt.TaskHubGrpcClient
) -> None:
    assert is_grpc_client(grpc_client)
    assert is_grpc_client(sync_client)

    class Subclass(dt.AsyncTaskHubGrpcClient):  # as Functions v2's DurableFunctionsClient
        pass

    assert is_grpc_client(Subclass.__new__(Subclass))
    assert not is_grpc_client(object())


def test_the_starter_imports_no_grpc_for_a_v1_client() -> None:
    code = (
        "import sys, singleton.starter._durable as d\n"
        "assert not d.is_grpc_client(object())\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('durabletask', 'grpc'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_absent_is_none_and_a_status_is_read(
    grpc_client: dt.AsyncTaskHubGrpcClient,
) -> None:
    instance_id = fresh("read")
    assert await read_status(grpc_client, instance_id) is None
    await grpc_client.schedule_new_orchestration(WAIT_FOR_FINISH, instance_id=instance_id)
    await wait_for_status(grpc_client, instance_id, dt.OrchestrationStatus.RUNNING)
    assert await read_status(grpc_client, instance_id) is S.RUNNING


@pytest.mark.parametrize(("code", "calls"), [(C.UNAVAILABLE, 3), (C.NOT_FOUND, 1), (C.INTERNAL, 1)])
async def test_a_failed_read_is_never_absent(
    grpc_backend: CountingBackend,
    grpc_client: dt.AsyncTaskHubGrpcClient,
    faults: dict[str, grpc.StatusCode],
    code: grpc.StatusCode,
    calls: int,
) -> None:
    faults["GetInstance"] = code
    before = grpc_backend.calls["GetInstance"]

    with pytest.raises(StatusReadFailed, match=code.name):
        await read_status(grpc_client, fresh("read-fails"))

    assert grpc_backend.calls["GetInstance"] - before == calls  # only UNAVAILABLE is retried


async def test_the_backends_duplicate_guard_answers_as_the_hosts(
    grpc_client: dt.AsyncTaskHubGrpcClient,
    starter: SingletonStarter,
    faults: dict[str, grpc.StatusCode],
) -> None:
    """ALREADY_EXISTS on a start the read did not foresee (a start made without the starter):
    the 409 answer, as the v1 host's OrchestrationAlreadyExists."""
    faults["StartInstance"] = C.ALREADY_EXISTS
    result = await starter.start(grpc_client, WAIT_FOR_FINISH, fresh("guard"))
    assert result.outcome is Outcome.ALREADY_RUNNING
    assert result.runtime_status is S.RUNNING


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (C.UNAVAILABLE, StartFailed),
        (C.DEADLINE_EXCEEDED, StartFailed),
        (C.NOT_FOUND, StartFailed),
        (C.INTERNAL, StartFailed),
        (C.INVALID_ARGUMENT, StartRejected),
    ],
)
async def test_start_errors_are_durable_errors(
    grpc_client: dt.AsyncTaskHubGrpcClient,
    starter: SingletonStarter,
    faults: dict[str, grpc.StatusCode],
    code: grpc.StatusCode,
    error: type[DurableError],
) -> None:
    faults["StartInstance"] = code
    with pytest.raises(error, match=code.name) as raised:
        await starter.start(grpc_client, WAIT_FOR_FINISH, fresh("start-fails"))
    assert type(raised.value) is error


async def test_the_start_replaces_only_the_status_it_read(
    grpc_client: dt.AsyncTaskHubGrpcClient,
) -> None:
    """A finished instance the decision did not read (it finished, or was started and finished
    by someone else, after the read) is not replaced."""
    instance_id = fresh("exact")
    await grpc_client.schedule_new_orchestration(WAIT_FOR_FINISH, instance_id=instance_id)
    await grpc_client.raise_orchestration_event(instance_id, "finish", data="x")
    await wait_for_status(grpc_client, instance_id, dt.OrchestrationStatus.COMPLETED)

    for read in (None, S.FAILED, S.TERMINATED, S.RUNNING):
        with pytest.raises(InstanceAlreadyExistsError):
            await start_orchestration(
                grpc_client, WAIT_FOR_FINISH, instance_id, None, replacing=read
            )
    await start_orchestration(
        grpc_client, WAIT_FOR_FINISH, instance_id, {"new": 1}, replacing=S.COMPLETED
    )
    state = await grpc_client.get_orchestration_state(instance_id)
    assert state is not None
    assert state.get_input() == {"new": 1}


async def test_an_event_the_backend_refuses_is_raise_event_failed(
    grpc_client: dt.AsyncTaskHubGrpcClient,
    starter: SingletonStarter,
    faults: dict[str, grpc.StatusCode],
) -> None:
    instance_id = fresh("event-fails")
    await grpc_client.schedule_new_orchestration(WAIT_FOR_FINISH, instance_id=instance_id)
    faults["RaiseEvent"] = C.NOT_FOUND
    with pytest.raises(RaiseEventFailed, match="NOT_FOUND"):
        await starter.start(grpc_client, WAIT_FOR_FINISH, instance_id, event=Event("finish", 1))


async def test_a_refused_terminate_is_terminate_failed(
    grpc_client: dt.AsyncTaskHubGrpcClient,
    starter: SingletonStarter,
    faults: dict[str, grpc.StatusCode],
) -> None:
    instance_id = fresh("terminate-fails")
    await grpc_client.schedule_new_orchestration(WAIT_FOR_FINISH, instance_id=instance_id)
    faults["TerminateInstance"] = C.INTERNAL
    with pytest.raises(TerminateFailed, match="INTERNAL"):
        await starter.start(
            grpc_client, WAIT_FOR_FINISH, instance_id, conflict=ConflictPolicy.TERMINATE_EXISTING
        )


async def test_terminate_existing_gives_up_when_the_instance_never_terminates(
    race_backend: StorageRaceBackend, leases: Leases
) -> None:
    """No worker serves this backend: the terminate request stays queued, nothing is started."""
    client = dt.AsyncTaskHubGrpcClient(host_address=address_of(race_backend))
    starter = SingletonStarter(leases=leases, terminate_wait=0.3)
    instance_id = fresh("stuck")
    try:
        await client.schedule_new_orchestration(WAIT_FOR_FINISH, instance_id=instance_id)
        with pytest.raises(TerminateTimedOut):
            await starter.start(client, WAIT_FOR_FINISH, instance_id, conflict="terminate-existing")
        assert race_backend.created[instance_id] == 1
    finally:
        await client.close()


async def test_the_sync_client_runs_off_the_loop_with_the_same_answers(
    grpc_backend: CountingBackend,
    grpc_client: dt.AsyncTaskHubGrpcClient,
    sync_client: dt.TaskHubGrpcClient,
    starter: SingletonStarter,
) -> None:
    instance_id = fresh("sync")

    first = await starter.start(sync_client, WAIT_FOR_FINISH, instance_id, {"n": 1})
    second = await starter.start(sync_client, WAIT_FOR_FINISH, instance_id, {"n": 2})
    raised = await starter.start(
        sync_client, WAIT_FOR_FINISH, instance_id, event=Event("finish", {"by": "sync"})
    )

    assert (first.outcome, second.outcome) == (Outcome.STARTED, Outcome.ALREADY_RUNNING)
    assert raised.outcome is Outcome.EVENT_RAISED
    finished = await wait_for_status(grpc_client, instance_id, dt.OrchestrationStatus.COMPLETED)
    assert finished.get_output() == {"by": "sync"}
    again = await starter.start(sync_client, WAIT_FOR_FINISH, instance_id, {"n": 3})
    assert again.outcome is Outcome.STARTED
    assert grpc_backend.created[instance_id] == 2
    await wait_for_status(grpc_client, instance_id, dt.OrchestrationStatus.RUNNING)
    replaced = await starter.start(
        sync_client, WAIT_FOR_FINISH, instance_id, {"n": 4}, conflict="terminate-existing"
    )
    assert replaced.outcome is Outcome.STARTED
    assert grpc_backend.created[instance_id] == 3
    state = await grpc_client.get_orchestration_state(instance_id)
    assert state is not None
    assert state.get_input() == {"n": 4}


async def test_the_taskhub_header_names_the_hub_in_the_lease_names(
    grpc_backend: CountingBackend,
) -> None:
    address = address_of(grpc_backend)
    hub_a = dt.AsyncTaskHubGrpcClient(host_address=address, metadata=[("taskhub", "hub-a")])
    hub_b = dt.AsyncTaskHubGrpcClient(host_address=address, metadata=[("taskhub", "hub-b")])
    plain = dt.AsyncTaskHubGrpcClient(host_address=address)
    sync_a = dt.TaskHubGrpcClient(host_address=address, metadata=[("taskhub", "hub-a")])
    try:
        assert hub_name(hub_a) == "hub-a"
        assert hub_name(hub_b) == "hub-b"
        assert hub_name(sync_a) == "hub-a"
        assert hub_name(plain) == f"grpc:{address}"
    finally:
        for client in (hub_a, hub_b, plain):
            await client.close()
        sync_a.close()


async def test_the_sync_clients_calls_never_block_the_loop(
    race_backend: StorageRaceBackend, starter: SingletonStarter
) -> None:
    """A start that the backend holds for 0.3 s: the loop keeps running meanwhile."""
    client = dt.TaskHubGrpcClient(host_address=address_of(race_backend))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    race_backend.delay = 0.3
    try:
        result = await starter.start(client, WAIT_FOR_FINISH, fresh("off-the-loop"))
    finally:
        race_backend.delay = 0.005
        ticker.cancel()
        client.close()
    assert result.outcome is Outcome.STARTED
    assert ticks >= 10  # ~30 at 10 ms each; 0 if the call had blocked the loop
