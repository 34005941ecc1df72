"""Fixtures of the watchdog's tests: a real Durable backend over HTTP, real Redis leases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from singleton import LeasePolicy, Leases, SingletonStarter
from tests.singleton.harness import DurableHost, running_durable_host


@pytest.fixture
async def durable() -> AsyncIterator[DurableHost]:
    async with running_durable_host() as host:
        yield host


@pytest.fixture
async def leases(redis_client: aioredis.Redis) -> AsyncIterator[Leases]:
    leases = Leases(redis_client, namespace="watch", policy=LeasePolicy(ttl=5.0, wait=0.5))
    yield leases
    await leases.aclose()


@pytest.fixture
def starter(leases: Leases) -> SingletonStarter:
    # A short terminate wait: the stays-Pending test waits it out.
    return SingletonStarter(leases=leases, terminate_wait=0.5)
