"""Fences against real redis-servers: strictly increasing across data loss, no key kept for ever."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from singleton.lease._leases import LeasePolicy, Leases
from tests.lease.conftest import MakeLeases
from tests.redis_servers import running_redis_server

pytestmark = pytest.mark.redis


async def _fences(leases: Leases, name: str, count: int) -> list[int]:
    fences = []
    for _ in range(count):
        async with leases.hold(name) as lease:
            fences.append(lease.fence)
    return fences


async def test_fences_strictly_increase_across_flushall(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases()
    before = await _fences(leases, "x", 3)
    await redis_client.flushall()  # every fence key gone
    after = await _fences(leases, "x", 3)
    fences = before + after
    assert fences == sorted(fences)
    assert len(set(fences)) == len(fences)


async def test_fences_strictly_increase_across_a_restart_without_persistence() -> None:
    with running_redis_server() as first:
        client = aioredis.from_url(first.url)
        leases = Leases(client, namespace="restart")
        before = await _fences(leases, "x", 3)
        await leases.aclose()
        await client.aclose()
        port = first.port
    # A new, empty server on the same port: the fence keys are gone as after a crash.
    with running_redis_server(port=port) as second:
        client = aioredis.from_url(second.url)
        leases = Leases(client, namespace="restart")
        assert await client.dbsize() == 0
        after = await _fences(leases, "x", 3)
        await leases.aclose()
        await client.aclose()
    assert before[-1] < after[0]
    assert before + after == sorted(set(before + after))


async def test_fences_stay_above_a_remembered_fence_when_the_clock_is_behind_it(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases()
    ahead = int(time.time() * 1_000_000) + 3_600_000_000  # as if the clock stepped back 1 h
    await redis_client.set(leases.keys("x").fence, ahead, px=5000)
    assert await _fences(leases, "x", 3) == [ahead + 1, ahead + 2, ahead + 3]


async def test_every_key_a_lease_leaves_behind_expires(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.3, renew_every=0.1)
    async with leases.hold("renewed"):
        # Renewed: the fence key lives two TTLs from the renewal (one past the lease: its
        # trace, which tells the next holder the lease ran out rather than was released).
        await asyncio.sleep(0.25)
        assert 0 < await redis_client.pttl(leases.keys("renewed").fence) <= 600
    released = await leases.acquire("released")
    await released.release()
    await leases.acquire("expired")  # left to run out
    keys = [key async for key in redis_client.scan_iter(match="test:*")]
    assert keys  # the fence keys linger until their TTL
    assert all([await redis_client.pttl(key) > 0 for key in keys])
    for _ in range(100):  # up to 5 s: the keys' TTLs are at most 0.6 s
        if not await redis_client.dbsize():
            break
        await asyncio.sleep(0.05)
    assert await redis_client.dbsize() == 0


@pytest.fixture
async def fresh_redis() -> AsyncIterator[aioredis.Redis]:
    """A redis-server of its own, so its memory figures are this test's alone."""
    with running_redis_server() as server:
        client = aioredis.from_url(server.url)
        yield client
        await client.aclose()


async def _memory(client: aioredis.Redis) -> tuple[int, int]:
    info = await client.info("memory")
    return int(info["used_memory"]), int(await client.dbsize())


@pytest.mark.slow
async def test_memory_returns_to_baseline_after_100k_distinct_leases(
    fresh_redis: aioredis.Redis,
) -> None:
    cycles, workers = 100_000, 32
    leases = Leases(fresh_redis, namespace="memory", policy=LeasePolicy(ttl=1.0))

    async def cycle(worker: int, count: int) -> None:
        for n in range(count):
            lease = await leases.acquire(f"instance-{worker}-{n}", wait=0)
            await lease.release()

    # Warm-up: scripts loaded, every worker's connection open, as during the run.
    await asyncio.gather(*(cycle(-w - 1, 1) for w in range(workers)))
    await asyncio.sleep(1.5)  # the warm-up's fence keys run out
    baseline_memory, baseline_keys = await _memory(fresh_redis)
    assert baseline_keys == 0

    await asyncio.gather(*(cycle(w, cycles // workers) for w in range(workers)))
    peak_memory, peak_keys = await _memory(fresh_redis)
    assert peak_keys > 0  # the fence keys linger up to one TTL after release

    deadline = time.monotonic() + 30
    memory, keys = await _memory(fresh_redis)
    while (keys or memory > baseline_memory + 64 * 1024) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        memory, keys = await _memory(fresh_redis)
    await leases.aclose()
    print(
        f"\nused_memory baseline {baseline_memory} B, peak {peak_memory} B ({peak_keys} keys), "
        f"after {memory} B ({keys} keys)"
    )
    assert keys == 0
    assert memory <= baseline_memory + 64 * 1024  # 100k fence keys kept would be ~10 MB
