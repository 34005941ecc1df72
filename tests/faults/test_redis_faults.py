"""Redis killed and restarted, paused (SIGSTOP) and out of memory in the middle of a storm of
real HTTP starts through function_app.py on the devhost.

What must hold, counted from the backend's start records and instance list: every 202 is
exactly one created instance; every "lease unavailable" 503 started nothing; nothing is in
the store that no 202 accounts for; and once Redis is back the same app (never restarted)
answers 202 again.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.faults.conftest import Storm, assert_every_outcome_matches_the_store, devhost_on
from tests.redis_servers import RedisServer, free_port, running_redis_server

pytestmark = pytest.mark.redis

# Fail fast while Redis is away, so a storm sees the fault within a fraction of a second.
FAST_FAILING = {
    "REDIS_SOCKET_TIMEOUT": "0.3",
    "REDIS_CONNECT_TIMEOUT": "0.3",
    "REDIS_RETRIES": "1",
    "REDIS_RETRY_BACKOFF_BASE": "0.01",
    "REDIS_RETRY_BACKOFF_CAP": "0.05",
    "SINGLETON_LEASE_WAIT": "1",
}
HEALTHY = 0.3  # seconds of storm before the fault
OUTAGE = 1.0  # seconds the fault lasts
# A paused Redis fails a command only after socket timeout x (retries + 1) = 0.6 s, and
# requests already past their acquire spend that in their release (still 202): pause long
# enough for fresh requests to meet the pause at their acquire.
PAUSE = 2.5


class RestartableRedis:
    """A redis-server on one fixed port that can be killed and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self._stack = contextlib.ExitStack()
        self.server: RedisServer = self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.server = self._stack.enter_context(running_redis_server(port=self.port))
        return self.server

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def restartable_redis() -> Iterator[RestartableRedis]:
    redis = RestartableRedis()
    try:
        yield redis
    finally:
        redis.close()


async def storm_through(
    redis: RestartableRedis,
    monkeypatch: pytest.MonkeyPatch,
    http: aiohttp.ClientSession,
    fault: Callable[[], Awaitable[None]],
) -> Storm:
    async with devhost_on(redis.url, monkeypatch, **FAST_FAILING) as host:
        storm = Storm(host, http)

        async def healthy_fault_recovered() -> None:
            await asyncio.sleep(HEALTHY)
            await fault()
            await asyncio.sleep(HEALTHY)

        await storm.run_while(healthy_fault_recovered)
        await assert_every_outcome_matches_the_store(storm)
        # Recovery without restarting the app: fresh IDs start, one after the other.
        mark = len(storm.answers)
        for number in range(10):
            await storm.one(f"after-{number}")
        assert storm.statuses(storm.since(mark)) == {202: 10}, storm.since(mark)
        await assert_every_outcome_matches_the_store(storm)
    return storm


def assert_the_fault_showed(storm: Storm) -> None:
    statuses = storm.statuses()
    assert statuses[503] >= 1, statuses  # the storm did meet the fault
    assert statuses[202] >= 1, statuses
    assert set(statuses) <= {202, 503}, statuses  # no 500/502: a Redis fault is a 503


async def test_redis_killed_and_restarted_mid_storm(
    restartable_redis: RestartableRedis,
    monkeypatch: pytest.MonkeyPatch,
    http: aiohttp.ClientSession,
) -> None:
    async def kill_then_restart() -> None:
        restartable_redis.server.process.kill()
        restartable_redis.server.process.wait()
        await asyncio.sleep(OUTAGE)
        restartable_redis.start()

    storm = await storm_through(restartable_redis, monkeypatch, http, kill_then_restart)
    assert_the_fault_showed(storm)


async def test_redis_paused_mid_storm(
    restartable_redis: RestartableRedis,
    monkeypatch: pytest.MonkeyPatch,
    http: aiohttp.ClientSession,
) -> None:
    async def pause_then_continue() -> None:
        restartable_redis.server.process.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(PAUSE)
        finally:
            restartable_redis.server.process.send_signal(signal.SIGCONT)

    storm = await storm_through(restartable_redis, monkeypatch, http, pause_then_continue)
    assert_the_fault_showed(storm)


async def test_redis_out_of_memory_mid_storm(
    restartable_redis: RestartableRedis,
    monkeypatch: pytest.MonkeyPatch,
    http: aiohttp.ClientSession,
) -> None:
    admin = aioredis.from_url(restartable_redis.url)

    async def fill_then_free() -> None:
        # noeviction (what the README asks for on Azure): a full cache refuses writes.
        await admin.config_set("maxmemory-policy", "noeviction")
        await admin.config_set("maxmemory", "1")
        try:
            await asyncio.sleep(OUTAGE)
        finally:
            await admin.config_set("maxmemory", "0")

    try:
        storm = await storm_through(restartable_redis, monkeypatch, http, fill_then_free)
    finally:
        await admin.aclose()
    assert_the_fault_showed(storm)
