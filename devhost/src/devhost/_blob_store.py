"""Blob storage as the local host keeps it: a small interface, the embedded and Azurite backings.

Only what blob triggers and blob input/output bindings need: write, read, list a container
(with each blob's ETag, so a trigger fires once per version), and the trigger's receipts.
The embedded backing is SQLite (in memory, or next to ``--store``); the Azurite backing goes
through ``azure-storage-blob`` at the ``AzureWebJobsStorage`` connection.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from devhost._errors import HostConfigError

UTC = timezone.utc
_CONTAINER = re.compile(r"\$root|[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")


def check_container_name(name: str, *, what: str) -> str:
    """A valid container name (3-63 lower-case letters, digits, single hyphens), or an error."""
    if _CONTAINER.fullmatch(name) is None:
        raise HostConfigError(
            f"{what}: {name!r} is not a valid container name (3-63 lower-case letters, digits "
            "and single hyphens, starting and ending with a letter or digit)"
        )
    return name


@dataclass(frozen=True)
class BlobInfo:
    container: str
    name: str
    etag: str
    length: int
    last_modified: datetime

    @property
    def path(self) -> str:
        """``container/name``, as the host's ``BlobTrigger`` metadata has it."""
        return f"{self.container}/{self.name}"


class BlobStore(Protocol):
    description: str

    async def put(self, container: str, name: str, data: bytes) -> BlobInfo: ...

    async def get(self, container: str, name: str) -> tuple[BlobInfo, bytes] | None: ...

    async def list(self, container: str | None = None) -> list[BlobInfo]:
        """Blobs of ``container`` (of every container when None), by container then name."""
        ...

    async def close(self) -> None: ...


class EmbeddedBlobStore:
    """Blobs in SQLite: ``path`` None keeps them in memory (lost on exit)."""

    def __init__(
        self, *, path: Path | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        try:
            self._db = sqlite3.connect(":memory:" if path is None else str(path))
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS blobs (
                    container TEXT NOT NULL,
                    name TEXT NOT NULL,
                    etag TEXT NOT NULL,
                    data BLOB NOT NULL,
                    last_modified TEXT NOT NULL,
                    PRIMARY KEY (container, name)
                );
                """
            )
        except sqlite3.Error as exc:
            raise HostConfigError(f"cannot open the blob store at {path}: {exc}") from exc
        self.description = "embedded, in memory" if path is None else f"embedded, {path}"

    async def put(self, container: str, name: str, data: bytes) -> BlobInfo:
        info = BlobInfo(container, name, f'"{uuid.uuid4().hex}"', len(data), self._clock())
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO blobs VALUES (?, ?, ?, ?, ?)",
                (container, name, info.etag, data, info.last_modified.isoformat()),
            )
        return info

    async def get(self, container: str, name: str) -> tuple[BlobInfo, bytes] | None:
        row = self._db.execute(
            "SELECT etag, data, last_modified FROM blobs WHERE container = ? AND name = ?",
            (container, name),
        ).fetchone()
        if row is None:
            return None
        etag, data, modified = row
        return BlobInfo(container, name, etag, len(data), datetime.fromisoformat(modified)), data

    async def list(self, container: str | None = None) -> list[BlobInfo]:
        rows = self._db.execute(
            "SELECT container, name, etag, length(data), last_modified FROM blobs"
            " WHERE ? IS NULL OR container = ? ORDER BY container, name",
            (container, container),
        ).fetchall()
        return [
            BlobInfo(c, n, etag, int(size), datetime.fromisoformat(modified))
            for c, n, etag, size, modified in rows
        ]

    async def close(self) -> None:
        self._db.close()


def _etag(value: object) -> str:
    """ETags quoted, as HTTP has them (listings return them bare, downloads quoted)."""
    return '"' + str(value).strip('"') + '"'


class AzuriteBlobStore:
    """``BlobStore`` over a real blob service (Azurite), through ``azure-storage-blob``."""

    def __init__(self, connection_string: str) -> None:
        from azure.storage.blob.aio import BlobServiceClient

        try:
            self._service = BlobServiceClient.from_connection_string(connection_string)
        except ValueError as exc:
            raise HostConfigError(
                f"AzureWebJobsStorage is not a valid connection string: {exc}"
            ) from exc
        self.description = f"Azurite at {self._service.url}"

    async def check(self) -> None:
        """Fail closed at start when the blob service does not answer."""
        from devhost._azurite import check_service

        await check_service(self._service.get_service_properties, "blob", self._service.url)

    async def put(self, container: str, name: str, data: bytes) -> BlobInfo:
        from azure.core.exceptions import ResourceExistsError

        client = self._service.get_container_client(container)
        with contextlib.suppress(ResourceExistsError):
            await client.create_container()  # as the output binding creates its container
        result = await client.get_blob_client(name).upload_blob(data, overwrite=True)
        return BlobInfo(
            container,
            name,
            _etag(result["etag"]),
            len(data),
            result.get("last_modified") or datetime.now(UTC),
        )

    async def get(self, container: str, name: str) -> tuple[BlobInfo, bytes] | None:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self._service.get_blob_client(container, name)
        try:
            downloader = await blob.download_blob()
            data = await downloader.readall()
        except ResourceNotFoundError:
            return None
        properties = downloader.properties
        info = BlobInfo(
            container, name, _etag(properties.etag), len(data), properties.last_modified
        )
        return info, data

    async def list(self, container: str | None = None) -> list[BlobInfo]:
        from azure.core.exceptions import ResourceNotFoundError

        if container is None:
            names = [c.name async for c in self._service.list_containers()]
        else:
            names = [container]
        found = []
        for name in sorted(names):
            client = self._service.get_container_client(name)
            try:
                async for blob in client.list_blobs():
                    found.append(
                        BlobInfo(
                            name, blob.name, _etag(blob.etag), blob.size or 0, blob.last_modified
                        )
                    )
            except ResourceNotFoundError:
                continue
        return sorted(found, key=lambda info: (info.container, info.name))

    async def close(self) -> None:
        await self._service.close()
