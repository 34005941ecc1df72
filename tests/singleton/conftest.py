"""Fixtures of the starter's tests: a real Durable backend over HTTP, real Redis leases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from singleton import LeasePolicy, Leases, RedisSettings, SingletonStarter, create_redis_client
from tests.redis_servers import RedisServer
from tests.singleton.harness import DurableHost, running_durable_host

HOSTS = 3
"""Starters of the ``starters`` fixture, each with its own Redis connection pool, as if they
ran in different Function App instances."""


@pytest.fixture
async def durable() -> AsyncIterator[DurableHost]:
    async with running_durable_host() as host:
        yield host


@pytest.fixture
async def leases(redis_client: aioredis.Redis) -> AsyncIterator[Leases]:
    leases = Leases(redis_client, namespace="test", policy=LeasePolicy(ttl=5.0, wait=0.5))
    yield leases
    await leases.aclose()


@pytest.fixture
def starter(leases: Leases) -> SingletonStarter:
    return SingletonStarter(leases=leases)


@pytest.fixture
async def starters(redis_server: RedisServer) -> AsyncIterator[list[SingletonStarter]]:
    """``HOSTS`` starters sharing one namespace, each on its own Redis client; they wait up to
    10 s for each other's leases."""
    settings = RedisSettings.from_environ({"REDIS_URL": redis_server.url})
    clients = [create_redis_client(settings) for _ in range(HOSTS)]
    all_leases = [
        Leases(client, namespace="race", policy=LeasePolicy(ttl=15.0, wait=10.0))
        for client in clients
    ]
    yield [SingletonStarter(leases=leases) for leases in all_leases]
    for leases, client in zip(all_leases, clients, strict=True):
        await leases.aclose()
        await client.aclose()
