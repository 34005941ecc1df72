"""One starter per process (per event loop), built from app settings on first use.

Redis clients must not be created per invocation (connection churn, Azure's connection
limits), and ``redis.asyncio`` clients are bound to the loop they first ran on — so the
starter is cached per running loop. A configuration error is raised on every call until
the settings are fixed; nothing is started meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import weakref
from collections.abc import Mapping

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from singleton._redis import create_redis_client
from singleton._settings import Settings
from singleton.lease import LeasePolicy, Leases
from singleton.starter import SingletonStarter


@dataclasses.dataclass(frozen=True)
class _Runtime:
    starter: SingletonStarter
    leases: Leases
    redis: Redis | RedisCluster

    async def aclose(self) -> None:
        await self.leases.aclose()
        await self.redis.aclose()


_runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Runtime] = (
    weakref.WeakKeyDictionary()
)


def _build(settings: Settings) -> _Runtime:
    redis = create_redis_client(settings.redis)
    leases = Leases(
        redis,
        namespace=settings.key_prefix,
        policy=LeasePolicy(
            ttl=settings.lease_ttl,
            wait=settings.lease_wait,
            min_replicas=settings.min_replicas,
        ),
    )
    return _Runtime(starter=SingletonStarter(leases=leases), leases=leases, redis=redis)


def create_starter(settings: Settings) -> SingletonStarter:
    """A new starter with its own Redis client, configured by ``settings``."""
    return _build(settings).starter


def default_starter(environ: Mapping[str, str] | None = None) -> SingletonStarter:
    """The process's starter for the running event loop, from ``os.environ`` by default."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is None:
        runtime = _build(Settings.from_environ(os.environ if environ is None else environ))
        _runtimes[loop] = runtime
    return runtime.starter


def default_leases(environ: Mapping[str, str] | None = None) -> Leases:
    """The running loop's lease manager: the default starter's, so both share one Redis client
    and one policy (``@singleton`` functions and the admin endpoint take their leases here)."""
    default_starter(environ)
    return _runtimes[asyncio.get_running_loop()].leases


async def close_default_starter() -> None:
    """Close the running loop's default starter (its Redis connections); the next
    :func:`default_starter` call builds a new one from the settings as they are then."""
    runtime = _runtimes.pop(asyncio.get_running_loop(), None)
    if runtime is not None:
        await runtime.aclose()
