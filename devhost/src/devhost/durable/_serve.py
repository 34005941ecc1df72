"""A tiny aiohttp server that serves only the backend, for tests and tools."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiohttp import web

from devhost.durable._backend import DurableBackend


@contextlib.asynccontextmanager
async def serve_backend(
    backend: DurableBackend,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    middlewares: Sequence[Any] = (),
) -> AsyncIterator[str]:
    """Serve ``backend`` on ``host:port`` (0 = a free port) and yield its base URL.

    ``middlewares`` (aiohttp's) see every request first: tests inject faults with them."""
    app = web.Application(middlewares=list(middlewares))
    backend.register_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    await backend.start()
    try:
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        bound_port = sockets[0].getsockname()[1] if sockets else port
        yield f"http://{host}:{bound_port}"
    finally:
        await backend.stop()
        await runner.cleanup()
