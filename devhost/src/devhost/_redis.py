"""An in-process Redis for local runs: fakeredis' TCP server on a free loopback port.

The app talks to it over real TCP with redis-py, so it runs the same client code path as in
production. It guards only this one process: nothing else shares its data, it keeps nothing
on disk, and WAIT has no replicas to wait for.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import threading
from collections.abc import Mapping

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


#: How long the start-up PING may take before the host gives up (seconds).
PING_TIMEOUT = 3.0


async def check_redis(environ: Mapping[str, str]) -> str:
    """Parse the ``REDIS_*`` settings and PING Redis once; return the redacted URL.

    Raises :class:`DevHostError` with a one-line reason when ``REDIS_URL`` is malformed or
    Redis does not answer, so the host fails at start rather than at the first request.
    """
    from singleton._errors import ConfigurationError
    from singleton._redis import RedisSettings, create_redis_client, redact_url

    shown = redact_url(environ.get("REDIS_URL", ""))
    try:
        settings = RedisSettings.from_environ(environ)
    except ConfigurationError as exc:
        raise DevHostError(
            f"{exc} (REDIS_URL is {shown}; unset it for the embedded Redis)"
        ) from None
    quick = dataclasses.replace(
        settings,
        retries=0,
        connect_timeout=min(settings.connect_timeout, PING_TIMEOUT),
        socket_timeout=min(settings.socket_timeout, PING_TIMEOUT),
    )
    try:
        client = create_redis_client(quick)
    except ConfigurationError as exc:
        raise DevHostError(str(exc)) from None
    try:
        await client.ping()
    except Exception as exc:  # any failure to answer PING: refused, timeout, auth, TLS
        raise DevHostError(
            f"Redis at {shown} did not answer PING: {type(exc).__name__}: {exc} "
            "(start it, fix REDIS_URL, or unset REDIS_URL for the embedded Redis)"
        ) from None
    finally:
        await client.aclose()
    logger.info("Redis at %s answered PING", shown)
    return shown
