"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from tests.redis_servers import RedisServer, running_redis_server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session, on a free loopback port."""
    with running_redis_server() as server:
        yield server


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client of the session's redis-server, on an empty database."""
    client = aioredis.from_url(redis_server.url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session", autouse=True)
async def _close_durable_client_session() -> AsyncIterator[None]:
    """azure-functions-durable keeps one module-level aiohttp session and never closes it
    (the worker process just exits); close it at the end so nothing leaks a warning."""
    yield
    from azure.durable_functions.models.utils import http_utils

    await http_utils._close_session()
