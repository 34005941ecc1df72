"""Storage race emulation: the naive check-then-start starter loses inputs under latency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import azure.durable_functions as df
import pytest

from devhost.durable import DurableBackend, MemoryStore, serve_backend
from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import HUB, wait_for_status

CALLERS = 8
FINISHED = (
    df.OrchestrationRuntimeStatus.Completed,
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
    None,
)


@pytest.fixture
async def slow_storage() -> AsyncIterator[tuple[DurableBackend, df.DurableOrchestrationClient]]:
    backend = DurableBackend(
        functions=o.build_functions(), hub_name=HUB, store=MemoryStore(), storage_latency=0.05
    )
    async with serve_backend(backend) as base_url:
        yield backend, df.DurableOrchestrationClient(backend.client_binding(base_url))


async def naive_starter(
    client: df.DurableOrchestrationClient, instance_id: str, caller: int
) -> int:
    """The seed's Python sample, fixed to return status codes: 202 started, 409 refused."""
    existing = await client.get_status(instance_id)
    if existing.runtime_status in FINISHED:
        await client.start_new(o.WAIT_FOR_GO, instance_id, {"caller": caller})
        return 202
    return 409


async def test_concurrent_naive_starters_all_succeed_but_one_execution_survives(
    slow_storage: tuple[DurableBackend, df.DurableOrchestrationClient],
) -> None:
    backend, client = slow_storage
    codes = await asyncio.gather(*(naive_starter(client, "race", i) for i in range(CALLERS)))
    assert codes.count(202) > 1, codes
    records = backend.start_records("race")
    assert len(records) == codes.count(202)
    created = [r for r in records if r.created]
    lost = [r for r in records if r.lost]
    assert len(created) == 1
    assert len(lost) == codes.count(202) - 1
    assert {r.execution_id for r in records} == {created[0].execution_id}
    status = await wait_for_status(client, "race", "Running")
    assert status.input_ == f'{{"caller": {created[0].input["caller"]}}}'
    # Every answered caller's input is on record, each distinct: the lost ones are visible.
    assert len({r.input["caller"] for r in records}) == len(records)


async def test_concurrent_raw_starts_without_latency_get_one_202_and_500s() -> None:
    backend = DurableBackend(functions=o.build_functions(), hub_name=HUB, store=MemoryStore())
    async with serve_backend(backend) as base_url:
        client = df.DurableOrchestrationClient(backend.client_binding(base_url))

        async def start(caller: int) -> str:
            try:
                await client.start_new(o.WAIT_FOR_GO, "atomic", {"caller": caller})
            except Exception as exc:
                return str(exc)
            return "started"

        outcomes = await asyncio.gather(*(start(i) for i in range(CALLERS)))
        assert outcomes.count("started") == 1, outcomes
        refused = [x for x in outcomes if x != "started"]
        assert all("OrchestrationAlreadyExistsException" in x for x in refused), refused
        records = backend.start_records("atomic")
        assert [r.created for r in records] == [True]


async def test_each_store_operation_pays_the_latency_and_start_is_read_then_write() -> None:
    slept: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    backend = DurableBackend(
        functions=o.build_functions(),
        hub_name=HUB,
        store=MemoryStore(),
        storage_latency=0.25,
        sleep=recording_sleep,
    )
    async with serve_backend(backend) as base_url:
        client = df.DurableOrchestrationClient(backend.client_binding(base_url))
        await client.get_status("absent")
        assert slept == [0.25]
        await client.start_new(o.ECHO, "paid", None)
        assert slept == [0.25, 0.25, 0.25]
