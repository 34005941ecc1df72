"""Concurrent calls of the watchdog's hook in one OS process, for the cross-process test.

    python -m tests.singleton.pending_process REDIS_URL NAMESPACE BINDING INSTANCE_ID CALLS GO

Counts itself in ``GO:ready``, waits until the Redis key GO exists (so that every
process fires at once), then makes CALLS
concurrent ``SingletonStarter.start_pending`` calls for INSTANCE_ID and prints one JSON line per
answer: ``{"outcome"}`` (``null`` when nothing was started).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import azure.durable_functions as df
import redis.asyncio as aioredis

from singleton import LeasePolicy, Leases, SingletonStarter


async def main(
    url: str, namespace: str, binding: str, instance_id: str, calls: str, go: str
) -> None:
    client = aioredis.from_url(url)
    leases = Leases(client, namespace=namespace, policy=LeasePolicy(ttl=15.0, wait=30.0))
    starter = SingletonStarter(leases=leases)
    durable = df.DurableOrchestrationClient(binding)
    await client.incr(f"{go}:ready")  # connected: the test waits for every process
    deadline = time.monotonic() + 60
    while not await client.exists(go):
        if time.monotonic() > deadline:
            raise SystemExit("never told to go")
        await asyncio.sleep(0.005)

    async def one() -> None:
        result = await starter.start_pending(durable, instance_id)
        print(json.dumps({"outcome": None if result is None else result.outcome.value}), flush=True)

    try:
        await asyncio.gather(*(one() for _ in range(int(calls))))
    finally:
        await leases.aclose()
        await client.aclose()
        from azure.durable_functions.models.utils import http_utils

        await http_utils._close_session()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
