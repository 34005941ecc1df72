"""Fixtures of the lease suite; the real redis-server comes from ``tests/conftest.py``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from singleton._redis import RedisSettings, create_redis_client
from singleton.lease._leases import LeasePolicy, Leases
from tests.lease.servers import (
    LossyProxy,
    TlsFiles,
    running_cluster,
    running_replica_pair,
    running_tls_server,
)
from tests.redis_servers import RedisServer

MakeLeases = Callable[..., Leases]


@pytest.fixture
async def make_leases(redis_client: aioredis.Redis) -> AsyncIterator[MakeLeases]:
    """``make_leases(ttl=..., wait=..., ...)``: a Leases on the test's client, closed after."""
    made: list[Leases] = []

    def make(
        *, namespace: str = "test", client: aioredis.Redis | None = None, **policy: object
    ) -> Leases:
        leases = Leases(
            client if client is not None else redis_client,
            namespace=namespace,
            policy=LeasePolicy(**policy),  # type: ignore[arg-type]
        )
        made.append(leases)
        return leases

    yield make
    for leases in made:
        await leases.aclose()


@pytest.fixture(scope="module")
def replica_pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and its replica (real redis-servers, replication up)."""
    with running_replica_pair() as pair:
        yield pair


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[RedisServer]]:
    """A real 3-master Redis Cluster on loopback."""
    with running_cluster() as nodes:
        yield nodes


@pytest.fixture
async def cluster_client(cluster: list[RedisServer]) -> AsyncIterator[RedisCluster]:
    """A RedisCluster client of the module's cluster, as the app builds it."""
    settings = RedisSettings.from_environ(
        {"REDIS_URL": f"redis://127.0.0.1:{cluster[0].port}", "REDIS_CLUSTER": "true"}
    )
    client = create_redis_client(settings)
    assert isinstance(client, RedisCluster)
    await client.initialize()  # learn the slot map before asking it
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[RedisServer, TlsFiles]]:
    """A TLS-only redis-server and the throwaway CA that signed its certificate."""
    with running_tls_server() as server_and_files:
        yield server_and_files


@pytest.fixture
async def proxy(redis_server: RedisServer) -> AsyncIterator[LossyProxy]:
    """A misbehaving TCP proxy to the session's redis-server (``proxy.port``)."""
    proxy = LossyProxy(redis_server.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


async def until(check: Callable[[], Awaitable[object]], what: str, timeout: float = 5.0) -> None:
    """Poll ``check`` until it is truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"{what} within {timeout} s")


async def subscribers(client: aioredis.Redis, channel: str) -> int:
    [(_, count)] = await client.pubsub_numsub(channel)
    return int(count)
