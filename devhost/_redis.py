"""An in-process Redis for local runs: fakeredis' TCP server on a free loopback port.

The app talks to it over real TCP with redis-py, so it runs the same client code path as in
production. It guards only this one process: nothing else shares its data, it keeps nothing
on disk, and WAIT has no replicas to wait for.
"""

from __future__ import annotations

import importlib.util
import logging
import threading

from devhost._errors import DevHostError

logger = logging.getLogger(__name__)

LOUD_WARNING = (
    "!!! EMBEDDED REDIS: in-process fakeredis at {url}. It guards ONLY THIS ONE PROCESS:\n"
    "!!! leases taken here mean nothing to any other host, and its data dies with it.\n"
    "!!! Set REDIS_URL to a real Redis to share leases between processes."
)


class EmbeddedRedis:
    """Start/stop fakeredis' ``TcpFakeServer`` (Lua scripting via the ``lupa`` package)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0-65535, got {port}")
        self._host = host
        self._port = port
        self._server: object | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        """Listen and serve in a background thread; return the ``redis://`` URL."""
        if importlib.util.find_spec("lupa") is None:
            raise DevHostError(
                "the embedded Redis needs Lua scripting: pip install 'fakeredis[lua]' "
                "(or set REDIS_URL to a real Redis)"
            )
        from fakeredis import TcpFakeServer

        server = TcpFakeServer((self._host, self._port))
        port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="devhost-embedded-redis",
            daemon=True,
        )
        self._thread.start()
        self.url = f"redis://{self._host}:{port}/0"
        logger.info("embedded Redis listening on %s", self.url)
        return self.url

    def stop(self) -> None:
        from fakeredis import TcpFakeServer

        server, self._server = self._server, None
        if isinstance(server, TcpFakeServer):
            server.shutdown()  # also tells every connection handler loop to end
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
