"""Waiting for a busy lease: push wake-ups for every waiter, bounded fallbacks."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from singleton._errors import LeaseBusy
from singleton.lease._leases import Lease
from tests.lease.conftest import MakeLeases

pytestmark = pytest.mark.redis


async def evalsha_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_one_release_hands_over_to_the_first_waiter_only_over_one_subscription(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    # Fallbacks far beyond the test: only a push wake-up can make a waiter try again.
    leases = make_leases(ttl=30, wake_fallback=30)
    await (await leases.acquire("warm-up")).release()  # both scripts loaded: no NOSCRIPT retry
    holder = await leases.acquire("x")
    waiters = []
    for _ in range(5):  # in this order at Redis: each has tried once before the next starts
        waiters.append(asyncio.create_task(leases.acquire("x", wait=30)))
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # all five subscribed, tried and asleep
    channel = leases.keys("x").channel
    assert await redis_client.pubsub_numsub(channel) == [(channel.encode(), 1)]
    await redis_client.config_resetstat()
    await holder.release()
    done, pending = await asyncio.wait(waiters, timeout=1, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.sleep(0.1)
    assert len(done) == 1
    # The release, then one try by the first in line: the other four were not woken (the
    # broadcast before fair waiting made all five try, six calls).
    assert await evalsha_calls(redis_client) == 2
    assert done == {waiters[0]}
    winner: Lease = done.pop().result()
    await winner.release()
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    # The last waiter's leaving is unsubscribed in the background, at once.
    for _ in range(50):
        if await redis_client.pubsub_numsub(channel) == [(channel.encode(), 0)]:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the channel stayed subscribed after its last waiter left")


async def test_waiters_take_turns_quickly_after_each_release(make_leases: MakeLeases) -> None:
    leases = make_leases(ttl=30, wait=10, wake_fallback=30)
    order: list[int] = []

    async def take(number: int) -> None:
        async with leases.hold("turns"):
            order.append(number)

    started = time.monotonic()
    async with leases.hold("turns"):
        tasks = [asyncio.create_task(take(n)) for n in range(10)]
        await asyncio.sleep(0.2)
    await asyncio.gather(*tasks)
    assert sorted(order) == list(range(10))
    assert time.monotonic() - started < 2  # ten hand-offs, none waiting for a fallback


async def test_a_waiter_takes_an_expired_lease_at_its_ttl_without_a_release(
    make_leases: MakeLeases,
) -> None:
    leases = make_leases(ttl=0.3, wake_fallback=30)
    expired = await leases.acquire("x")  # never released: it runs out
    started = time.monotonic()
    lease = await leases.acquire("x", wait=5)
    waited = time.monotonic() - started
    assert 0.2 < waited < 0.6
    assert lease.fence > expired.fence


async def test_a_waiter_gives_up_with_lease_busy_at_its_deadline(make_leases: MakeLeases) -> None:
    leases = make_leases(ttl=30)
    await leases.acquire("x")
    started = time.monotonic()
    with pytest.raises(LeaseBusy):
        await leases.acquire("x", wait=0.3)
    assert 0.3 <= time.monotonic() - started < 0.6


async def test_a_lost_wake_up_costs_at_most_the_fallback(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=30, wake_fallback=0.3)
    holder = await leases.acquire("x")
    waiter = asyncio.create_task(leases.acquire("x", wait=5))
    await asyncio.sleep(0.1)
    # Delete behind the lease's back: no release script, so no message is published.
    await redis_client.delete(holder.key)
    started = time.monotonic()
    lease = await waiter
    assert time.monotonic() - started < 0.35
    assert lease.fence > holder.fence


async def test_waiters_are_still_pushed_after_the_pubsub_connection_is_killed(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=30, wake_fallback=30)
    holder = await leases.acquire("x")
    waiter = asyncio.create_task(leases.acquire("x", wait=10))
    await asyncio.sleep(0.2)
    assert await redis_client.client_kill_filter(_type="pubsub") == 1
    channel = leases.keys("x").channel
    for _ in range(100):  # the listener reconnects and subscribes again (bounded: 5 s)
        if await redis_client.pubsub_numsub(channel) == [(channel.encode(), 1)]:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the wake-up subscription did not come back")
    started = time.monotonic()
    await holder.release()
    lease = await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 1  # pushed, not the 30 s fallback
    assert lease.fence > holder.fence
