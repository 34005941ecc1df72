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
from collections.abc import Coroutine, Iterator
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


class _Link:
    """One proxied connection: what its client sent so far, and whether it still carries data."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.upstream: asyncio.StreamWriter | None = None
        self.sent = bytearray()  # the first _HISTORY bytes the client sent
        self.black_hole = False  # nothing is forwarded either way any more (half-open)
        self.replies_held = False  # the client's commands still reach the server; no reply returns
        self.drop_after_next_reply = False

    def close(self) -> None:
        for end in (self.writer, self.upstream):
            if end is not None:
                end.close()


_HISTORY = 1 << 20


class LossyProxy:
    """A loopback TCP proxy to a redis-server that misbehaves on demand, as networks do:

    * ``drop_next_reply_to(marker)``: swallow the reply to the next command containing
      ``marker`` and drop that connection (the server ran the command, the client never hears);
    * ``hold_replies_to(marker)``: the connection that sends ``marker`` next gets no reply any
      more, and stays open (a stalled server, as the client sees it);
    * ``cut(marker, close=...)``: every connection that has carried ``marker`` either goes
      silent both ways and stays open (half-open: a NAT or load balancer forgot it) or is closed;
    * ``black_hole_new_connections()``: connections accepted from now on go nowhere;
    * ``partition()``: all of it at once, for every connection (a network partition).
    """

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._drop_marker: bytes | None = None
        self._hold_marker: bytes | None = None
        self._new_black_holed = False
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self._links: list[_Link] = []
        self.dropped = 0
        self.port = 0

    async def start(self) -> int:
        """Listen on a free loopback port; returns it (also ``self.port``)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def drop_next_reply_to(self, marker: bytes) -> None:
        self._drop_marker = marker

    def hold_replies_to(self, marker: bytes) -> None:
        self._hold_marker = marker

    def cut(self, marker: bytes, *, close: bool) -> int:
        """Cut every connection that has carried ``marker``; how many there were."""
        cut = [link for link in self._links if marker in link.sent]
        for link in cut:
            link.black_hole = True
            if close:
                link.close()
        return len(cut)

    def black_hole_new_connections(self) -> None:
        self._new_black_holed = True

    def partition(self) -> None:
        for link in self._links:
            link.black_hole = True
        self._new_black_holed = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        self._links.append(link)
        if self._new_black_holed:
            link.black_hole = True
            self._pump(self._swallow(reader))
            return
        upstream_reader, link.upstream = await asyncio.open_connection(
            "127.0.0.1", self._target_port
        )
        self._pump(self._to_server(reader, link))
        self._pump(self._to_client(upstream_reader, link))

    def _pump(self, coroutine: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)

    @staticmethod
    async def _swallow(reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while await reader.read(65536):
                pass

    async def _to_server(self, reader: asyncio.StreamReader, link: _Link) -> None:
        assert link.upstream is not None
        with contextlib.suppress(OSError):
            while chunk := await reader.read(65536):
                if len(link.sent) < _HISTORY:
                    link.sent += chunk
                if link.black_hole:
                    continue
                if self._drop_marker is not None and self._drop_marker in chunk:
                    self._drop_marker = None
                    link.drop_after_next_reply = True
                if self._hold_marker is not None and self._hold_marker in chunk:
                    self._hold_marker = None
                    link.replies_held = True
                link.upstream.write(chunk)
                await link.upstream.drain()
        if not link.black_hole:
            link.close()  # the client hung up: so does the server side

    async def _to_client(self, upstream: asyncio.StreamReader, link: _Link) -> None:
        with contextlib.suppress(OSError):
            while chunk := await upstream.read(65536):
                if link.black_hole or link.replies_held:
                    continue
                if link.drop_after_next_reply:
                    self.dropped += 1
                    break  # the server ran it; the client never hears so
                link.writer.write(chunk)
                await link.writer.drain()
        if not link.black_hole and not link.replies_held:
            link.close()

    async def close(self) -> None:
        for task in list(self._pumps):
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        for link in self._links:
            link.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
