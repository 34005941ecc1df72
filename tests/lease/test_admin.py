"""Listing and force-releasing leases, against a real redis-server and a real cluster."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from singleton import LeaseLost, LeaseUnavailable
from singleton.lease._admin import SCAN_BATCH, force_release, list_leases
from singleton.lease._keys import lease_key_pattern, name_of_lease_key
from singleton.lease._leases import LeasePolicy, Leases
from tests.lease.conftest import MakeLeases
from tests.redis_servers import free_port

pytestmark = pytest.mark.redis

ODD_NAMES = ["Hub/plain", "Hub/with space", "Hub/a:b{c}", "Hub/ünï/cödé", "Hub/*?[x]", ""]


def test_the_pattern_and_the_parser_invert_the_key_layout() -> None:
    leases = Leases(aioredis.Redis(), namespace="ns:{x}")
    for name in ODD_NAMES:
        assert name_of_lease_key("ns:{x}", leases.keys(name).lease) == name
        assert name_of_lease_key("ns:{x}", leases.keys(name).fence) is None
        assert name_of_lease_key("other", leases.keys(name).lease) is None
    assert lease_key_pattern("ns:{x}") == "ns%3A%7Bx%7D:{=*}:lease"


async def test_lists_exactly_the_held_leases_of_its_namespace(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(namespace="admin", ttl=20)
    held = {name: await leases.acquire(name) for name in ODD_NAMES}
    released = await leases.acquire("Hub/released")  # its fence key stays: not a lease
    await released.release()
    neighbour = make_leases(namespace="admin2")  # a namespace sharing the prefix
    await neighbour.acquire("Hub/plain")
    await redis_client.set("admin:{=fake}:lease-not", "x")

    listed = await list_leases(leases)

    assert [lease.name for lease in listed] == sorted(ODD_NAMES)
    for lease in listed:
        assert lease.fence == held[lease.name].fence
        assert lease.ttl is not None
        assert 19 < lease.ttl <= 20


async def test_lists_more_leases_than_one_scan_batch(make_leases: MakeLeases) -> None:
    leases = make_leases(namespace="many")
    count = SCAN_BATCH * 2 + 7
    for n in range(count):
        await leases.acquire(f"Hub/{n}")
    listed = await list_leases(leases)
    assert sorted(lease.name for lease in listed) == sorted(f"Hub/{n}" for n in range(count))


async def test_force_release_wakes_the_waiters_and_the_holder_loses_it(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(namespace="force", ttl=0.6, wake_fallback=30)
    holder_ready = asyncio.Event()
    fences: list[int] = []

    async def holder() -> None:
        async with leases.hold("Hub/stuck") as lease:
            fences.append(lease.fence)
            holder_ready.set()
            await asyncio.sleep(5)  # renewed every 0.2 s until it finds the lease gone

    holding = asyncio.create_task(holder())
    await holder_ready.wait()
    waiter = asyncio.create_task(
        make_leases(namespace="force", ttl=30).acquire("Hub/stuck", wait=10)
    )
    await asyncio.sleep(0.1)
    started = time.monotonic()
    assert await force_release(leases, "Hub/stuck") is True
    taken = await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 0.5  # woken by the release, not by a fallback
    assert taken.fence > fences[0]
    with pytest.raises(LeaseLost):
        await holding
    assert await redis_client.get(taken.key) == taken.token.encode()  # the holder took nothing
    await taken.release()
    assert await force_release(leases, "Hub/stuck") is False
    assert await list_leases(leases) == []


async def test_a_name_held_with_a_limit_is_listed_once_with_its_holders_and_force_released(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(namespace="limits", ttl=20)
    first = await leases.acquire("Hub/pool", limit=3)
    second = await leases.acquire("Hub/pool", limit=3)
    plain = await leases.acquire("Hub/plain")
    dead = await leases.acquire("Hub/pool", limit=3)
    keys = leases.keys("Hub/pool")
    # A third holder whose lease ran out unreleased (its process died): not counted.
    await redis_client.zadd(keys.holders, {dead.token: 1}, xx=True)

    listed = {lease.name: lease for lease in await list_leases(leases)}

    assert sorted(listed) == ["Hub/plain", "Hub/pool"]
    pool = listed["Hub/pool"]
    assert pool.holders == 2
    assert pool.fence == dead.fence  # the last one issued, to any holder
    assert pool.ttl is not None
    assert 19 < pool.ttl <= 20
    assert listed["Hub/plain"].holders == 1
    assert listed["Hub/plain"].fence == plain.fence

    assert await force_release(leases, "Hub/pool") is True
    assert not await redis_client.exists(keys.holders)
    # Both holders find their slot gone; the name is free for the next, a higher fence.
    assert await first.release() is False
    assert await second.release() is False
    taken = await leases.acquire("Hub/pool", limit=3)
    assert taken.fence > dead.fence
    assert {lease.name: lease.holders for lease in await list_leases(leases)} == {
        "Hub/plain": 1,
        "Hub/pool": 1,
    }


async def test_redis_down_is_lease_unavailable() -> None:
    client = aioredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    leases = Leases(client, namespace="down")
    with pytest.raises(LeaseUnavailable):
        await list_leases(leases)
    with pytest.raises(LeaseUnavailable):
        await force_release(leases, "x")
    await leases.aclose()
    await client.aclose()


@pytest.fixture
async def cluster_leases(cluster_client: RedisCluster) -> AsyncIterator[Leases]:
    leases = Leases(cluster_client, namespace="admin", policy=LeasePolicy(ttl=20, wake_fallback=30))
    yield leases
    await leases.aclose()


async def test_a_cluster_lists_the_leases_of_every_primary_and_force_releases(
    cluster_leases: Leases,
) -> None:
    client = cluster_leases.store.client
    names = [f"Hub/{n}" for n in range(60)]
    for name in names:
        await cluster_leases.acquire(name)
    nodes = {client.get_node_from_key(cluster_leases.keys(n).lease).name for n in names}
    assert len(nodes) == 3  # the names are spread over every primary
    listed = await list_leases(cluster_leases)
    assert sorted(lease.name for lease in listed) == sorted(names)

    waiter = asyncio.create_task(cluster_leases.acquire("Hub/7", wait=10))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    assert await force_release(cluster_leases, "Hub/7") is True
    await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 0.5  # woken by the sharded publish
