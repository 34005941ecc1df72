"""The lease against a real redis-server: exclusion, release, expiry, fencing."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from singleton._errors import LeaseBusy, LeaseLost, LeaseUnavailable
from singleton.lease._leases import Leases
from tests.lease.conftest import MakeLeases

pytestmark = pytest.mark.redis


async def test_hold_sets_the_key_to_its_token_with_the_ttl_and_deletes_it_on_exit(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=2.5)
    async with leases.hold("MyHub/job-1") as lease:
        assert lease.name == "MyHub/job-1"
        assert await redis_client.get(lease.key) == lease.token.encode()
        assert 2400 < await redis_client.pttl(lease.key) <= 2500  # float TTL kept to the ms
        key = lease.key
    assert await redis_client.exists(key) == 0


async def test_a_busy_lease_raises_lease_busy_without_waiting(make_leases: MakeLeases) -> None:
    leases = make_leases(ttl=5)
    async with leases.hold("x"):
        with pytest.raises(LeaseBusy):
            await leases.acquire("x", wait=0)


async def test_many_tasks_hold_one_at_a_time_and_each_gets_its_turn(
    make_leases: MakeLeases,
) -> None:
    leases = make_leases(ttl=5, wait=20)
    holders = 0
    most_at_once = 0
    turns = 0

    async def contend() -> None:
        nonlocal holders, most_at_once, turns
        for _ in range(5):
            async with leases.hold("shared"):
                holders += 1
                most_at_once = max(most_at_once, holders)
                await asyncio.sleep(0.001)  # let the others run while we hold it
                holders -= 1
                turns += 1

    await asyncio.gather(*(contend() for _ in range(20)))
    assert most_at_once == 1
    assert turns == 100


async def test_tasks_sharing_one_leases_never_release_each_others_lease(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.2)
    first = await leases.acquire("x")
    await asyncio.sleep(0.3)  # first expires; a second task takes the lease
    second = await leases.acquire("x")
    assert await first.release() is False
    assert await redis_client.get(second.key) == second.token.encode()
    assert await second.release() is True


async def test_released_after_the_guarded_code_raises(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=5)
    with pytest.raises(ZeroDivisionError):
        async with leases.hold("x") as lease:
            _ = 1 / 0
    assert await redis_client.exists(lease.key) == 0


async def test_released_after_the_holder_is_cancelled(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=5)
    entered = asyncio.Event()
    keys: list[str] = []

    async def holder() -> None:
        async with leases.hold("x") as lease:
            keys.append(lease.key)
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(holder())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await redis_client.exists(keys[0]) == 0


async def test_an_expired_lease_can_neither_be_released_nor_extended_by_its_old_holder(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.05)
    old = await leases.acquire("x")
    await asyncio.sleep(0.1)
    new = await leases.acquire("x")
    assert await old.extend() is False
    assert await old.release() is False
    assert await redis_client.get(new.key) == new.token.encode()
    assert new.fence > old.fence


async def test_hold_raises_lease_lost_when_the_lease_expired_before_release(
    make_leases: MakeLeases,
) -> None:
    leases = make_leases(ttl=0.05, renew_every=0.04, max_hold=0.01)
    with pytest.raises(LeaseLost):
        async with leases.hold("x"):
            await asyncio.sleep(0.2)


async def test_fences_strictly_increase_under_concurrent_acquirers(
    make_leases: MakeLeases,
) -> None:
    leases = make_leases(ttl=5, wait=20)
    fences: list[int] = []

    async def take() -> None:
        async with leases.hold("fenced") as lease:
            fences.append(lease.fence)

    await asyncio.gather(*(take() for _ in range(50)))
    assert fences == sorted(fences)
    assert len(set(fences)) == 50


async def test_an_unreachable_redis_raises_lease_unavailable_from_the_redis_error() -> None:
    # No client retries: the refusal itself is what is under test.
    client = aioredis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    leases = Leases(client, namespace="test")
    with pytest.raises(LeaseUnavailable) as caught:
        await leases.acquire("x")
    assert caught.value.__cause__ is not None
    await leases.aclose()
    await client.aclose()
