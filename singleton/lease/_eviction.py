"""Warn when Redis may evict lease keys: an evicted lease is a second holder.

Under a ``maxmemory`` limit Redis frees memory by its ``maxmemory-policy``: ``allkeys-*``
evicts any key, ``volatile-*`` any key with a TTL — and every lease key has one. Evicting a
live lease key lets a second holder in while the first still works (same name, both sure
they hold it). Only ``noeviction`` keeps them: a full cache then refuses the acquire
(``OOM command not allowed``), which is a ``LeaseUnavailable`` (503, nothing started) —
fail closed.

The policy is read from ``INFO memory`` (``maxmemory_policy``), never ``CONFIG GET``, which
Azure Cache for Redis and Azure Managed Redis block. On Redis Cluster every primary is read.
Azure Cache for Redis defaults to ``volatile-lru``: see the README's section on Azure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from singleton.lease._store import REDIS_ERRORS

logger = logging.getLogger(__name__)

#: The policy that never evicts: a full cache refuses writes instead.
SAFE_POLICY = "noeviction"


async def read_eviction_policies(client: Any) -> dict[str, str]:
    """``maxmemory_policy`` of each primary (``{"": policy}`` for a standalone server)."""
    if isinstance(client, RedisCluster):
        answer = await client.info("memory", target_nodes=RedisCluster.PRIMARIES)
    else:
        answer = await client.info("memory")
    if "maxmemory_policy" in answer:  # one server (redis-py gives a cluster's by node)
        return {"": str(answer["maxmemory_policy"])}
    return {str(node): str(info["maxmemory_policy"]) for node, info in answer.items()}


def lease_keys_can_be_evicted(policy: str) -> bool:
    """True for every policy but ``noeviction``: ``allkeys-*`` and ``volatile-*`` (lease keys
    carry TTLs) may both evict a live lease."""
    return policy != SAFE_POLICY


async def check_eviction_policy(client: Any) -> dict[str, str]:
    """Read the policies and log a warning naming every primary that may evict lease keys.

    Returns the policies read; ``{}`` (and a warning) when INFO could not be read: the
    lease itself then reports Redis trouble, this check never fails anything."""
    try:
        policies = await read_eviction_policies(client)
    except ResponseError as exc:
        # The server answered, but not with the section (an emulator such as the local
        # host's embedded fakeredis): nothing to warn about on a real deployment.
        logger.info("this Redis does not report maxmemory_policy, not checked: %r", exc)
        return {}
    except REDIS_ERRORS as exc:
        logger.warning("could not read maxmemory_policy (INFO memory): %r", exc)
        return {}
    evicting = {
        node: policy for node, policy in policies.items() if lease_keys_can_be_evicted(policy)
    }
    for node, policy in sorted(evicting.items()):
        logger.warning(
            "Redis%s has maxmemory-policy %s: it can evict live lease keys when memory runs "
            "short, letting a second holder in. Use noeviction (a full cache then answers 503) "
            "or a cache of its own for the leases",
            f" node {node}" if node else "",
            policy,
        )
    if not evicting:
        logger.debug("Redis maxmemory-policy %s: lease keys are never evicted", policies)
    return policies


class EvictionCheck:
    """Runs :func:`check_eviction_policy` once, in the background, on the first use of a client:
    it never delays an acquisition. If INFO could not be read it is tried again on a later use,
    at most every ``retry_after`` seconds (never a second command per acquisition)."""

    def __init__(self, client: Any, *, retry_after: float = 60.0) -> None:
        self._client = client
        self._retry_after = retry_after
        self._task: asyncio.Task[dict[str, str]] | None = None
        self._started_at = 0.0

    def start(self) -> None:
        """Start the check unless it ran, runs, or failed too recently. Call from the loop."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is not None and (
            not task.done()
            or task.cancelled()
            or task.result()
            or loop.time() - self._started_at < self._retry_after
        ):
            return
        self._started_at = loop.time()
        self._task = loop.create_task(check_eviction_policy(self._client))

    async def result(self) -> dict[str, str]:
        """The policies the check read (``{}`` if it could not); starts it if it never ran."""
        if self._task is None:
            self.start()
        task = self._task
        return {} if task is None else await asyncio.shield(task)

    async def aclose(self) -> None:
        """Stop a check still running (its client is closing)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
