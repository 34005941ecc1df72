"""The per-loop runtime cache: freed with its loop, and no client built for a bad configuration."""

from __future__ import annotations

import asyncio
import os

import pytest

from singleton import ConfigurationError
from singleton import _runtime as runtime_module
from singleton._runtime import current_runtime, default_starter
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_asyncio_run_in_a_loop_leaks_no_sockets(redis_server: RedisServer) -> None:
    """A sync function calling ``asyncio.run`` per invocation (the Functions thread pool does)."""
    environ = {"REDIS_URL": redis_server.url, "SINGLETON_KEY_PREFIX": "runs"}

    async def one_invocation(number: int) -> None:
        leases = current_runtime(environ).leases
        async with leases.hold(f"job-{number % 3}"):  # a pooled connection, opened
            pass
        waiter = asyncio.create_task(leases.acquire("busy", wait=0.05))
        async with leases.hold("busy"):  # and the wake-up connection
            await asyncio.gather(waiter, return_exceptions=True)

    asyncio.run(one_invocation(0))  # imports and first-use caches settle
    before = open_descriptors()
    for number in range(1, 31):
        asyncio.run(one_invocation(number))
    assert open_descriptors() - before <= 2
    assert not runtime_module._runtimes  # every loop's runtime left with its loop


async def test_a_cluster_with_min_replicas_is_refused_before_a_client_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[object] = []

    def counting_factory(settings: object) -> object:
        built.append(settings)
        raise AssertionError("no client should be built for a configuration that is refused")

    monkeypatch.setattr(runtime_module, "create_redis_client", counting_factory)
    environ = {
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "REDIS_CLUSTER": "true",
        "SINGLETON_MIN_REPLICAS": "1",
    }
    for _ in range(3):  # every request is refused again, and builds nothing
        with pytest.raises(ConfigurationError, match="min_replicas"):
            default_starter(environ)
    assert built == []
