"""Blob triggers and blob input/output bindings, with the host's path patterns and receipts.

- A path is ``container/blob-pattern``; ``{name}`` parts of a trigger's pattern bind to the
  matching text (which may span ``/``), e.g. ``uploads/{customer}/{name}.json``. The trigger's
  container must be literal. Input and output paths may use any value of the invocation's
  binding data (the trigger's path parameters, a JSON queue message's top-level fields,
  ``{queueTrigger}``, HTTP route and query parameters) and ``{rand-guid}``; a value that is
  not there fails the invocation, as in the host.
- A blob trigger fires once per blob version (ETag). Like the host, it records a receipt in
  the ``azure-webjobs-hosts`` container (``blobreceipts/...``), so a restart with ``--store``
  (or Azurite) does not fire again for blobs already processed. A write through this host (an
  output binding, the admin upload) wakes the trigger at once; other writes are found by a
  scan of the container every ``SCAN_INTERVAL`` seconds.
- A failing run is retried up to ``extensions.queues.maxDequeueCount`` times (the host runs
  blob triggers through a queue); then a message naming the blob goes to the
  ``webjobs-blobtrigger-poison`` queue, as the host writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from devhost._blob_store import BlobInfo, BlobStore, check_container_name
from devhost._errors import HostConfigError, UnsupportedBindingError
from devhost._queues import LocalQueues
from devhost._settings import QueuesOptions

logger = logging.getLogger(__name__)

HOSTS_CONTAINER = "azure-webjobs-hosts"
POISON_QUEUE = "webjobs-blobtrigger-poison"
SCAN_INTERVAL = 10.0
_EXPRESSION = re.compile(r"\{([^{}]*)\}")

RunBlob = Callable[[BlobInfo, bytes, Mapping[str, str]], Awaitable[None]]


class BindingDataError(LookupError):
    """A binding expression names a value the invocation's binding data does not have."""


@dataclass(frozen=True)
class BlobPath:
    """A blob binding's ``path``: a container and a blob-name pattern with ``{expressions}``."""

    text: str
    container: str
    pattern: str

    @classmethod
    def parse(cls, text: object, *, what: str, trigger: bool) -> BlobPath:
        if not isinstance(text, str) or "/" not in text.strip("/"):
            raise HostConfigError(f"{what}: path must be 'container/blob', got {text!r}")
        container, _, pattern = text.strip("/").partition("/")
        if trigger and "{" in container:
            raise UnsupportedBindingError(
                f"{what}: a blob trigger's container must be literal, got {container!r}"
            )
        if "{" not in container:
            check_container_name(container, what=what)
        if any(not part.strip() for part in _EXPRESSION.findall(text)):
            raise HostConfigError(f"{what}: empty {{}} in path {text!r}")
        return cls(text=text, container=container, pattern=pattern)

    def match(self, name: str) -> dict[str, str] | None:
        """The trigger's parameters for a blob named ``name`` in the container, or None."""
        regex, position = "", 0
        for found in _EXPRESSION.finditer(self.pattern):
            regex += re.escape(self.pattern[position : found.start()])
            regex += f"(?P<p{len(regex)}>.+?)"
            position = found.end()
        regex += re.escape(self.pattern[position:])
        names = [part.strip() for part in _EXPRESSION.findall(self.pattern)]
        matched = re.fullmatch(regex, name)
        if matched is None:
            return None
        values: dict[str, str] = {}
        for key, value in zip(names, matched.groups(), strict=True):
            if values.setdefault(key, value) != value:
                return None  # one name bound twice to different text
        return values

    def render(self, data: Mapping[str, str]) -> tuple[str, str]:
        """(container, blob name) with every expression filled from ``data``."""
        lowered = {key.lower(): value for key, value in data.items()}

        def fill(found: re.Match[str]) -> str:
            key = found.group(1).strip()
            if key.lower() == "rand-guid":
                return str(uuid.uuid4())
            if key in data:
                return data[key]
            if key.lower() in lowered:
                return lowered[key.lower()]
            raise BindingDataError(f"No value for named parameter '{key}' (path {self.text!r})")

        container = _EXPRESSION.sub(fill, self.container)
        check_container_name(container, what=f"path {self.text!r}")
        return container, _EXPRESSION.sub(fill, self.pattern)


def blob_bytes(value: object) -> bytes | None:
    """What a blob output writes for a value, as the worker's blob converter encodes it."""
    if value is None:
        return None
    read = getattr(value, "read", None)
    if callable(read):
        value = read()
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise TypeError(f"a blob output takes str, bytes or a file-like object, not {value!r}")


class LocalBlobs:
    """The host's blobs: one store and the triggers to wake on a write."""

    def __init__(self, *, store: BlobStore) -> None:
        self.store = store
        self._wakers: dict[str, list[Callable[[], None]]] = {}

    def on_write(self, container: str, wake: Callable[[], None]) -> None:
        self._wakers.setdefault(container, []).append(wake)

    async def write(self, container: str, name: str, data: bytes) -> BlobInfo:
        info = await self.store.put(container, name, data)
        for wake in self._wakers.get(container, ()):
            wake()
        return info


def _receipt_name(function_name: str, info: BlobInfo) -> str:
    return f"blobreceipts/devhost/{function_name}/{info.etag.strip(chr(34))}/{info.path}"


class BlobListener:
    """Runs one blob-triggered function once per new blob version in its container."""

    def __init__(
        self,
        *,
        function_name: str,
        path: BlobPath,
        blobs: LocalBlobs,
        queues: LocalQueues,
        run: RunBlob,
        options: QueuesOptions,
        scan_interval: float = SCAN_INTERVAL,
    ) -> None:
        self.function_name = function_name
        self.path = path
        self._blobs = blobs
        self._queues = queues
        self._run = run
        self._options = options
        self._scan_interval = scan_interval
        self._wake = asyncio.Event()
        self._receipts: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        blobs.on_write(path.container, self._wake.set)

    async def start(self) -> None:
        prefix = f"blobreceipts/devhost/{self.function_name}/"
        receipts = await self._blobs.store.list(HOSTS_CONTAINER)
        self._receipts = {r.name for r in receipts if r.name.startswith(prefix)}
        self._task = asyncio.create_task(self._scan(), name=f"blob:{self.function_name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _scan(self) -> None:
        while True:
            self._wake.clear()
            try:
                found = await self._blobs.store.list(self.path.container)
            except Exception:
                logger.exception("listing container %r failed; retrying", self.path.container)
                found = []
            for info in found:
                values = self.path.match(info.name)
                if values is None or _receipt_name(self.function_name, info) in self._receipts:
                    continue
                try:
                    await self._process(info, values)
                except Exception:
                    logger.exception("processing blob %r failed; the next scan retries", info.path)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._scan_interval)

    async def _process(self, info: BlobInfo, values: dict[str, str]) -> None:
        attempts = self._options.max_dequeue_count
        for attempt in range(1, attempts + 1):
            fetched = await self._blobs.store.get(info.container, info.name)
            if fetched is None:
                return  # deleted meanwhile
            current, data = fetched
            if current.etag != info.etag:
                return  # a newer version: the next scan takes it
            try:
                await self._run(current, data, {**values, "BlobTrigger": info.path})
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt < attempts:
                    await asyncio.sleep(self._options.visibility_timeout)
                    continue
                logger.warning(
                    "blob %r failed %d times in 'Functions.%s': a message goes to %r",
                    info.path,
                    attempts,
                    self.function_name,
                    POISON_QUEUE,
                )
                poison = {
                    "Type": "Blob",
                    "FunctionId": f"Host.Functions.{self.function_name}",
                    "BlobType": "BlockBlob",
                    "ContainerName": info.container,
                    "BlobName": info.name,
                    "ETag": info.etag,
                }
                await self._queues.send_bodies(POISON_QUEUE, [json.dumps(poison).encode()])
        receipt = _receipt_name(self.function_name, info)
        await self._blobs.store.put(HOSTS_CONTAINER, receipt, b"")
        self._receipts.add(receipt)
