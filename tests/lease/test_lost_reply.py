"""An acquire whose reply is lost on the network and retried by the client is still ours."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from singleton.lease._leases import Leases
from tests.lease.servers import LossyProxy
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis


async def test_a_retried_acquire_whose_reply_was_lost_holds_the_lease(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    proxy = LossyProxy(redis_server.port)
    port = await proxy.start()
    client = aioredis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 1))
    leases = Leases(client, namespace="lossy")
    try:
        warm = await leases.acquire("warm-up")  # scripts loaded, connection open
        await warm.release()
        proxy.drop_next_reply_to(b"EVALSHA")
        lease = await leases.acquire("x", wait=0)  # a plain SET NX retry would read "busy"
        assert proxy.dropped == 1
        assert await redis_client.get(lease.key) == lease.token.encode()
        # The retry returned the fence the first run issued and remembered, not a new one.
        assert await redis_client.get(leases.keys("x").fence) == str(lease.fence).encode()
        assert await lease.release() is True
    finally:
        await leases.aclose()
        await client.aclose()
        await proxy.close()
