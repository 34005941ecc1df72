"""The Azurite backing of the local host's queues (``--storage azurite``).

Real Azure Storage queues, through ``azure-storage-queue``, at the connection string in
``AzureWebJobsStorage`` (``UseDevelopmentStorage=true`` means Azurite's default ports), as
``func start`` uses them. The SDK client sends message text as is (no encode policy): the
host's codec applies ``messageEncoding``, exactly as with the embedded backing, so a message
written by the Storage SDK, by ``devhost send`` or by an output binding reads back the same.

Differences from the embedded store, all the queue service's own: ``peek`` shows only visible
messages (at most 32), visibility timeouts are whole seconds, message counts are approximate.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import datetime, timezone
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueMessage as SdkMessage
from azure.storage.queue.aio import QueueServiceClient

from devhost._errors import HostConfigError
from devhost._queue_store import QueueSummary, StoredMessage

STORAGE_SETTING = "AzureWebJobsStorage"
#: How long the host waits for Azurite to answer at start.
START_TIMEOUT = 10.0


async def check_service(probe: Any, service: str, url: str) -> None:
    """Fail closed at start when a Storage service does not answer: ``probe`` is the
    client's ``get_service_properties``, called once, with no retries (a refused
    connection is an error at once, not after the SDK's backoff), within START_TIMEOUT."""
    try:
        await asyncio.wait_for(probe(retry_total=0), START_TIMEOUT)
    except (AzureError, OSError, asyncio.TimeoutError) as exc:
        raise HostConfigError(
            f"--storage azurite: no {service} service answers at {url} "
            f"({type(exc).__name__}); start Azurite (npx azurite) or fix {STORAGE_SETTING}"
        ) from exc


def _seconds(value: float) -> int:
    return max(0, math.ceil(value))


def _when(moment: datetime | None) -> datetime:
    """The service always sets its times; a missing one (never seen) reads as now."""
    return moment if moment is not None else datetime.now(timezone.utc)


def _stored(message: SdkMessage) -> StoredMessage:
    return StoredMessage(
        id=message.id,
        content=message.content,
        dequeue_count=message.dequeue_count or 0,
        insertion_time=_when(message.inserted_on),
        expiration_time=_when(message.expires_on),
        next_visible_time=_when(message.next_visible_on),
        pop_receipt=message.pop_receipt,
    )


class AzuriteQueueStore:
    """``QueueStore`` over a real queue service (Azurite, or any account the string names)."""

    def __init__(self, connection_string: str) -> None:
        try:
            self._service = QueueServiceClient.from_connection_string(connection_string)
        except ValueError as exc:
            raise HostConfigError(
                f"{STORAGE_SETTING} is not a valid connection string: {exc}"
            ) from exc
        self._endpoint = self._service.url
        self.description = f"Azurite at {self._endpoint}"

    async def check(self) -> None:
        """Fail closed at start when the queue service does not answer."""
        await check_service(self._service.get_service_properties, "queue", self._endpoint)

    async def create_queue(self, queue: str) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self._service.create_queue(queue)

    async def put(self, queue: str, content: str, *, visible_in: float = 0.0) -> StoredMessage:
        client = self._service.get_queue_client(queue)
        visibility = _seconds(visible_in) or None
        try:
            sent = await client.send_message(content, visibility_timeout=visibility)
        except ResourceNotFoundError:
            await self.create_queue(queue)  # as the output binding creates its queue
            sent = await client.send_message(content, visibility_timeout=visibility)
        return StoredMessage(
            id=sent.id,
            content=content,
            dequeue_count=0,
            insertion_time=_when(sent.inserted_on),
            expiration_time=_when(sent.expires_on),
            next_visible_time=_when(sent.next_visible_on),
            pop_receipt=sent.pop_receipt,
        )

    async def receive(
        self, queue: str, *, max_messages: int, visibility_timeout: float
    ) -> list[StoredMessage]:
        client = self._service.get_queue_client(queue)
        received = []
        try:
            async for message in client.receive_messages(
                messages_per_page=max_messages,
                max_messages=max_messages,
                visibility_timeout=max(1, _seconds(visibility_timeout)),
            ):
                received.append(_stored(message))
        except ResourceNotFoundError:
            return []
        return received

    async def delete(self, queue: str, message_id: str, pop_receipt: str) -> None:
        client = self._service.get_queue_client(queue)
        # Already gone: its receipt expired and another receiver took it.
        with contextlib.suppress(ResourceNotFoundError):
            await client.delete_message(message_id, pop_receipt)

    async def release(
        self, queue: str, message_id: str, pop_receipt: str, *, visible_in: float
    ) -> None:
        client = self._service.get_queue_client(queue)
        with contextlib.suppress(ResourceNotFoundError):
            await client.update_message(
                message_id, pop_receipt, visibility_timeout=_seconds(visible_in)
            )

    async def peek(self, queue: str, *, limit: int = 32) -> list[StoredMessage]:
        client = self._service.get_queue_client(queue)
        try:
            peeked = await client.peek_messages(max_messages=min(limit, 32))
        except ResourceNotFoundError:
            return []
        return [_stored(message) for message in peeked]

    async def queues(self) -> list[QueueSummary]:
        summaries = []
        async for queue in self._service.list_queues():
            client = self._service.get_queue_client(queue.name)
            properties = await client.get_queue_properties()
            visible = len(await client.peek_messages(max_messages=32))
            summaries.append(
                QueueSummary(queue.name, properties.approximate_message_count or 0, visible)
            )
        return sorted(summaries, key=lambda summary: summary.name)

    async def close(self) -> None:
        await self._service.close()
