"""The lease lost while a start is under way: cancelled and said, or kept and logged.

The Durable backend's storage latency slows each store operation so the lease can be taken
away (its key deleted, as an expiry or a failover would) at a known point of the start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from singleton import LeaseLost, LeasePolicy, Leases, Outcome, SingletonStarter
from singleton.functions.http import handle_start_request
from tests.singleton.durable_app import WAIT_FOR_FINISH
from tests.singleton.harness import DurableHost, post, running_durable_host

pytestmark = pytest.mark.redis

LATENCY = 0.3
"""Each store operation of the backend takes this long: a start is two of them."""


@pytest.fixture
async def slow_durable() -> AsyncIterator[DurableHost]:
    async with running_durable_host(storage_latency=LATENCY) as host:
        yield host


def leases_renewing_every(
    redis_client: aioredis.Redis, renew_every: float, *, ttl: float
) -> Leases:
    return Leases(
        redis_client,
        namespace="lost",
        policy=LeasePolicy(ttl=ttl, renew_every=renew_every, wait=1.0),
    )


async def delete_the_lease_once_taken(redis_client: aioredis.Redis) -> None:
    """Wait until the starter holds its lease, then take it away."""
    for _ in range(400):
        if await redis_client.dbsize():
            await redis_client.flushdb()
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the starter never took its lease")


async def test_a_lease_lost_before_the_start_cancels_it(
    slow_durable: DurableHost, redis_client: aioredis.Redis
) -> None:
    """Renewal every 0.1 s notices the loss during the second status read: nothing starts."""
    leases = leases_renewing_every(redis_client, 0.1, ttl=2.0)
    starter = SingletonStarter(leases=leases)
    try:
        attempt = asyncio.create_task(
            starter.start(slow_durable.client(), WAIT_FOR_FINISH, "lost-1")
        )
        await delete_the_lease_once_taken(redis_client)
        with pytest.raises(LeaseLost):
            await attempt
    finally:
        await leases.aclose()

    await asyncio.sleep(2 * LATENCY)  # anything still in flight would have landed by now
    assert slow_durable.started("lost-1") == 0


async def test_http_answers_503_when_the_lease_is_lost_mid_start(
    slow_durable: DurableHost, redis_client: aioredis.Redis
) -> None:
    leases = leases_renewing_every(redis_client, 0.1, ttl=2.0)
    starter = SingletonStarter(leases=leases)
    try:
        answer = asyncio.create_task(
            handle_start_request(
                post(WAIT_FOR_FINISH, "lost-2"), slow_durable.client(), starter=lambda: starter
            )
        )
        await delete_the_lease_once_taken(redis_client)
        response = await answer
    finally:
        await leases.aclose()

    assert response.status_code == 503
    assert "lost" in response.get_body().decode()
    assert int(response.headers["Retry-After"]) > 0


async def test_a_lease_found_expired_at_release_keeps_the_confirmed_start(
    slow_durable: DurableHost, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """No renewal before the release notices: the start was confirmed, so it is reported."""
    leases = leases_renewing_every(redis_client, 4.9, ttl=5.0)
    starter = SingletonStarter(leases=leases)
    try:
        attempt = asyncio.create_task(
            starter.start(slow_durable.client(), WAIT_FOR_FINISH, "lost-3")
        )
        await delete_the_lease_once_taken(redis_client)
        result = await attempt
    finally:
        await leases.aclose()

    assert result.outcome is Outcome.STARTED
    assert slow_durable.started("lost-3") == 1
    assert "expired before its release" in caplog.text
