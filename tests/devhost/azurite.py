"""Real Azurite processes for tests (queue and blob services), each on free loopback ports.

Azurite is the npm package ``azurite`` (3.x). The tests look for its binaries in
``$AZURITE_BIN``, then ``~/.cache/durable-singleton/azurite/node_modules/.bin`` (where
``.ci/run`` installs the pinned version), then ``node_modules/.bin`` of this checkout, then
``PATH``. A missing Azurite is an error that says how to install it, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.redis_servers import free_port

AZURITE_VERSION = "3.37.0"
CACHE = Path.home() / ".cache" / "durable-singleton" / "azurite"
#: Azurite's well-known development account (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def azurite_binary(name: str) -> str:
    """The path of ``azurite-queue`` or ``azurite-blob``."""
    folders = [os.environ.get("AZURITE_BIN", ""), str(CACHE / "node_modules" / ".bin")]
    folders.append(str(Path(__file__).resolve().parents[2] / "node_modules" / ".bin"))
    for folder in filter(None, folders):
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"{name} (Azurite) is not installed; install it with: npm install --prefix "
            f"{CACHE} azurite@{AZURITE_VERSION} — the Azurite tests use a real Azurite"
        )
    return found


@dataclass
class Azurite:
    queue_port: int
    blob_port: int
    processes: list[subprocess.Popen[bytes]]

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text(errors="replace")
            raise RuntimeError(f"Azurite exited ({process.returncode}): {output}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"Azurite did not listen on {port} within {timeout}s")


def _start(service: str, port: int, location: Path) -> tuple[subprocess.Popen[bytes], Path]:
    command = [
        azurite_binary(f"azurite-{service}"),
        f"--{service}Host",
        "127.0.0.1",
        f"--{service}Port",
        str(port),
        "--location",
        str(location / service),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
    ]
    (location / service).mkdir()
    log = location / f"{service}.out"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    return process, log


@contextlib.contextmanager
def running_azurite() -> Iterator[Azurite]:
    """Azurite's queue and blob services on free ports, their data in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="azurite-") as folder:
        location = Path(folder)
        queue_port, blob_port = free_port(), free_port()
        queue, queue_log = _start("queue", queue_port, location)
        azurite = Azurite(queue_port=queue_port, blob_port=blob_port, processes=[queue])
        try:
            blob, blob_log = _start("blob", blob_port, location)
            azurite.processes.append(blob)
            _wait_for_port(queue_port, queue, queue_log)
            _wait_for_port(blob_port, blob, blob_log)
            yield azurite
        finally:
            azurite.stop()
