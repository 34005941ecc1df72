"""The starter against a real redis-server and a real Durable backend over real HTTP."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from singleton import (
    LeasePolicy,
    Leases,
    LeaseUnavailable,
    Outcome,
    RuntimeStatus,
    SingletonStarter,
    StartFailed,
    StartRejected,
    StatusReadFailed,
)
from tests.redis_servers import free_port
from tests.singleton.durable_app import ECHO, WAIT_FOR_FINISH
from tests.singleton.harness import HUB, DurableHost, input_of, running_durable_host

pytestmark = pytest.mark.redis


async def test_starts_an_absent_instance_with_its_input(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    result = await starter.start(durable.client(), WAIT_FOR_FINISH, "job-1", {"n": 1})

    assert result.outcome is Outcome.STARTED
    assert result.runtime_status is None
    assert isinstance(result.fence, int)
    status = await durable.client().get_status("job-1")
    assert status.runtime_status.value in {"Pending", "Running"}
    assert input_of(status) == {"n": 1}
    assert durable.started("job-1") == 1


async def test_answers_already_running_and_starts_nothing(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await starter.start(durable.client(), WAIT_FOR_FINISH, "job-2", {"first": True})
    await durable.wait_for_status("job-2", RuntimeStatus.RUNNING)

    result = await starter.start(durable.client(), WAIT_FOR_FINISH, "job-2", {"second": True})

    assert result.outcome is Outcome.ALREADY_RUNNING
    assert result.runtime_status is RuntimeStatus.RUNNING
    assert durable.started("job-2") == 1
    status = await durable.client().get_status("job-2")
    assert input_of(status) == {"first": True}


async def test_starts_again_after_completion(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    first = await starter.start(durable.client(), ECHO, "echo-1", "one")
    await durable.wait_for_status("echo-1", RuntimeStatus.COMPLETED)

    second = await starter.start(durable.client(), ECHO, "echo-1", "two")

    assert first.outcome is Outcome.STARTED
    assert second.outcome is Outcome.STARTED
    assert second.runtime_status is RuntimeStatus.COMPLETED
    assert second.fence is not None
    assert first.fence is not None
    assert second.fence > first.fence
    assert durable.started("echo-1") == 2


async def test_starts_again_after_termination(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await starter.start(durable.client(), WAIT_FOR_FINISH, "job-3")
    await durable.wait_for_status("job-3", RuntimeStatus.RUNNING)
    await durable.client().terminate("job-3", "test")
    await durable.wait_for_status("job-3", RuntimeStatus.TERMINATED)

    result = await starter.start(durable.client(), WAIT_FOR_FINISH, "job-3")

    assert result.outcome is Outcome.STARTED
    assert result.runtime_status is RuntimeStatus.TERMINATED


async def test_releases_the_lease_after_starting(
    durable: DurableHost, starter: SingletonStarter, leases: Leases
) -> None:
    await starter.start(durable.client(), WAIT_FOR_FINISH, "job-4")

    lease = await leases.acquire(f"{HUB}/job-4", wait=0)
    assert await lease.release()


async def test_answers_busy_while_another_holder_keeps_the_lease(
    durable: DurableHost, starter: SingletonStarter, leases: Leases
) -> None:
    async with leases.hold(f"{HUB}/job-5"):
        result = await starter.start(durable.client(), WAIT_FOR_FINISH, "job-5", wait=0.05)

    assert result.outcome is Outcome.BUSY
    assert durable.started("job-5") == 0


async def test_a_holder_that_releases_in_time_lets_the_waiter_decide(
    durable: DurableHost, starter: SingletonStarter, leases: Leases
) -> None:
    held = await leases.acquire(f"{HUB}/job-6", wait=0)
    waiter = asyncio.create_task(starter.start(durable.client(), WAIT_FOR_FINISH, "job-6"))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await held.release()

    result = await asyncio.wait_for(waiter, 5)

    assert result.outcome is Outcome.STARTED
    assert durable.started("job-6") == 1


async def test_redis_down_starts_nothing(durable: DurableHost) -> None:
    unreachable = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    leases = Leases(unreachable, namespace="test", policy=LeasePolicy(ttl=5.0, wait=0.2))
    starter = SingletonStarter(leases=leases)
    try:
        with pytest.raises(LeaseUnavailable):
            await starter.start(durable.client(), WAIT_FOR_FINISH, "job-7")
    finally:
        await leases.aclose()
        await unreachable.aclose()

    assert durable.started("job-7") == 0
    assert not await durable.client().get_status("job-7")


async def test_failing_status_read_starts_nothing(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    durable.backend.inject_fault(operation="status", status=500, times=1)

    with pytest.raises(StatusReadFailed):
        await starter.start(durable.client(), WAIT_FOR_FINISH, "job-8")

    assert durable.started("job-8") == 0


async def test_failing_start_raises_and_releases_the_lease(
    durable: DurableHost, starter: SingletonStarter, leases: Leases
) -> None:
    durable.backend.inject_fault(operation="start", status=500, times=1)

    with pytest.raises(StartFailed):
        await starter.start(durable.client(), WAIT_FOR_FINISH, "job-9")

    lease = await leases.acquire(f"{HUB}/job-9", wait=0)
    await lease.release()
    retried = await starter.start(durable.client(), WAIT_FOR_FINISH, "job-9")
    assert retried.outcome is Outcome.STARTED
    assert durable.started("job-9") == 1


async def test_unknown_orchestrator_is_rejected(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    with pytest.raises(StartRejected, match="NoSuchOrchestrator"):
        await starter.start(durable.client(), "NoSuchOrchestrator", "job-10")


async def test_unreachable_durable_host_is_a_status_read_failure(
    starter: SingletonStarter,
) -> None:
    async with running_durable_host() as durable:
        client = durable.client()
    # The server is gone now: connection refused.
    with pytest.raises(StatusReadFailed):
        await starter.start(client, WAIT_FOR_FINISH, "job-11")
