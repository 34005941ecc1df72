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
