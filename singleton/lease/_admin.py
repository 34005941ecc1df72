"""Operators' view of the leases: list those held in a namespace, force-release one.

Listing walks the keyspace with ``SCAN`` and a ``MATCH`` on the namespace's lease keys
(never ``KEYS``, which blocks Redis while it walks everything), on every primary of a
Redis Cluster. It is a snapshot: a lease may be taken or released while it runs.

Force-release deletes a lease whoever holds it, and wakes its waiters as a release does.
The holder is not told at once: its next renewal finds the lease gone and its guarded
block ends with ``LeaseLost``; a holder that does not renew (a short hold, such as the
starter's) finds it at its release. Use it for a holder that is gone (a crashed process
whose lease has a long TTL) — on a live holder it breaks the mutual exclusion by hand.
The fence key stays, so the next holder's fence is still above the last one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator

from redis.asyncio.cluster import RedisCluster

from singleton._errors import LeaseUnavailable
from singleton._telemetry import redis_error
from singleton.lease._keys import lease_key_pattern, name_of_lease_key
from singleton.lease._leases import Leases
from singleton.lease._store import REDIS_ERRORS

logger = logging.getLogger(__name__)

#: Keys SCAN looks at per call, per node (a hint to Redis, not a limit on the result).
SCAN_BATCH = 500


@dataclasses.dataclass(frozen=True, kw_only=True)
class HeldLease:
    """A lease held when it was listed."""

    name: str
    ttl: float | None
    """Seconds left before it expires unless renewed (None: no expiry; never set by us)."""
    fence: int | None
    """The fence issued to its holder (None: the fence key was evicted); for ``limit`` > 1,
    the last issued to any of its holders."""
    holders: int = 1
    """How many hold it: 1, or up to the ``limit`` of a name held with ``limit`` > 1 (whose
    ``ttl`` is then the longest any of them has left)."""


@contextlib.contextmanager
def _translated(action: str, target: str) -> Iterator[None]:
    try:
        yield
    except REDIS_ERRORS as exc:
        redis_error(action)
        raise LeaseUnavailable(
            f"Redis failed to {action} {target!r}: {type(exc).__name__}: {exc}"
        ) from exc


async def list_leases(leases: Leases) -> list[HeldLease]:
    """Every lease held in ``leases``' namespace, sorted by name: plain leases and names held
    with ``limit`` > 1 (one entry each, with its number of holders). Raises LeaseUnavailable."""
    client = leases.store.client
    pattern = lease_key_pattern(leases.namespace)
    with _translated("list", pattern):
        names = await _scan(leases, "lease")
        slotted = await _scan(leases, "holders")
        held = []
        keys = sorted(names, key=names.__getitem__)
        for start in range(0, len(keys), SCAN_BATCH):
            batch = keys[start : start + SCAN_BATCH]
            pipe = client.pipeline(transaction=False)  # a cluster routes each key to its node
            for key in batch:
                pipe.pttl(key)
                pipe.get(leases.keys(names[key]).fence)
            answers = await pipe.execute()
            for index, key in enumerate(batch):
                pttl, fence = answers[2 * index], answers[2 * index + 1]
                if pttl == -2:  # released since the scan
                    continue
                held.append(
                    HeldLease(
                        name=names[key],
                        ttl=None if pttl < 0 else pttl / 1000,
                        fence=None if fence is None else int(fence),
                    )
                )
        held.extend(await _held_with_limits(leases, slotted))
    return sorted(held, key=lambda lease: lease.name)


async def _scan(leases: Leases, kind: str) -> dict[str, str]:
    """The keys of ``kind`` (``lease`` or ``holders``) in ``leases``' namespace, each with the
    lease name it belongs to (SCAN may return a key twice; every primary of a cluster)."""
    client = leases.store.client
    pattern = lease_key_pattern(leases.namespace, kind)
    if isinstance(client, RedisCluster):
        found = client.scan_iter(
            match=pattern, count=SCAN_BATCH, target_nodes=RedisCluster.PRIMARIES
        )
    else:
        found = client.scan_iter(match=pattern, count=SCAN_BATCH)
    names = {}
    async for raw in found:
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        name = name_of_lease_key(leases.namespace, key, kind)
        if name is not None:
            names[key] = name
    return names


async def _held_with_limits(leases: Leases, names: dict[str, str]) -> list[HeldLease]:
    """The names held with ``limit`` > 1 among holders keys ``names``, with their live
    holders (HOLDERS: by the clock of the node that keeps them), a batch per pipeline."""
    client = leases.store.client
    script = leases.store.scripts.holders
    keys = list(names)
    held = []
    for start in range(0, len(keys), SCAN_BATCH):
        batch = keys[start : start + SCAN_BATCH]
        pipe = client.pipeline(transaction=False)  # a cluster routes each key to its node
        for key in batch:
            pipe.eval(script.source, 2, key, leases.keys(names[key]).fence)
        for key, (holders, ms, fence) in zip(batch, await pipe.execute(), strict=True):
            if int(holders) > 0:
                held.append(
                    HeldLease(
                        name=names[key],
                        ttl=int(ms) / 1000,
                        fence=None if fence is None else int(fence),
                        holders=int(holders),
                    )
                )
    return held


async def force_release(leases: Leases, name: str) -> bool:
    """Delete lease ``name`` whoever holds it and wake its waiters; False if none was held.

    Raises LeaseUnavailable. Logged at WARNING: it is an operator's act."""
    keys = leases.keys(name)
    script = leases.store.scripts.force_release
    with _translated("force-release", keys.lease):
        released = await leases.store.client.eval(
            script.source, 3, keys.lease, keys.channel, keys.holders
        )
    if released == 1:
        logger.warning("force-released lease %r (its holder loses it at its next renewal)", name)
        return True
    logger.info("force-release of %r: no lease was held", name)
    return False
