"""A takeover checks before it trusts its read: a start that reaches the host after its holder's
lease expired must not leave the next holder answering 202 for a start whose input was dropped.

The backend emulates Azure Storage (``storage_latency``: the dedupe read and the instance write
are separate, and a conflict on the write is swallowed, so both racing starts are answered
202). A middleware in front of it plays the dead holder's delayed start: it holds the first
start request until the next one arrives, then lets it through while the next one is held a
little, so the dead holder's write lands between the next holder's dedupe read and its write.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from singleton import LeasePolicy, Leases, Outcome, RuntimeStatus, SingletonStarter
from singleton.starter._durable import start_instance
from tests.singleton.durable_app import WAIT_FOR_FINISH
from tests.singleton.harness import HUB, DurableHost, input_of, running_durable_host

pytestmark = pytest.mark.redis

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The backend's latency per store operation, and how long the next start is held back:
#: shorter, so that its dedupe read still sees no instance.
LATENCY = 0.4
HELD_BACK = 0.2


class LateStart:
    """Holds the first start request until a second one arrives (the dead holder's start,
    applied late), and counts every request to the RPC endpoint."""

    def __init__(self) -> None:
        self.armed = False
        self.first_arrived = asyncio.Event()
        self._second_arrived = asyncio.Event()
        self._starts = 0
        self.calls: list[str] = []

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.calls.append(f"{request.method} {request.path.split('/')[2]}")
        if self.armed and request.method == "POST" and "/orchestrators/" in request.path:
            self._starts += 1
            if self._starts == 1:
                self.first_arrived.set()
                await self._second_arrived.wait()
            elif self._starts == 2:
                self._second_arrived.set()
                await asyncio.sleep(HELD_BACK)
        return await handler(request)


@pytest.fixture
def late() -> LateStart:
    return LateStart()


@pytest.fixture
async def durable(late: LateStart) -> AsyncIterator[DurableHost]:
    async with running_durable_host(storage_latency=LATENCY, middlewares=[late.middleware]) as h:
        yield h


@pytest.fixture
async def both(redis_client: aioredis.Redis) -> AsyncIterator[tuple[Leases, SingletonStarter]]:
    """The dead holder's leases (a 1 s TTL, never renewed) and the next holder's starter."""
    dead = Leases(redis_client, namespace="late", policy=LeasePolicy(ttl=1.0))
    live = Leases(redis_client, namespace="late", policy=LeasePolicy(ttl=10.0, wait=10.0))
    yield dead, SingletonStarter(leases=live)
    await dead.aclose()
    await live.aclose()


async def dead_holders_start(
    durable: DurableHost, late: LateStart, dead: Leases, instance_id: str, client_input: Any
) -> asyncio.Task[None]:
    """Take the lease, send a start that the host applies late, and "die": the lease runs
    out unreleased."""
    await dead.acquire(f"{HUB}/{instance_id}")
    late.armed = True
    task = asyncio.create_task(
        start_instance(durable.client(), WAIT_FOR_FINISH, instance_id, client_input)
    )
    await late.first_arrived.wait()
    return task


async def test_a_late_start_of_a_dead_holder_gets_409_not_a_202_whose_input_was_dropped(
    durable: DurableHost, late: LateStart, both: tuple[Leases, SingletonStarter]
) -> None:
    dead, starter = both
    dead_start = await dead_holders_start(durable, late, dead, "late-1", {"by": "dead"})

    result = await starter.start(durable.client(), WAIT_FOR_FINISH, "late-1", {"by": "next"})
    await dead_start

    records = durable.backend.start_records("late-1")
    assert len(records) == 2  # both starts were answered 202 by the host...
    assert [record.created for record in records] == [True, False]  # ...one input dropped
    status = await durable.client().get_status("late-1")
    assert input_of(status) == {"by": "dead"}  # the instance runs the dead holder's input
    assert result.outcome is Outcome.ALREADY_RUNNING
    assert result.runtime_status in {RuntimeStatus.PENDING, RuntimeStatus.RUNNING}


async def test_a_late_start_with_an_equal_input_counts_as_ours(
    durable: DurableHost, late: LateStart, both: tuple[Leases, SingletonStarter]
) -> None:
    dead, starter = both
    dead_start = await dead_holders_start(durable, late, dead, "late-2", {"by": "anyone"})

    result = await starter.start(durable.client(), WAIT_FOR_FINISH, "late-2", {"by": "anyone"})
    await dead_start

    assert [record.created for record in durable.backend.start_records("late-2")] == [True, False]
    assert result.outcome is Outcome.STARTED


async def test_a_takeover_without_a_late_start_starts_and_checks_with_one_more_read(
    durable: DurableHost, late: LateStart, both: tuple[Leases, SingletonStarter]
) -> None:
    dead, starter = both
    await dead.acquire(f"{HUB}/late-3")  # its holder dies before starting anything
    late.calls.clear()

    result = await starter.start(durable.client(), WAIT_FOR_FINISH, "late-3", {"by": "next"})

    assert result.outcome is Outcome.STARTED
    assert late.calls == ["GET instances", "POST orchestrators", "GET instances"]
    assert input_of(await durable.client().get_status("late-3")) == {"by": "next"}


async def test_a_start_under_a_released_or_free_lease_is_two_durable_calls(
    durable: DurableHost, late: LateStart, both: tuple[Leases, SingletonStarter]
) -> None:
    dead, starter = both
    lease = await dead.acquire(f"{HUB}/late-4")
    await lease.release()
    late.calls.clear()

    released = await starter.start(durable.client(), WAIT_FOR_FINISH, "late-4")
    free = await starter.start(durable.client(), WAIT_FOR_FINISH, "late-5")

    assert released.outcome is Outcome.STARTED
    assert free.outcome is Outcome.STARTED
    assert late.calls == ["GET instances", "POST orchestrators"] * 2
