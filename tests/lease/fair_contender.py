"""Waiters in their own OS process, for the fair-waiting and ``limit=N`` tests.

    python -m tests.lease.fair_contender line URL NAME TASKS    TASKS tasks acquire once each
        (waiting up to 60 s); each, while it holds the lease, pushes "<pid> <token>" to the
        list "served"
    python -m tests.lease.fair_contender loop URL NAME TASKS    TASKS tasks take the lease
        again and again (each waiting up to 10 s) until the key "stop" exists; each turn
        pushes the pid to "served"
    python -m tests.lease.fair_contender limit URL NAME TASKS   TASKS tasks hold the lease
        with limit=3, 10 rounds each; "holders" counts who holds it now, "most" the most at
        once, "fences" lists every fence issued

Every mode counts holders above what the lease allows in "overlaps" and waits that ran out
in "busy"; each process prints "ready" once its leases exist and "done" at its end.
"""

from __future__ import annotations

import asyncio
import os
import sys

import redis.asyncio as aioredis

from singleton._errors import LeaseBusy
from singleton.lease._leases import LeasePolicy, Leases

# INCR the holders, remember the most seen at once; returns the count now.
_ENTER = """
local n = redis.call('INCR', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or 0) then
  redis.call('SET', KEYS[2], n)
end
return n
"""


async def run(mode: str, url: str, name: str, tasks: int) -> None:
    client = aioredis.from_url(url)
    leases = Leases(client, namespace="fair", policy=LeasePolicy(ttl=5))
    limit = 3 if mode == "limit" else 1
    pid = str(os.getpid())

    async def turn(wait: float) -> None:
        try:
            async with leases.hold(name, wait=wait, limit=limit) as lease:
                held = await client.eval(_ENTER, 2, "holders", "most")
                if int(held) > limit:
                    await client.incr("overlaps")
                if mode == "line":
                    await client.rpush("served", f"{pid} {lease.token}")
                elif mode == "loop":
                    await client.rpush("served", pid)
                else:
                    await client.rpush("fences", lease.fence)
                    await asyncio.sleep(0.005)
                await client.decr("holders")
        except LeaseBusy:
            await client.incr("busy")

    async def one() -> None:
        if mode == "line":
            await turn(60)
        elif mode == "loop":
            while not await client.exists("stop"):
                await turn(10)
        else:
            for _ in range(10):
                await turn(60)

    try:
        await client.ping()
        print("ready", flush=True)
        await asyncio.gather(*(one() for _ in range(tasks)))
        print("done", flush=True)
    finally:
        await leases.aclose()
        await client.aclose()


if __name__ == "__main__":
    mode, url, name, tasks = sys.argv[1:]
    asyncio.run(run(mode, url, name, int(tasks)))
