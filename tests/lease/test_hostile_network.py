"""The lease when the network or the caller turns hostile: a partition, a cancelled acquire,
a cancelled release, a lost release reply. Real redis-server, a misbehaving TCP proxy."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest
import redis.asyncio as aioredis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from singleton._errors import LeaseLost
from singleton._redis import RedisSettings, create_redis_client
from singleton.lease._leases import Lease, LeasePolicy, Leases
from singleton.lease._policy import validity
from tests.lease.conftest import MakeLeases, until
from tests.lease.servers import LossyProxy
from tests.lease.test_processes import contender
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis


async def read_line(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
    return line.decode().strip()


async def test_a_partitioned_holder_stops_before_another_process_acquires(
    proxy: LossyProxy, redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    # The numbers: TTL 2 s, 1 s socket timeouts and 3 retries. redis-py alone would
    # keep one renewal trying for ~8 s while the lease has long expired in Redis.
    settings = RedisSettings(
        url=f"redis://127.0.0.1:{proxy.port}/0",
        socket_timeout=1.0,
        connect_timeout=1.0,
        retries=3,
    )
    client = create_redis_client(settings)
    leases = Leases(client, namespace="processes", policy=LeasePolicy(ttl=2.0))
    other = contender("acquire", redis_server.url, "p", "30", stdout=subprocess.PIPE)
    ended_at: list[float] = []
    held: list[Lease] = []

    async def hold_through_a_partition() -> None:
        async with leases.hold("p") as lease:
            held.append(lease)
            try:
                assert await read_line(other) == "waiting"  # the other process is up
                proxy.partition()
                await asyncio.sleep(60)  # guarded work, cut short by the keeper
            finally:
                ended_at.append(time.monotonic())

    try:
        with pytest.raises(LeaseLost):
            await hold_through_a_partition()
        other_acquired_at = float(await read_line(other))
        assert other.wait(timeout=30) == 0
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
        assert other.stdout is not None
        other.stdout.close()
        await leases.aclose()
        await client.aclose()
    # The holder's block was cut at its deadline (the TTL from when its acquire was sent, less
    # the drift allowance), not after its 60 s of work: the slack is the event loop's own
    # lateness on a loaded machine (CI runs three suites at once) ...
    assert ended_at[0] < held[0].acquired_at + validity(2.0) + 0.25
    # ... and, what the lease promises, before the other process could take the lease.
    assert ended_at[0] < other_acquired_at


async def test_a_cancelled_acquire_whose_script_ran_frees_the_key_at_once(
    proxy: LossyProxy, redis_client: aioredis.Redis
) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=proxy.port)
    leases = Leases(client, namespace="cancelled", policy=LeasePolicy(ttl=15))
    try:
        warm = await leases.acquire("warm-up")  # scripts loaded
        await warm.release()
        proxy.hold_replies_to(b"EVALSHA")  # the acquire runs; its answer never comes
        attempt = asyncio.create_task(leases.acquire("x"))
        key = leases.keys("x").lease
        await until(lambda: redis_client.exists(key), "the acquire never reached Redis")
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        assert await redis_client.exists(key) == 0  # freed before the cancellation returned
    finally:
        await leases.aclose()
        await client.aclose()


async def test_an_acquire_cancelled_during_the_replicas_wait_frees_the_key_at_once(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    # No replica exists: WAIT blocks for its whole timeout while the lease is already taken.
    leases = make_leases(ttl=15, min_replicas=1, replica_timeout=5)
    attempt = asyncio.create_task(leases.acquire("x"))
    key = leases.keys("x").lease
    await until(lambda: redis_client.exists(key), "the acquire never reached Redis")
    started = time.monotonic()
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert time.monotonic() - started < 1
    assert await redis_client.exists(key) == 0


async def test_a_cancellation_during_a_normal_release_still_releases(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    # One pooled connection: the release has to wait for it, and is cancelled meanwhile.
    pool = BlockingConnectionPool.from_url(redis_server.url, max_connections=1, timeout=10)
    client = aioredis.Redis.from_pool(pool)
    leases = Leases(client, namespace="shielded", policy=LeasePolicy(ttl=15))
    keys: list[str] = []

    async def hold_then_leave() -> None:
        async with leases.hold("x") as lease:
            keys.append(lease.key)
            # Takes the only connection for 0.5 s, from before the block ends.
            blocker = asyncio.create_task(client.blpop(["never-pushed"], timeout=0.5))
            await asyncio.sleep(0.05)
        await blocker

    try:
        holder = asyncio.create_task(hold_then_leave())
        await asyncio.sleep(0.2)  # the block ended normally; its release waits for the pool
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
        assert await redis_client.exists(keys[0]) == 1  # not yet: the connection is busy
        await until(
            lambda: _absent(redis_client, keys[0]),
            "the cancelled release never ran: the lease waits out its TTL",
        )
    finally:
        await leases.aclose()
        await client.aclose()


async def test_a_release_whose_reply_was_lost_is_not_lease_lost(
    proxy: LossyProxy, redis_client: aioredis.Redis
) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=proxy.port, retry=Retry(NoBackoff(), 1))
    leases = Leases(client, namespace="lossy", policy=LeasePolicy(ttl=15))
    try:
        async with leases.hold("x") as lease:
            proxy.drop_next_reply_to(b"EVALSHA")  # the release's: it runs, redis-py retries
        assert proxy.dropped == 1
        assert await redis_client.exists(lease.key) == 0
        assert lease.remaining() == 0
    finally:
        await leases.aclose()
        await client.aclose()


async def _absent(client: aioredis.Redis, key: str) -> bool:
    return not await client.exists(key)
