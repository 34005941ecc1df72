"""One starter in its own OS process, for the multi-process fault tests.

    python -m tests.faults.racer BINDING_FILE REDIS_URL guarded|unguarded TTL WAIT

Prints ``ready``, then for every instance ID read from stdin starts WaitForFinish under that
ID and prints one JSON line ``{"id", "outcome", "fence"}``. ``guarded`` uses the singleton
starter (its own Redis pool, its own Durable client session, as a separate Functions worker
would); ``unguarded`` is the documentation's check-then-start, the control that shows the
race is there to be caught. The test decides from the backend's records, not from these.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from singleton import LeasePolicy, Leases, RedisSettings, SingletonStarter, create_redis_client
from tests.singleton.durable_app import WAIT_FOR_FINISH

ACTIVE = {"Pending", "Running", "ContinuedAsNew", "Suspended"}


async def unguarded_start(client: df.DurableOrchestrationClient, instance_id: str) -> str:
    status = await client.get_status(instance_id)
    runtime = getattr(getattr(status, "runtime_status", None), "value", None)
    if runtime in ACTIVE:
        return "already_running"
    try:
        await client.start_new(WAIT_FOR_FINISH, instance_id, {"pid": "x"})
    except Exception as exc:
        return "host_refused" if "already exists" in str(exc) else f"error:{exc!r}"
    return "started"


async def serve(binding: str, redis_url: str, mode: str, ttl: float, wait: float) -> None:
    client = df.DurableOrchestrationClient(binding)
    redis = create_redis_client(RedisSettings.from_environ({"REDIS_URL": redis_url}))
    leases = Leases(redis, namespace="faults", policy=LeasePolicy(ttl=ttl, wait=wait))
    starter = SingletonStarter(leases=leases)
    print("ready", flush=True)
    try:
        while line := await asyncio.to_thread(sys.stdin.readline):
            instance_id = line.strip()
            answer: dict[str, Any] = {"id": instance_id, "fence": None}
            try:
                if mode == "guarded":
                    result = await starter.start(client, WAIT_FOR_FINISH, instance_id, {"x": 1})
                    answer.update(outcome=result.outcome.value, fence=result.fence)
                else:
                    answer["outcome"] = await unguarded_start(client, instance_id)
            except Exception as exc:  # reported, and judged by the test
                answer["outcome"] = f"error:{type(exc).__name__}"
            print(json.dumps(answer), flush=True)
    finally:
        await leases.aclose()
        await redis.aclose()
        from azure.durable_functions.models.utils import http_utils

        await http_utils._close_session()


def main(argv: list[str]) -> None:
    binding_file, redis_url, mode, ttl, wait = argv
    if mode not in {"guarded", "unguarded"}:
        raise SystemExit(f"unknown mode {mode!r}")
    binding = Path(binding_file).read_text(encoding="utf-8")
    asyncio.run(serve(binding, redis_url, mode, float(ttl), float(wait)))


if __name__ == "__main__":
    main(sys.argv[1:])
