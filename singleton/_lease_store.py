"""The lease's only contact with Redis: its scripts run here, and redis-py's errors are
translated into ``LeaseUnavailable`` here and nowhere else."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from singleton._errors import LeaseUnavailable
from singleton._lease_keys import LeaseKeys
from singleton._scripts import acquire_script, extend_script, release_script

logger = logging.getLogger(__name__)

#: What redis-py raises when Redis fails or cannot be reached (TimeoutError is an OSError).
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


class _Translated:
    """``with _Translated("acquire", key):`` turns a redis-py error into ``LeaseUnavailable``."""

    __slots__ = ("action", "key")

    def __init__(self, action: str, key: str) -> None:
        self.action = action
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and isinstance(exc, REDIS_ERRORS):
            raise LeaseUnavailable(
                f"Redis failed to {self.action} {self.key!r}: {type(exc).__name__}: {exc}"
            ) from exc


class LeaseStore:
    """Runs the lease scripts on one redis.asyncio ``Redis`` or ``RedisCluster`` client."""

    def __init__(self, client: Any, *, sharded: bool) -> None:
        self.client = client
        # Release publishes on a shard channel on Redis Cluster, a plain channel otherwise.
        self._publish_flag = "1" if sharded else "0"

    async def acquire(self, keys: LeaseKeys, token: str, ttl_ms: int) -> tuple[bool, int]:
        """(True, fence) if ``token`` holds the lease now; (False, holder's PTTL ms) if not."""
        with _Translated("acquire", keys.lease):
            acquired, number = await acquire_script(
                self.client, (keys.lease, keys.fence), (token, ttl_ms)
            )
        return acquired == 1, int(number)

    async def acquire_confirmed(
        self, keys: LeaseKeys, token: str, ttl_ms: int, replicas: int, timeout_ms: int
    ) -> tuple[bool, int, int]:
        """Like :meth:`acquire`, then ``WAIT replicas timeout_ms``; also returns the replicas
        that acknowledged. Both go down one connection in one pipeline: WAIT only counts the
        writes of the connection it is sent on."""
        with _Translated("acquire", keys.lease):
            for _ in range(2):  # a second pass only after loading the script (NOSCRIPT)
                pipe = self.client.pipeline(transaction=False)
                pipe.evalsha(acquire_script.sha, 2, keys.lease, keys.fence, token, ttl_ms)
                pipe.execute_command("WAIT", replicas, timeout_ms)
                try:
                    (acquired, number), acknowledged = await pipe.execute()
                except NoScriptError:
                    await self.client.script_load(acquire_script.source)
                    continue
                return acquired == 1, int(number), int(acknowledged)
            raise NoScriptError(f"the acquire script could not be loaded on {keys.lease!r}")

    async def release(self, keys: LeaseKeys, token: str) -> bool:
        """Delete the lease if ``token`` still holds it, and wake its waiters."""
        with _Translated("release", keys.lease):
            released = await release_script(
                self.client, (keys.lease, keys.channel), (token, self._publish_flag)
            )
        return bool(released == 1)

    async def extend(self, keys: LeaseKeys, token: str, ttl_ms: int) -> bool:
        """Reset the lease's TTL to ``ttl_ms`` if ``token`` still holds it."""
        with _Translated("extend", keys.lease):
            extended = await extend_script(self.client, (keys.lease,), (token, ttl_ms))
        return bool(extended == 1)
