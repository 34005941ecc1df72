"""A ``@singleton`` function invoked in its own OS process, for the cross-process test.

    python -m tests.functions.contender URL ROUNDS BODY

Prints ``ready``, waits for a line ``go`` on stdin (so both processes start together),
then invokes the function ROUNDS times for each of the scopes ``c1`` and ``c2``, all at once
(the waiting ones queue on the lease), BODY being ``async`` or ``sync``. Prints one JSON line
per invocation, ``[scope, enter, exit]``, after a first line ``[started]``: when every invocation
was called (each then waits for its scope or runs).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import azure.functions as func
import redis.asyncio as aioredis

from singleton import LeasePolicy, Leases, singleton
from tests.functions.conftest import NAMESPACE, http_request

BODY_SECONDS = 0.02


async def main(url: str, rounds: int, body: str) -> None:
    client = aioredis.from_url(url)
    leases = Leases(
        client, namespace=NAMESPACE, policy=LeasePolicy(ttl=5, wait=60, wake_fallback=0.02)
    )
    records: list[tuple[str, float, float]] = []

    @singleton("{customerId}", name="contended", leases=lambda: leases)
    async def build_async(req: func.HttpRequest) -> func.HttpResponse:
        enter = time.monotonic()
        await asyncio.sleep(BODY_SECONDS)
        records.append((req.route_params["customerId"], enter, time.monotonic()))
        return func.HttpResponse("built")

    @singleton("{customerId}", name="contended", leases=lambda: leases)
    def build_sync(req: func.HttpRequest) -> func.HttpResponse:
        enter = time.monotonic()
        time.sleep(BODY_SECONDS)
        records.append((req.route_params["customerId"], enter, time.monotonic()))
        return func.HttpResponse("built")

    build = build_async if body == "async" else build_sync
    try:
        print("ready", flush=True)
        assert (await asyncio.to_thread(sys.stdin.readline)).strip() == "go"
        started = time.monotonic()
        responses = await asyncio.gather(
            *(build(http_request(scope)) for _ in range(rounds) for scope in ("c1", "c2"))
        )
        assert [r.status_code for r in responses] == [200] * len(responses)
        print(json.dumps([started]), flush=True)
        for record in records:
            print(json.dumps(record), flush=True)
    finally:
        await leases.aclose()
        await client.aclose()


if __name__ == "__main__":
    url, rounds, body = sys.argv[1:]
    asyncio.run(main(url, int(rounds), body))
