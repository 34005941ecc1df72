"""One starter per process (per event loop), built from app settings on first use.

Redis clients must not be created per invocation (connection churn, Azure's connection
limits), and ``redis.asyncio`` clients are bound to the loop they first ran on — so the
starter is cached per running loop. A configuration error is raised on every call until
the settings are fixed; nothing is started (and no client is built) meanwhile.

A loop's starter lives as long as the loop: a task parked in the loop closes its Redis
connections when the loop shuts down (``asyncio.run`` cancels every task before it closes
the loop — e.g. each run of a sync function that calls ``asyncio.run``), and a loop found
closed without that is dropped from the cache on the next build.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Mapping

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from singleton._redis import create_redis_client
from singleton._settings import Settings
from singleton.lease import LeasePolicy, Leases
from singleton.lease._leases import refuse_unsupported
from singleton.starter import IdempotencyRecords, SingletonStarter
from singleton.starter._pending import PendingRuns

logger = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class _Runtime:
    settings: Settings
    starter: SingletonStarter
    leases: Leases
    redis: Redis | RedisCluster
    closer: asyncio.Task[None] | None = None

    async def aclose(self) -> None:
        await self.leases.aclose()
        await self.redis.aclose()


#: Keyed by the loop itself: the runtime refers to its loop anyway (its connections do), so
#: a weak key would never be freed. Entries leave when their loop shuts down.
_runtimes: dict[asyncio.AbstractEventLoop, _Runtime] = {}


def _build(settings: Settings) -> _Runtime:
    policy = LeasePolicy(
        ttl=settings.lease_ttl,
        wait=settings.lease_wait,
        min_replicas=settings.min_replicas,
    )
    refuse_unsupported(policy, cluster=settings.redis.cluster)  # before building a client
    redis = create_redis_client(settings.redis)
    leases = Leases(redis, namespace=settings.key_prefix, policy=policy)
    idempotency = IdempotencyRecords(
        redis,
        namespace=settings.key_prefix,
        ttl=settings.idempotency_ttl,
        max_keys=settings.idempotency_max_keys_per_instance,
    )
    pending = PendingRuns(redis, namespace=settings.key_prefix, ttl=settings.pending_ttl)
    starter = SingletonStarter(
        leases=leases,
        idempotency=idempotency,
        terminate_wait=settings.terminate_wait,
        watchdog_max_ids=settings.watchdog_max_ids,
        pending=pending,
    )
    return _Runtime(settings=settings, starter=starter, leases=leases, redis=redis)


def create_starter(settings: Settings) -> SingletonStarter:
    """A new starter with its own Redis client, configured by ``settings``."""
    return _build(settings).starter


def current_runtime(environ: Mapping[str, str] | None = None) -> _Runtime:
    """The running loop's runtime, built from ``os.environ`` by default on first use."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is None:
        for stale in [other for other in _runtimes if other.is_closed()]:
            del _runtimes[stale]  # closed without a shutdown: let its objects go
        runtime = _build(Settings.from_environ(os.environ if environ is None else environ))
        _runtimes[loop] = runtime
        runtime.closer = loop.create_task(
            _close_at_shutdown(loop, runtime), name="singleton: close Redis at loop shutdown"
        )
    return runtime


def default_starter(environ: Mapping[str, str] | None = None) -> SingletonStarter:
    """The process's starter for the running event loop, from ``os.environ`` by default."""
    return current_runtime(environ).starter


async def _close_at_shutdown(loop: asyncio.AbstractEventLoop, runtime: _Runtime) -> None:
    try:
        await loop.create_future()  # parked until the loop's shutdown cancels it
    finally:
        if _runtimes.get(loop) is runtime:
            del _runtimes[loop]
        try:
            await runtime.aclose()
        except Exception as exc:  # shutting down: report, never raise into the loop's end
            logger.warning("closing the Redis client at loop shutdown failed: %r", exc)


def default_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings the running loop's default starter was built from (read once)."""
    return current_runtime(environ).settings


def default_leases(environ: Mapping[str, str] | None = None) -> Leases:
    """The running loop's lease manager: the default starter's, so both share one Redis client
    and one policy (``@singleton`` functions and the admin endpoint take their leases here)."""
    default_starter(environ)
    return _runtimes[asyncio.get_running_loop()].leases


async def close_default_starter() -> None:
    """Close the running loop's default starter (its Redis connections); the next
    :func:`default_starter` call builds a new one from the settings as they are then."""
    runtime = _runtimes.pop(asyncio.get_running_loop(), None)
    if runtime is None:
        return
    if runtime.closer is not None:
        runtime.closer.cancel()  # it closes the runtime, as at shutdown
        await asyncio.gather(runtime.closer, return_exceptions=True)
    else:
        await runtime.aclose()
