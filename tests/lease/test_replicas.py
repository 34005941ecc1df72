"""min_replicas: WAIT after acquiring, against a real replica."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from singleton._errors import ReplicasNotAcknowledged
from singleton.lease._leases import LeasePolicy, Leases
from tests.lease.conftest import MakeLeases
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis


async def test_an_acquisition_returns_once_the_replica_has_it(
    replica_pair: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = replica_pair
    primary_client = aioredis.from_url(primary.url)
    replica_client = aioredis.from_url(replica.url)
    leases = Leases(primary_client, namespace="wait", policy=LeasePolicy(min_replicas=1))
    try:
        for _ in range(20):
            lease = await leases.acquire("x")
            # WAIT returned 1: the replica applied the write before acquire() returned.
            assert await replica_client.get(lease.key) == lease.token.encode()
            await lease.release()
    finally:
        await leases.aclose()
        await primary_client.aclose()
        await replica_client.aclose()


async def test_too_few_replicas_release_the_lease_and_raise(
    replica_pair: tuple[RedisServer, RedisServer],
) -> None:
    primary, _ = replica_pair
    client = aioredis.from_url(primary.url)
    policy = LeasePolicy(min_replicas=2, replica_timeout=0.2)
    leases = Leases(client, namespace="wait", policy=policy)
    try:
        started = time.monotonic()
        with pytest.raises(ReplicasNotAcknowledged, match="1 of 2 replicas"):
            await leases.acquire("y")
        assert 0.2 <= time.monotonic() - started < 1
        assert await client.exists(leases.keys("y").lease) == 0
    finally:
        await leases.aclose()
        await client.aclose()


async def test_no_replica_at_all_fails_cleanly(make_leases: MakeLeases) -> None:
    leases = make_leases(min_replicas=1, replica_timeout=0.1)
    with pytest.raises(ReplicasNotAcknowledged, match="0 of 1 replicas"):
        await leases.acquire("z")
    # Nothing left behind: the next acquisition (without WAIT) finds the lease free.
    plain = make_leases()
    lease = await plain.acquire("z", wait=0)  # LeaseBusy if the failed one were still held
    assert await lease.release() is True
