"""Eviction: a warning wherever Redis may evict lease keys; a full noeviction cache is a 503."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from fakeredis import FakeAsyncRedis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import OutOfMemoryError

from singleton import LeaseUnavailable, SingletonStarter
from singleton.functions.http import handle_start_request
from singleton.lease._eviction import EvictionCheck, check_eviction_policy
from singleton.lease._leases import LeasePolicy, Leases
from tests.lease.conftest import MakeLeases
from tests.redis_servers import RedisServer, running_redis_server
from tests.singleton.durable_app import ECHO
from tests.singleton.harness import post, running_durable_host

pytestmark = pytest.mark.redis

EVICTION_LOGGER = "singleton.lease._eviction"


@pytest.fixture
async def policy(redis_client: aioredis.Redis) -> AsyncIterator[None]:
    """Tests set the session server's policy with CONFIG (the library never does); restored."""
    before = (await redis_client.config_get("maxmemory-policy"))["maxmemory-policy"]
    yield
    await redis_client.config_set("maxmemory-policy", before)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == EVICTION_LOGGER and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize(
    ("configured", "warned"),
    [
        ("volatile-lru", True),  # Azure Cache for Redis' default
        ("volatile-ttl", True),
        ("allkeys-lru", True),
        ("allkeys-random", True),
        ("noeviction", False),
    ],
)
@pytest.mark.usefixtures("policy")
async def test_the_first_acquire_warns_when_lease_keys_can_be_evicted(
    make_leases: MakeLeases,
    redis_client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
    configured: str,
    warned: bool,
) -> None:
    caplog.set_level(logging.DEBUG, EVICTION_LOGGER)
    await redis_client.config_set("maxmemory-policy", configured)
    leases = make_leases()
    for name in ("a", "b", "c"):
        lease = await leases.acquire(name)
        await lease.release()
    assert await leases.eviction.result() == {"": configured}
    warnings = _warnings(caplog)
    assert len(warnings) == (1 if warned else 0)  # once per client, not per acquisition
    if warned:
        assert configured in warnings[0]
        assert "noeviction" in warnings[0]


async def test_an_unreadable_policy_is_a_warning_and_fails_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, EVICTION_LOGGER)
    with running_redis_server() as server:
        client = aioredis.from_url(server.url)
        await client.ping()
    server.stop()  # gone: INFO fails
    check = EvictionCheck(client, retry_after=3600)
    assert await check.result() == {}
    check.start()  # failed too recently: not tried again
    assert await check.result() == {}
    assert len(_warnings(caplog)) == 1
    assert "could not read maxmemory_policy" in _warnings(caplog)[0]
    await client.aclose()


async def test_a_redis_that_does_not_report_the_policy_is_noted_not_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The local host's embedded Redis (fakeredis) refuses INFO memory: a note, not a warning
    # at every start of the local host.
    caplog.set_level(logging.DEBUG, EVICTION_LOGGER)
    client = FakeAsyncRedis()
    check = EvictionCheck(client, retry_after=3600)
    assert await check.result() == {}
    assert _warnings(caplog) == []
    assert any("does not report maxmemory_policy" in r.getMessage() for r in caplog.records)
    await client.aclose()


async def test_every_primary_of_a_cluster_is_read_and_named(
    cluster: list[RedisServer], cluster_client: RedisCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, EVICTION_LOGGER)
    direct = aioredis.Redis(host="127.0.0.1", port=cluster[1].port)
    await direct.config_set("maxmemory-policy", "allkeys-lru")  # one node of three
    try:
        policies = await check_eviction_policy(cluster_client)
    finally:
        await direct.config_set("maxmemory-policy", "noeviction")
        await direct.aclose()
    assert sorted(policies.values()) == ["allkeys-lru", "noeviction", "noeviction"]
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert f"127.0.0.1:{cluster[1].port}" in warnings[0]


@pytest.fixture
def full_server() -> Iterator[RedisServer]:
    """A redis-server with a tiny maxmemory and noeviction."""
    with running_redis_server("--maxmemory", "3mb", "--maxmemory-policy", "noeviction") as server:
        yield server


async def _fill(client: aioredis.Redis) -> None:
    """Write until Redis refuses for lack of memory, then keep it over the limit: a refused
    write frees its own request buffer, which would leave room for one more small write."""
    for n in range(10_000):
        try:
            await client.set(f"ballast:{n}", b"x" * 10_000)
        except OutOfMemoryError:
            used = int((await client.info("memory"))["used_memory"])
            await client.config_set("maxmemory", used - 64 * 1024)  # the test's hand, not ours
            return
    raise AssertionError("the cache never filled up")


async def test_a_full_noeviction_cache_is_lease_unavailable_and_a_503(
    full_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, EVICTION_LOGGER)
    client = aioredis.from_url(full_server.url)
    leases = Leases(client, namespace="full", policy=LeasePolicy(wait=0.2))
    held = await leases.acquire("held-before")  # taken while there was room
    await _fill(client)
    with pytest.raises(LeaseUnavailable, match="maxmemory"):
        await leases.acquire("x")
    assert await client.exists(leases.keys("x").lease) == 0
    async with running_durable_host() as durable:
        response = await handle_start_request(
            post(ECHO, "full-1"), durable.client(), lambda: SingletonStarter(leases=leases)
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert durable.started("full-1") == 0  # nothing started without the lease
    assert await leases.eviction.result() == {"": "noeviction"}
    assert _warnings(caplog) == []
    # The lease taken before is intact: noeviction never frees it behind its holder's back.
    assert await client.get(held.key) == held.token.encode()
    await leases.aclose()
    await client.aclose()
