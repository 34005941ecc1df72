"""Background renewal while held, and what a holder sees when it fails."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from singleton._errors import LeaseLost
from tests.lease.conftest import MakeLeases
from tests.lease.test_waiting import evalsha_calls

pytestmark = pytest.mark.redis


async def test_renewal_keeps_the_lease_through_work_five_times_its_ttl(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.3)
    async with leases.hold("long") as lease:
        await asyncio.sleep(1.5)
        assert await redis_client.get(lease.key) == lease.token.encode()
        assert await redis_client.pttl(lease.key) > 0
    assert await redis_client.exists(lease.key) == 0


async def test_a_renewal_due_close_to_the_deadline_still_keeps_the_lease(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    """The latest renew_every the policy accepts is one the keeper can act on: the first
    renewal is sent before the holder's deadline (ttl less the drift allowance)."""
    leases = make_leases(ttl=0.5, renew_every=0.45)  # validity 0.493 s
    async with leases.hold("late renewal") as lease:
        await asyncio.sleep(1.2)
        assert await redis_client.get(lease.key) == lease.token.encode()  # renewed twice


async def test_short_holds_send_exactly_acquire_and_release(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.3)  # renew_every 0.1 s
    await redis_client.config_resetstat()
    for _ in range(20):
        async with leases.hold("short"):
            pass
    await asyncio.sleep(0.2)  # any renewal timer left behind would have fired by now
    assert await evalsha_calls(redis_client) == 40


async def test_a_refused_renewal_cancels_the_holder_and_exits_with_lease_lost(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.3)
    keys: list[str] = []

    async def hold_while_stolen() -> None:
        async with leases.hold("stolen") as lease:
            keys.append(lease.key)
            await redis_client.set(lease.key, "someone else")
            await asyncio.sleep(10)  # cut short at the next renewal (0.1 s)

    started = time.monotonic()
    with pytest.raises(LeaseLost, match="expired or was taken"):
        await hold_while_stolen()
    assert time.monotonic() - started < 0.5
    assert await redis_client.get(keys[0]) == b"someone else"  # never touched


async def test_an_outside_cancellation_stays_a_cancellation_when_the_lease_is_also_lost(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.3)
    entered = asyncio.Event()

    async def holder() -> None:
        async with leases.hold("both") as lease:
            await redis_client.set(lease.key, "someone else")
            entered.set()
            try:
                await asyncio.sleep(10)
            finally:
                await asyncio.sleep(0.2)  # the renewal cancels us too meanwhile

    task = asyncio.create_task(holder())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_max_hold_ends_renewal_and_the_hold(make_leases: MakeLeases) -> None:
    leases = make_leases(ttl=0.3, max_hold=0.5)
    started = time.monotonic()
    with pytest.raises(LeaseLost, match="max_hold"):
        async with leases.hold("capped"):
            await asyncio.sleep(10)
    assert 0.5 <= time.monotonic() - started < 0.8


async def test_max_hold_counts_from_acquisition_not_from_the_start_of_waiting(
    make_leases: MakeLeases,
) -> None:
    leases = make_leases(ttl=0.3, max_hold=0.5, wait=5)
    await leases.acquire("late")  # runs out after 0.3 s; the hold below waits for that

    held: list[float] = []

    async def hold_after_waiting() -> None:
        async with leases.hold("late"):
            acquired = time.monotonic()
            try:
                await asyncio.sleep(10)
            finally:
                held.append(time.monotonic() - acquired)

    with pytest.raises(LeaseLost, match="max_hold"):
        await hold_after_waiting()
    assert 0.45 <= held[0] < 0.8  # not 0.5 s minus the ~0.3 s spent waiting
