"""One starter per process (per event loop), built from app settings on first use.

Redis clients must not be created per invocation (connection churn, Azure's connection
limits), and ``redis.asyncio`` clients are bound to the loop they first ran on — so the
starter is cached per running loop. A configuration error is raised on every call until
the settings are fixed; nothing is started meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Mapping

from singleton._lease import LeasePolicy, Leases
from singleton._redis import create_redis_client
from singleton._settings import Settings
from singleton._starter import SingletonStarter

_starters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SingletonStarter] = (
    weakref.WeakKeyDictionary()
)


def create_starter(settings: Settings) -> SingletonStarter:
    """A starter with its own Redis client, configured by ``settings``."""
    leases = Leases(
        create_redis_client(settings.redis),
        namespace=settings.key_prefix,
        policy=LeasePolicy(
            ttl=settings.lease_ttl,
            wait=settings.lease_wait,
            min_replicas=settings.min_replicas,
        ),
    )
    return SingletonStarter(leases=leases)


def default_starter(environ: Mapping[str, str] | None = None) -> SingletonStarter:
    """The process's starter for the running event loop, from ``os.environ`` by default."""
    loop = asyncio.get_running_loop()
    starter = _starters.get(loop)
    if starter is None:
        starter = create_starter(Settings.from_environ(os.environ if environ is None else environ))
        _starters[loop] = starter
    return starter
