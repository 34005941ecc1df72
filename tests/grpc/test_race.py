"""Concurrent starts of one ID over the gRPC client: exactly one start.

The SDK's backend dedupes StartInstance atomically, so there the race cannot show. The
Azure Storage provider does not: it checks, then writes, and swallows a write that lost
(``StorageRaceBackend`` reproduces that around the SDK's backend). Against it the
documentation's check-then-start tells several callers "started" while one instance runs
with one of their inputs; the starter tells exactly one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from durabletask import client as dt

from singleton import Outcome, SingletonStarter, StartResult
from tests.grpc.backends import CountingBackend, StorageRaceBackend
from tests.grpc.conftest import address_of
from tests.grpc.orchestrations import WAIT_FOR_FINISH

pytestmark = pytest.mark.redis

CALLERS = 20
FINISHED = (
    dt.OrchestrationStatus.COMPLETED,
    dt.OrchestrationStatus.FAILED,
    dt.OrchestrationStatus.TERMINATED,
)


async def check_then_start(client: dt.AsyncTaskHubGrpcClient, instance_id: str, n: int) -> bool:
    """The documentation's singleton starter, with the gRPC client: True when it reports that
    it started the instance."""
    state = await client.get_orchestration_state(instance_id)
    if state is not None and state.runtime_status not in FINISHED:
        return False  # 409
    try:
        await client.schedule_new_orchestration(
            WAIT_FOR_FINISH, instance_id=instance_id, input={"caller": n}
        )
    except Exception as exc:
        if getattr(exc, "code", lambda: None)().name == "ALREADY_EXISTS":
            return False
        raise
    return True


async def starter_trial(
    starters: list[SingletonStarter], client: dt.AsyncTaskHubGrpcClient, instance_id: str
) -> list[StartResult]:
    """``CALLERS`` concurrent starts of one new ID, spread over the starters (processes)."""
    return await asyncio.gather(
        *(
            starters[n % len(starters)].start(client, WAIT_FOR_FINISH, instance_id, {"caller": n})
            for n in range(CALLERS)
        )
    )


async def test_twenty_concurrent_starts_start_one_instance(
    grpc_backend: CountingBackend,
    grpc_client: dt.AsyncTaskHubGrpcClient,
    starters: list[SingletonStarter],
) -> None:
    instance_id = f"concurrent-{uuid.uuid4().hex[:8]}"
    before = grpc_backend.calls["StartInstance"]

    results = await starter_trial(starters, grpc_client, instance_id)

    outcomes = Counter(result.outcome for result in results)
    assert outcomes == {Outcome.STARTED: 1, Outcome.ALREADY_RUNNING: CALLERS - 1}
    assert grpc_backend.created[instance_id] == 1
    assert grpc_backend.calls["StartInstance"] - before == 1  # nobody even tried a second


async def run_trials(
    trials: int, starters: list[SingletonStarter], race_backend: StorageRaceBackend
) -> list[str]:
    """``trials`` rounds of ``CALLERS`` concurrent starters; the IDs that started twice."""
    client = dt.AsyncTaskHubGrpcClient(host_address=address_of(race_backend))
    doubled = []
    try:
        for _ in range(trials):
            instance_id = f"race-{uuid.uuid4().hex[:8]}"
            results = await starter_trial(starters, client, instance_id)
            started = sum(result.outcome is Outcome.STARTED for result in results)
            assert started == 1, (instance_id, Counter(r.outcome for r in results))
            if race_backend.told_started[instance_id] != 1:
                doubled.append(instance_id)
    finally:
        await client.close()
    return doubled


async def test_the_starter_never_double_starts_on_the_storage_race(
    race_backend: StorageRaceBackend, starters: list[SingletonStarter]
) -> None:
    assert await run_trials(100, starters, race_backend) == []


@pytest.mark.faults_long
async def test_the_starter_never_double_starts_on_the_storage_race_long(
    race_backend: StorageRaceBackend, starters: list[SingletonStarter]
) -> None:
    assert await run_trials(1000, starters, race_backend) == []


async def test_check_then_start_double_starts_on_the_storage_race(
    race_backend: StorageRaceBackend,
) -> None:
    """The control: without the starter the same backend tells several callers "started"."""
    client = dt.AsyncTaskHubGrpcClient(host_address=address_of(race_backend))
    try:
        reported = []
        for _ in range(5):
            instance_id = f"docs-{uuid.uuid4().hex[:8]}"
            told = await asyncio.gather(
                *(check_then_start(client, instance_id, n) for n in range(CALLERS))
            )
            reported.append(sum(told))
            assert race_backend.created[instance_id] == 1  # one instance, whatever was said
            assert sum(told) == race_backend.told_started[instance_id]
    finally:
        await client.close()
    assert max(reported) > 1, reported  # the race shows: more than one caller told "started"


async def test_check_then_start_is_safe_on_the_sdks_atomic_backend(
    grpc_backend: CountingBackend, grpc_client: dt.AsyncTaskHubGrpcClient
) -> None:
    """And the wrapper is what brings the race: the SDK's own backend answers ALREADY_EXISTS."""
    instance_id = f"atomic-{uuid.uuid4().hex[:8]}"
    told = await asyncio.gather(
        *(check_then_start(grpc_client, instance_id, n) for n in range(CALLERS))
    )
    assert sum(told) == 1
    assert grpc_backend.created[instance_id] == 1
