"""Service Bus queues and topics/subscriptions, embedded only (no emulator is reachable here).

Peek-lock with the Service Bus extension's defaults: a message is locked while its function
runs, completed when it succeeds (``autoCompleteMessages``) and abandoned when it fails, which
raises its ``delivery_count`` and delivers it again at once. The delivery that fails with
``delivery_count`` equal to the entity's ``maxDeliveryCount`` (10, the Service Bus default)
moves it to the entity's dead-letter queue with the reason ``MaxDeliveryCountExceeded``.
``extensions.serviceBus.maxConcurrentCalls`` (16 per CPU by default) bounds the concurrent
calls per function. A message sent to a topic is copied to each of its subscriptions (those
the app's triggers name). Sessions are not run locally. The entities live in memory: they are
not kept across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage as WorkerServiceBusMessage

from devhost._queues import output_bodies
from devhost._settings import ServiceBusOptions

logger = logging.getLogger(__name__)

UTC = timezone.utc
#: The Service Bus default for a queue's or subscription's maxDeliveryCount.
MAX_DELIVERY_COUNT = 10
#: The Service Bus default time to live (TimeSpan.MaxValue; shown as 14 days here).
DEFAULT_TIME_TO_LIVE = timedelta(days=14)
DEAD_LETTER = "$DeadLetterQueue"

RunMessage = Callable[[func.ServiceBusMessage], Awaitable[None]]


@dataclass(frozen=True)
class BusMessage:
    """One brokered message and the properties ``func.ServiceBusMessage`` carries."""

    body: bytes
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    content_type: str | None = None
    correlation_id: str | None = None
    subject: str | None = None
    reply_to: str | None = None
    to: str | None = None
    application_properties: Mapping[str, Any] = field(default_factory=dict)
    sequence_number: int = 0
    enqueued_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    delivery_count: int = 0
    lock_token: str | None = None
    dead_letter_reason: str | None = None
    dead_letter_error_description: str | None = None


def service_bus_message(message: BusMessage) -> func.ServiceBusMessage:
    """The ``func.ServiceBusMessage`` the worker builds from the host's trigger metadata."""
    properties = dict(message.application_properties)
    return WorkerServiceBusMessage(
        body=message.body,
        application_properties=properties,
        user_properties=properties,
        content_type=message.content_type,
        correlation_id=message.correlation_id,
        dead_letter_reason=message.dead_letter_reason,
        dead_letter_error_description=message.dead_letter_error_description,
        delivery_count=message.delivery_count,
        enqueued_time_utc=message.enqueued_time,
        expires_at_utc=message.enqueued_time + DEFAULT_TIME_TO_LIVE,
        label=message.subject,
        subject=message.subject,
        lock_token=message.lock_token,
        message_id=message.message_id,
        reply_to=message.reply_to,
        sequence_number=message.sequence_number,
        time_to_live=DEFAULT_TIME_TO_LIVE,
        to=message.to,
    )


def service_bus_bodies(value: object) -> list[bytes]:
    """What a Service Bus output writes: ``str`` or ``bytes`` as the worker's converter takes
    them (a JSON-array string is one message per element, as with queues), nothing for None."""
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return output_bodies(value)
    raise TypeError(f"a Service Bus output takes str or bytes, not {value!r}")


def entity_path(queue: str | None, topic: str | None, subscription: str | None) -> str:
    """``queue``, or ``topic/Subscriptions/subscription`` as Service Bus names them."""
    if queue:
        return queue.lower()
    return f"{str(topic).lower()}/Subscriptions/{str(subscription).lower()}"


class _Entity:
    def __init__(self) -> None:
        self.ready: deque[BusMessage] = deque()
        self.locked: dict[str, BusMessage] = {}
        self.dead: list[BusMessage] = []
        self.arrived = asyncio.Event()


class LocalServiceBus:
    """Every queue, topic and subscription of the local host, in memory."""

    def __init__(self) -> None:
        self._entities: dict[str, _Entity] = {}
        self._subscriptions: dict[str, set[str]] = {}
        self._sequence = itertools.count(1)
        self.description = "embedded, in memory (no emulator: Service Bus is embedded only)"

    def entity(self, path: str) -> _Entity:
        return self._entities.setdefault(path, _Entity())

    def subscribe(self, topic: str, subscription: str) -> None:
        self._subscriptions.setdefault(topic.lower(), set()).add(subscription.lower())
        self.entity(entity_path(None, topic, subscription))

    def send(self, destination: str, messages: list[BusMessage]) -> None:
        """To a queue, or to every subscription of a topic (dropped when it has none)."""
        destination = destination.lower()
        subscriptions = self._subscriptions.get(destination)
        paths = (
            [entity_path(None, destination, s) for s in sorted(subscriptions)]
            if subscriptions
            else [destination]
        )
        if subscriptions is None and destination not in self._entities:
            # Unknown names are queues, created on first use (Azure would need the entity).
            self.entity(destination)
        for message in messages:
            for path in paths:
                entity = self.entity(path)
                entity.ready.append(replace(message, sequence_number=next(self._sequence)))
                entity.arrived.set()

    def summary(self) -> list[dict[str, Any]]:
        return [
            {
                "path": path,
                "active": len(entity.ready) + len(entity.locked),
                "deadLetter": len(entity.dead),
            }
            for path, entity in sorted(self._entities.items())
        ]

    def messages(self, path: str, *, dead_letter: bool) -> list[BusMessage]:
        entity = self._entities.get(path.lower())
        if entity is None:
            return []
        return list(entity.dead) if dead_letter else [*entity.locked.values(), *entity.ready]


class ServiceBusListener:
    """Runs one Service Bus triggered function on every message of its queue or subscription."""

    def __init__(
        self,
        *,
        function_name: str,
        path: str,
        bus: LocalServiceBus,
        run: RunMessage,
        options: ServiceBusOptions,
        max_delivery_count: int = MAX_DELIVERY_COUNT,
    ) -> None:
        self.function_name = function_name
        self.path = path
        self._bus = bus
        self._run = run
        self._slots = asyncio.Semaphore(options.max_concurrent_calls)
        self._max_delivery_count = max_delivery_count
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._receive(), name=f"servicebus:{self.function_name}")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _receive(self) -> None:
        entity = self._bus.entity(self.path)
        while True:
            await self._slots.acquire()
            while not entity.ready:
                entity.arrived.clear()
                await entity.arrived.wait()
            message = entity.ready.popleft()
            locked = replace(
                message, delivery_count=message.delivery_count + 1, lock_token=str(uuid.uuid4())
            )
            entity.locked[locked.message_id + str(locked.lock_token)] = locked
            task = asyncio.create_task(self._process(entity, locked))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _process(self, entity: _Entity, message: BusMessage) -> None:
        key = message.message_id + str(message.lock_token)
        try:
            await self._run(service_bus_message(message))
        except asyncio.CancelledError:
            entity.locked.pop(key, None)
            entity.ready.appendleft(message)  # the lock is lost: delivered again later
            raise
        except Exception:
            entity.locked.pop(key, None)
            if message.delivery_count >= self._max_delivery_count:
                logger.warning(
                    "message %r on %r reached maxDeliveryCount %d: moving it to %s",
                    message.message_id,
                    self.path,
                    self._max_delivery_count,
                    DEAD_LETTER,
                )
                entity.dead.append(
                    replace(
                        message,
                        lock_token=None,
                        dead_letter_reason="MaxDeliveryCountExceeded",
                        dead_letter_error_description=(
                            f"Message could not be consumed after {self._max_delivery_count} "
                            "delivery attempts."
                        ),
                    )
                )
            else:
                entity.ready.appendleft(replace(message, lock_token=None))  # abandoned
                entity.arrived.set()
        else:
            entity.locked.pop(key, None)  # completed
        finally:
            self._slots.release()
