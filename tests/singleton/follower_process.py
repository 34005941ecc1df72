"""Concurrent starters of mixed policies in one OS process, for the cross-process tests.

    python -m tests.singleton.follower_process REDIS_URL NAMESPACE BINDING ORCHESTRATOR IDS

For every instance ID in IDS (comma-separated) it starts one caller per policy pair
(conflict fail / use-existing x reuse allow / failed-only / reject), all at once, each with
its own policy so none shares another's attempt in this process, and prints one JSON line
per answer: ``{"id", "conflict", "reuse", "outcome", "adopted"}``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys

import azure.durable_functions as df
import redis.asyncio as aioredis

from singleton import LeasePolicy, Leases, SingletonStarter

CONFLICTS = ("fail", "use-existing")
REUSES = ("allow", "failed-only", "reject")


async def main(url: str, namespace: str, binding: str, orchestrator: str, ids: str) -> None:
    client = aioredis.from_url(url)
    leases = Leases(client, namespace=namespace, policy=LeasePolicy(ttl=15.0, wait=30.0))
    starter = SingletonStarter(leases=leases)
    durable = df.DurableOrchestrationClient(binding)

    async def one(instance_id: str, conflict: str, reuse: str) -> None:
        result = await starter.start(
            durable, orchestrator, instance_id, {"by": reuse}, conflict=conflict, reuse=reuse
        )
        answer = {
            "id": instance_id,
            "conflict": conflict,
            "reuse": reuse,
            "outcome": result.outcome.value,
            "adopted": result.adopted,
        }
        print(json.dumps(answer), flush=True)

    try:
        await asyncio.gather(
            *(
                one(instance_id, conflict, reuse)
                for instance_id in ids.split(",")
                for conflict, reuse in itertools.product(CONFLICTS, REUSES)
            )
        )
    finally:
        await leases.aclose()
        await client.aclose()
        from azure.durable_functions.models.utils import http_utils

        await http_utils._close_session()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
