"""Real redis-server processes for tests, each on a free loopback port.

Tests that exercise Redis run against the real server, never a mock. A missing
``redis-server`` binary is an error (CI installs it), never a skip.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RuntimeError(
            "redis-server is not installed; install it (apt-get install -y redis-server) "
            "— tests that need Redis use a real server"
        )
    return path


@dataclass
class RedisServer:
    """A running redis-server; ``url`` is ready for ``redis.asyncio.from_url``."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    scheme: str = "redis"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_until_listening(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited early with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"redis-server did not listen on {host}:{port} within 10 s")


@contextlib.contextmanager
def running_redis_server(*extra_args: str, port: int | None = None) -> Iterator[RedisServer]:
    """Start a throwaway redis-server (no persistence) and stop it afterwards.

    ``extra_args`` are passed through, e.g. ``("--replicaof", "127.0.0.1", "6379")``.
    """
    binary = redis_server_binary()
    host = "127.0.0.1"
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="redis-test-") as directory:
        process = subprocess.Popen(
            [
                binary,
                "--bind",
                host,
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory,
                "--logfile",
                str(Path(directory) / "redis.log"),
                *extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = RedisServer(host=host, port=port, process=process, directory=Path(directory))
        try:
            _wait_until_listening(host, port, process)
            yield server
        finally:
            server.stop()
