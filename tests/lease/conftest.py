"""Fixtures of the lease suite; the real redis-server comes from ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from singleton._lease import LeasePolicy, Leases

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
