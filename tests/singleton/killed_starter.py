"""A starter in its own OS process that gets as far as the start and hangs there, to be killed.

    python -m tests.singleton.killed_starter REDIS_URL NAMESPACE TTL BINDING ORCHESTRATOR ID

It takes the real lease and reads the real status, prints ``starting`` when it reaches the
start, and waits there (renewing its lease) until the test kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import azure.durable_functions as df
import redis.asyncio as aioredis

from singleton import LeasePolicy, Leases, SingletonStarter


class _HangsAtStart:
    """The real client, except that ``start_new`` never returns."""

    def __init__(self, client: df.DurableOrchestrationClient) -> None:
        self._client = client
        # Its binding: the starter reads statuses at the binding's rpcBaseUrl.
        self._orchestration_bindings = client._orchestration_bindings
        self.task_hub_name = client._orchestration_bindings.task_hub_name

    async def start_new(self, *args: Any, **kwargs: Any) -> str:
        print("starting", flush=True)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def main(
    url: str, namespace: str, ttl: str, binding: str, orchestrator: str, instance_id: str
) -> None:
    client = aioredis.from_url(url)
    leases = Leases(client, namespace=namespace, policy=LeasePolicy(ttl=float(ttl)))
    starter = SingletonStarter(leases=leases)
    hanging: Any = _HangsAtStart(df.DurableOrchestrationClient(binding))
    await starter.start(hanging, orchestrator, instance_id)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
