"""The lease on a real 3-master Redis Cluster: one slot per lease, sharded pub/sub wake-ups."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from singleton._errors import ConfigurationError
from singleton.lease._leases import LeasePolicy, Leases

pytestmark = [pytest.mark.redis, pytest.mark.slow]


async def test_many_names_spread_over_the_nodes_and_each_is_exclusive(
    cluster_client: RedisCluster,
) -> None:
    leases = Leases(cluster_client, namespace="cluster", policy=LeasePolicy(ttl=5, wait=10))
    names = [f"hub/instance-{n}" for n in range(12)]
    nodes = {cluster_client.get_node_from_key(leases.keys(n).lease).name for n in names}
    assert len(nodes) == 3
    holders: dict[str, int] = dict.fromkeys(names, 0)
    overlaps = 0

    async def take(name: str) -> None:
        nonlocal overlaps
        async with leases.hold(name) as lease:
            holders[name] += 1
            overlaps += holders[name] > 1
            assert len({key_slot(k.encode()) for k in (lease.key, leases.keys(name).fence)}) == 1
            await asyncio.sleep(0.002)
            holders[name] -= 1

    await asyncio.gather(*(take(name) for name in names for _ in range(4)))
    assert overlaps == 0
    await leases.aclose()


async def test_waiters_on_every_node_are_woken_by_sharded_pubsub(
    cluster_client: RedisCluster,
) -> None:
    leases = Leases(
        cluster_client, namespace="cluster", policy=LeasePolicy(ttl=30, wake_fallback=30)
    )
    names = [f"wake-{n}" for n in range(6)]
    held = [await leases.acquire(name) for name in names]
    waiters = [asyncio.create_task(leases.acquire(name, wait=10)) for name in names]
    await asyncio.sleep(0.3)
    started = time.monotonic()
    for lease in held:
        await lease.release()
    taken = await asyncio.wait_for(asyncio.gather(*waiters), 5)
    assert time.monotonic() - started < 1  # pushed, not waiting out a 30 s fallback
    assert all(new.fence > old.fence for new, old in zip(taken, held, strict=True))
    for lease in taken:
        await lease.release()
    await leases.aclose()


async def test_min_replicas_is_refused_on_a_cluster(cluster_client: RedisCluster) -> None:
    with pytest.raises(ConfigurationError, match="min_replicas"):
        Leases(cluster_client, namespace="cluster", policy=LeasePolicy(min_replicas=1))


async def test_waiters_are_served_in_arrival_order_and_limit_n_works_on_a_cluster(
    cluster_client: RedisCluster,
) -> None:
    # Every key of the line is in KEYS and in the name's slot; the hand-off is an SPUBLISH.
    leases = Leases(cluster_client, namespace="cluster-fair", policy=LeasePolicy(ttl=5))
    keys = leases.keys("fifo")
    assert len({key_slot(k.encode()) for k in (keys.lease, keys.queue, keys.holders)}) == 1
    holder = await leases.acquire("fifo")
    order: list[int] = []

    async def wait_turn(number: int) -> None:
        lease = await leases.acquire("fifo", wait=10)
        order.append(number)
        await lease.release()

    async def in_line(count: int) -> None:  # a condition, polled
        for _ in range(500):
            if int(await cluster_client.zcard(keys.queue)) >= count:
                return
            await asyncio.sleep(0.01)
        pytest.fail(f"{count} waiters never stood in line")

    waiting = []
    for number in range(4):  # each in line before the next starts: a known arrival order
        waiting.append(asyncio.create_task(wait_turn(number)))
        await in_line(number + 1)
    await holder.release()
    await asyncio.wait_for(asyncio.gather(*waiting), 10)
    assert order == [0, 1, 2, 3]
    two = [await leases.acquire("pool", limit=2, wait=0) for _ in range(2)]
    assert len({lease.fence for lease in two}) == 2
    for lease in two:
        assert await lease.release()
    await leases.aclose()
