"""Fixtures of the ``@singleton`` suite: Leases on a real redis-server, trigger objects.

Each ``make_leases()`` has its own Redis client (its own connection pool), as two Function
App instances would; the trigger objects are the real ``azure.functions`` types the worker
passes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import azure.functions as func
import pytest
import redis.asyncio as aioredis
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from singleton.lease import LeasePolicy, Leases
from tests.redis_servers import RedisServer

MakeLeases = Callable[..., Leases]
NAMESPACE = "fn-test"


@pytest.fixture
async def make_leases(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> AsyncIterator[MakeLeases]:
    """``make_leases(ttl=..., wait=...)``: Leases with their own client, closed after the test
    (``redis_client`` flushed the database first)."""
    made: list[tuple[Leases, aioredis.Redis]] = []

    def make(*, url: str | None = None, **policy: Any) -> Leases:
        client = aioredis.from_url(url or redis_server.url, socket_connect_timeout=0.5)
        leases = Leases(client, namespace=NAMESPACE, policy=LeasePolicy(**policy))
        made.append((leases, client))
        return leases

    yield make
    for leases, client in made:
        await leases.aclose()
        await client.aclose()


async def until_held(redis_client: aioredis.Redis, key: str) -> None:
    """Wait (a condition, not a nap) until the invocation holds its lease."""
    for _ in range(500):
        if await redis_client.exists(key):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{key} was never acquired")


def http_request(
    customer_id: str | None = "c1", *, body: Any = None, params: dict[str, str] | None = None
) -> func.HttpRequest:
    route = {} if customer_id is None else {"customerId": customer_id}
    return func.HttpRequest(
        method="POST",
        url=f"http://127.0.0.1/api/reports/{customer_id}",
        route_params=route,
        params=params or {},
        body=b"" if body is None else json.dumps(body).encode(),
    )


def queue_message(body: Any) -> func.QueueMessage:
    return QueueMessage(id="m-1", body=json.dumps(body).encode(), dequeue_count=1)


def timer_request() -> func.TimerRequest:
    return TimerRequest(past_due=False)
