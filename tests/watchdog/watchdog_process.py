"""A watchdog in its own OS process, for the two-process test.

    python -m tests.watchdog.watchdog_process REDIS_URL NAMESPACE BINDING TICKS

Prints ``ready``, waits for a line on stdin (so both processes tick together), runs ``TICKS``
ticks with the real Durable client, and prints the restarts it made as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys

import azure.durable_functions as df
import redis.asyncio as aioredis

from singleton import LeasePolicy, Leases, SingletonStarter
from singleton.starter import PassOutcome


async def main(url: str, namespace: str, binding: str, ticks: str) -> None:
    client = aioredis.from_url(url)
    leases = Leases(client, namespace=namespace, policy=LeasePolicy(ttl=10.0, wait=5.0))
    starter = SingletonStarter(leases=leases)
    durable = df.DurableOrchestrationClient(binding)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    restarted: list[str] = []
    for _ in range(int(ticks)):
        for result in await starter.watchdog.tick(durable):
            if result.outcome is PassOutcome.RESTARTED:
                restarted.append(result.instance_id)
    print(json.dumps(restarted), flush=True)
    await leases.aclose()
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
