"""A lease user in its own OS process, for the multi-process tests.

    python -m tests.lease.contender contend URL NAME ROUNDS   take the lease ROUNDS times
    python -m tests.lease.contender hold URL NAME TTL         hold it (renewing) until killed
    python -m tests.lease.contender acquire URL NAME WAIT     print "waiting", then acquire it
                                                              (waiting up to WAIT s) and print
                                                              time.monotonic() of that moment
    python -m tests.lease.contender follow URL NAME TASKS     TASKS tasks hold_or_follow it; each
                                                              prints "settled FENCE RESULT" or
                                                              "acquired FENCE" (and settles it)

``contend`` counts holders in Redis: INCR on entry must read 1, else an overlap is recorded.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import redis.asyncio as aioredis

from singleton.lease._leases import Lease, LeasePolicy, Leases


async def contend(url: str, name: str, rounds: int) -> None:
    client = aioredis.from_url(url)
    leases = Leases(client, namespace="processes", policy=LeasePolicy(ttl=5, wait=60))
    try:
        for _ in range(rounds):
            async with leases.hold(name):
                if await client.incr("holders") != 1:
                    await client.incr("overlaps")
                await asyncio.sleep(0.002)
                await client.decr("holders")
                await client.incr("turns")
    finally:
        await leases.aclose()
        await client.aclose()


async def hold(url: str, name: str, ttl: float) -> None:
    client = aioredis.from_url(url)
    leases = Leases(client, namespace="processes", policy=LeasePolicy(ttl=ttl))
    async with leases.hold(name) as lease:
        print(lease.token, lease.fence, flush=True)
        await asyncio.sleep(120)  # the test kills us long before


async def acquire(url: str, name: str, wait: float) -> None:
    client = aioredis.from_url(url)
    leases = Leases(client, namespace="processes", policy=LeasePolicy(ttl=5))
    try:
        print("waiting", flush=True)
        lease = await leases.acquire(name, wait=wait)
        print(time.monotonic(), flush=True)  # CLOCK_MONOTONIC: comparable across processes
        await lease.release()
    finally:
        await leases.aclose()
        await client.aclose()


async def follow(url: str, name: str, tasks: int) -> None:
    client = aioredis.from_url(url)
    # No fallback wake-ups during the test's long set-up: the tries counted are the design's.
    leases = Leases(client, namespace="processes", policy=LeasePolicy(ttl=5, wake_fallback=30))

    async def one() -> str:
        async with leases.hold_or_follow(name, wait=30) as held:
            if isinstance(held, Lease):
                held.settle(f"by {os.getpid()}")
                return f"acquired {held.fence}"
            return f"settled {held.fence} {held.result}"

    try:
        for line in await asyncio.gather(*(one() for _ in range(tasks))):
            print(line, flush=True)
    finally:
        await leases.aclose()
        await client.aclose()


def main(argv: list[str]) -> None:
    mode, url, name, number = argv
    if mode == "contend":
        asyncio.run(contend(url, name, int(number)))
    elif mode == "hold":
        asyncio.run(hold(url, name, float(number)))
    elif mode == "acquire":
        asyncio.run(acquire(url, name, float(number)))
    elif mode == "follow":
        asyncio.run(follow(url, name, int(number)))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
