"""Extra real servers for the lease suite: a replica pair, a 3-master cluster, TLS, a lossy proxy.

All on loopback, all started and stopped here; bounded waits, clear errors when one fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.redis_servers import RedisServer, running_redis_server


def _wait_for(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} within {timeout} s")


def _cli(port: int, *args: str) -> str:
    binary = shutil.which("redis-cli")
    if binary is None:
        raise RuntimeError("redis-cli is not installed (it comes with redis-server)")
    return subprocess.run(
        [binary, "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


@contextlib.contextmanager
def running_replica_pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and one replica of it, replication link up."""
    with (
        running_redis_server() as primary,
        running_redis_server("--replicaof", "127.0.0.1", str(primary.port)) as replica,
    ):
        _wait_for(
            lambda: "master_link_status:up" in _cli(replica.port, "INFO", "replication"),
            "the replica did not connect to its primary",
        )
        yield primary, replica


def _free_cluster_ports(count: int) -> list[int]:
    """Ports whose cluster-bus port (port + 10000) is free as well."""
    ports: list[int] = []
    with contextlib.ExitStack() as stack:
        for _ in range(200):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port + 10000 > 65535:
                continue
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError("found no free ports for a cluster")


@contextlib.contextmanager
def running_cluster(masters: int = 3) -> Iterator[list[RedisServer]]:
    """A Redis Cluster of ``masters`` primaries (no replicas), every slot served."""
    ports = _free_cluster_ports(masters)
    with contextlib.ExitStack() as stack:
        nodes = [
            stack.enter_context(
                running_redis_server(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                    port=port,
                )
            )
            for port in ports
        ]
        _cli(
            ports[0],
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        )
        for node in nodes:
            _wait_for(
                lambda node=node: "cluster_state:ok" in _cli(node.port, "CLUSTER", "INFO"),  # type: ignore[misc]
                f"cluster node {node.port} did not reach cluster_state:ok",
            )
        yield nodes


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_test_certificates(directory: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl).

    Both carry the extensions a strict verifier demands (Python 3.13 turns on
    ``VERIFY_X509_STRICT``): the CA its ``basicConstraints`` and ``keyUsage``, the server
    certificate its ``authorityKeyIdentifier``, key usages and the IP it is for."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed (apt-get install -y openssl)")
    files = TlsFiles(
        ca=directory / "ca.crt", cert=directory / "server.crt", key=directory / "server.key"
    )
    ca_key, csr, ext = directory / "ca.key", directory / "server.csr", directory / "san.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for args in (
        (
            "req",
            "-x509",
            *ec,
            "-keyout",
            ca_key,
            "-out",
            files.ca,
            "-days",
            "1",
            "-subj",
            "/CN=test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ),
        ("req", *ec, "-keyout", files.key, "-out", csr, "-subj", "/CN=127.0.0.1"),
        (
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            files.ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            files.cert,
            "-days",
            "1",
            "-extfile",
            ext,
        ),
    ):
        subprocess.run([openssl, *map(str, args)], capture_output=True, timeout=30, check=True)
    return files


@contextlib.contextmanager
def running_tls_server() -> Iterator[tuple[RedisServer, TlsFiles]]:
    """A redis-server that only speaks TLS, its certificate signed by a throwaway CA."""
    with tempfile.TemporaryDirectory(prefix="redis-tls-") as directory:
        files = make_test_certificates(Path(directory))
        port = _free_cluster_ports(1)[0]
        with running_redis_server(
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(files.cert),
            "--tls-key-file",
            str(files.key),
            "--tls-ca-cert-file",
            str(files.ca),
            "--tls-auth-clients",
            "no",
            port=port,
        ) as server:
            server.scheme = "rediss"
            yield server, files


class LossyProxy:
    """A loopback TCP proxy to a redis-server that can swallow the reply to one command and
    drop that connection, as a network failure after the server ran the command would."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._armed: bytes | None = None
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.dropped = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def drop_next_reply_to(self, marker: bytes) -> None:
        self._armed = marker

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self._target_port
        )
        self._writers += [writer, upstream_writer]
        dropping = asyncio.Event()

        async def to_server() -> None:
            while chunk := await reader.read(65536):
                if self._armed is not None and self._armed in chunk:
                    self._armed = None
                    dropping.set()
                upstream_writer.write(chunk)
                await upstream_writer.drain()

        async def to_client() -> None:
            while chunk := await upstream_reader.read(65536):
                if dropping.is_set():
                    self.dropped += 1
                    break  # the server ran it; the client never hears so
                writer.write(chunk)
                await writer.drain()
            for end in (writer, upstream_writer):
                end.close()
                with contextlib.suppress(OSError):
                    await end.wait_closed()

        for pump in (to_server(), to_client()):
            task = asyncio.create_task(pump)
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def close(self) -> None:
        for task in list(self._pumps):
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
