"""The lease's only contact with Redis: its scripts run here, and redis-py's errors are
translated into ``LeaseUnavailable`` here and nowhere else."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from singleton._errors import LeaseUnavailable
from singleton._telemetry import redis_error
from singleton.lease._keys import LeaseKeys
from singleton.lease._scripts import Script, acquire_script, extend_script, release_script

logger = logging.getLogger(__name__)

#: What redis-py raises when Redis fails or cannot be reached (TimeoutError is an OSError).
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


def _unavailable(action: str, key: str, exc: BaseException) -> LeaseUnavailable:
    """The one translation of a redis-py failure; raise it ``from exc``."""
    redis_error(action)  # counted for telemetry
    return LeaseUnavailable(f"Redis failed to {action} {key!r}: {type(exc).__name__}: {exc}")


class LeaseStore:
    """Runs the lease scripts on one redis.asyncio ``Redis`` or ``RedisCluster`` client."""

    def __init__(self, client: Any, *, sharded: bool) -> None:
        self.client = client
        # Release publishes on a shard channel on Redis Cluster, a plain channel otherwise.
        self._publish_flag = "1" if sharded else "0"

    async def _run(self, script: Script, action: str, keys: tuple[str, ...], *args: Any) -> Any:
        try:
            try:
                return await self.client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:  # the server forgot it (restart, SCRIPT FLUSH): load, run again
                await self.client.script_load(script.source)
                return await self.client.evalsha(script.sha, len(keys), *keys, *args)
        except REDIS_ERRORS as exc:
            raise _unavailable(action, keys[0], exc) from exc

    async def acquire(self, keys: LeaseKeys, token: str, ttl_ms: int) -> tuple[bool, int]:
        """(True, fence) if ``token`` holds the lease now; (False, holder's PTTL ms) if not."""
        acquired, number = await self._run(
            acquire_script, "acquire", (keys.lease, keys.fence), token, ttl_ms
        )
        return acquired == 1, int(number)

    async def acquire_confirmed(
        self, keys: LeaseKeys, token: str, ttl_ms: int, replicas: int, timeout_ms: int
    ) -> tuple[bool, int, int]:
        """Like :meth:`acquire`, then ``WAIT replicas timeout_ms``; also returns the replicas
        that acknowledged. Both go down one connection in one pipeline: WAIT only counts the
        writes of the connection it is sent on."""
        try:
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
        except REDIS_ERRORS as exc:
            raise _unavailable("acquire", keys.lease, exc) from exc

    async def release(self, keys: LeaseKeys, token: str) -> bool:
        """Delete the lease if ``token`` still holds it, and wake its waiters."""
        released = await self._run(
            release_script, "release", (keys.lease, keys.channel), token, self._publish_flag
        )
        return bool(released == 1)

    async def extend(self, keys: LeaseKeys, token: str, ttl_ms: int) -> bool:
        """Reset the lease's TTL to ``ttl_ms`` if ``token`` still holds it."""
        extended = await self._run(extend_script, "extend", (keys.lease, keys.fence), token, ttl_ms)
        return bool(extended == 1)
