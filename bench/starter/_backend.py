"""The embedded Durable backend in its own process, as the Functions host would be, counting
every request it serves: ``python -m bench.starter._backend LATENCY_SECONDS``.

Prints one JSON line ``{"url", "binding"}`` once it listens. Besides the Durable API it
answers ``GET /bench/calls`` (Durable requests served so far) and ``GET /bench/starts/{id}``
(the store's start records of that ID: ``starts``, and ``lost`` — answered but swallowed).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from devhost.durable import DurableBackend, MemoryStore
from tests.singleton.durable_app import FUNCTIONS

HUB = "BenchHub"
_COUNTERS = "/bench/"


async def serve(latency: float) -> None:
    backend = DurableBackend(
        functions=FUNCTIONS, hub_name=HUB, store=MemoryStore(), storage_latency=latency
    )
    served = 0

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        nonlocal served
        if not request.path.startswith(_COUNTERS):
            served += 1
        return await handler(request)

    async def calls(_: web.Request) -> web.Response:
        return web.json_response({"calls": served})

    async def starts(request: web.Request) -> web.Response:
        records = backend.start_records(request.match_info["instance_id"])
        lost = sum(not record.created for record in records)
        return web.json_response({"starts": len(records), "lost": lost})

    app = web.Application(middlewares=[count])
    backend.register_routes(app)
    app.router.add_get(_COUNTERS + "calls", calls)
    app.router.add_get(_COUNTERS + "starts/{instance_id}", starts)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    await backend.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    print(json.dumps({"url": url, "binding": backend.client_binding(url)}), flush=True)
    await asyncio.Event().wait()  # until the benchmark kills this process


if __name__ == "__main__":
    asyncio.run(serve(float(sys.argv[1])))
