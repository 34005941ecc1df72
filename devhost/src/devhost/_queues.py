"""Queue triggers and queue output bindings, with the Storage queues extension's semantics.

- A listener per queue-triggered function receives up to ``batchSize`` messages at a time and
  fetches the next batch once no more than ``newBatchThreshold`` are still running.
- A message runs once per receipt; each receipt raises its ``dequeue_count``. A failed run
  makes the message visible again after ``visibilityTimeout``; the run that fails with
  ``dequeue_count >= maxDequeueCount`` moves it to ``<queue>-poison`` instead. A message
  received with a count already past the limit (a host that stopped mid-run) is moved
  without running. A message that cannot be decoded (not base64 under ``base64``) is moved
  to the poison queue, with an error in the log.
- An empty queue is polled with a growing interval, from 100 ms doubling up to
  ``maxPollingInterval``; a message written through this host (an output binding, the admin
  API, ``devhost send``) wakes its queue's listener at once, as the host's queue watcher does.
- While a message runs it is invisible for ten minutes (the host renews its own lease; this
  local host does not: a run longer than that is received again).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections.abc
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import azure.functions as func
from azure.functions import _queue as azf_queue
from azure.functions.queue import QueueMessage as WorkerQueueMessage

from devhost._queue_store import QueueStore, StoredMessage, poison_queue_name
from devhost._settings import QueuesOptions

logger = logging.getLogger(__name__)

#: How long a received message stays invisible while it runs (the host's default lease).
RUN_VISIBILITY_TIMEOUT = 600.0
#: The fastest poll of an empty queue, as the host's exponential back-off starts.
MIN_POLLING_INTERVAL = 0.1

RunMessage = Callable[[func.QueueMessage], Awaitable[None]]


#: The largest message the queue service takes (64 KiB of stored text).
MAX_MESSAGE_BYTES = 64 * 1024


class MessageTooLargeError(ValueError):
    """A message is larger than the queue service takes."""


class MessageDecodeError(ValueError):
    """A stored message is not valid under the configured ``messageEncoding``."""


class QueueCodec:
    """Bodies to stored text and back, per ``extensions.queues.messageEncoding``."""

    def __init__(self, encoding: str) -> None:
        if encoding not in ("base64", "none"):
            raise ValueError(f"messageEncoding must be 'base64' or 'none', got {encoding!r}")
        self.encoding = encoding

    def encode(self, body: bytes) -> str:
        if self.encoding == "base64":
            return base64.b64encode(body).decode("ascii")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MessageDecodeError(
                "a queue message with messageEncoding 'none' must be UTF-8 text"
            ) from exc

    def decode(self, content: str) -> bytes:
        if self.encoding == "none":
            return content.encode("utf-8")
        try:
            return base64.b64decode(content.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise MessageDecodeError(
                "the message is not base64 (extensions.queues.messageEncoding is 'base64'; "
                "set it to 'none' for plain-text messages)"
            ) from exc


def output_bodies(value: Any) -> list[bytes]:
    """The queue messages one output value writes, as the worker and host turn it into them.

    ``None`` (an ``Out`` never set) writes nothing. A ``str`` is one message, except that the
    host parses the worker's string and writes each element of a JSON array as its own
    message (azure-functions-python-worker #1492). ``bytes`` is one message. A
    ``func.QueueMessage`` is sent by the worker as the JSON ``{"id": ..., "body": ...}``,
    which is what lands in the queue. A list of those is one message per item. Anything
    else fails the invocation, as the worker's converter does.
    """
    if value is None:
        return []
    if isinstance(value, bytes):
        return [value]
    if isinstance(value, str):
        return [text.encode("utf-8") for text in _split_json_array(value)]
    if isinstance(value, azf_queue.QueueMessage):
        return [_message_json(value).encode("utf-8")]
    if isinstance(value, collections.abc.Iterable) and not isinstance(value, dict):
        bodies = []
        for item in value:
            if isinstance(item, str):
                bodies.append(item.encode("utf-8"))
            elif isinstance(item, azf_queue.QueueMessage):
                bodies.append(_message_json(item).encode("utf-8"))
            else:
                raise TypeError(f"invalid data type in output queue message list: {type(item)}")
        return bodies
    raise TypeError(f"a queue output takes str, bytes, func.QueueMessage or a list, not {value!r}")


def _message_json(message: azf_queue.QueueMessage) -> str:
    return json.dumps({"id": message.id, "body": message.get_body().decode("utf-8")})


def _split_json_array(text: str) -> list[str]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return [text]
    if not isinstance(parsed, list):
        return [text]
    return [item if isinstance(item, str) else json.dumps(item) for item in parsed]


def queue_message(stored: StoredMessage, body: bytes) -> func.QueueMessage:
    """The ``func.QueueMessage`` the worker builds from the host's trigger metadata."""
    return WorkerQueueMessage(  # type: ignore[no-untyped-call]
        id=stored.id,
        body=body,
        dequeue_count=stored.dequeue_count,
        expiration_time=stored.expiration_time,
        insertion_time=stored.insertion_time,
        time_next_visible=stored.next_visible_time,
        pop_receipt=stored.pop_receipt,
    )


def invoked_message(text: str, now: datetime) -> func.QueueMessage:
    """The message an admin invocation passes: the input as body, never on a queue."""
    return WorkerQueueMessage(  # type: ignore[no-untyped-call]
        id=str(uuid.uuid4()),
        body=text.encode("utf-8"),
        dequeue_count=0,
        insertion_time=now,
        expiration_time=None,
        time_next_visible=None,
        pop_receipt=None,
    )


class LocalQueues:
    """The host's queues: one store, one codec, and the listeners to wake on a write."""

    def __init__(self, *, store: QueueStore, options: QueuesOptions) -> None:
        self.store = store
        self.options = options
        self.codec = QueueCodec(options.message_encoding)
        self._wakers: dict[str, list[Callable[[], None]]] = {}

    def on_write(self, queue: str, wake: Callable[[], None]) -> None:
        self._wakers.setdefault(queue, []).append(wake)

    async def send_bodies(self, queue: str, bodies: list[bytes]) -> list[StoredMessage]:
        """Write each body as a message (encoded per ``messageEncoding``); wake the listener."""
        contents = [self.codec.encode(body) for body in bodies]  # all or nothing
        for content in contents:
            if len(content.encode("utf-8")) > MAX_MESSAGE_BYTES:
                raise MessageTooLargeError(
                    f"a message for queue {queue!r} is {len(content)} characters after "
                    "encoding; a queue message holds at most 64 KiB"
                )
        sent = [await self.store.put(queue, content) for content in contents]
        if sent:
            for wake in self._wakers.get(queue, ()):
                wake()
        return sent

    async def move_to_poison(self, queue: str, message: StoredMessage) -> None:
        """Copy the message's content to ``<queue>-poison`` and delete the original."""
        poison = poison_queue_name(queue)
        await self.store.put(poison, message.content)
        if message.pop_receipt is not None:
            await self.store.delete(queue, message.id, message.pop_receipt)
        for wake in self._wakers.get(poison, ()):
            wake()


class QueueListener:
    """Runs one queue-triggered function on every message of its queue, until ``stop()``."""

    def __init__(
        self,
        *,
        function_name: str,
        queue: str,
        queues: LocalQueues,
        run: RunMessage,
        options: QueuesOptions,
    ) -> None:
        self.function_name = function_name
        self.queue = queue
        self._queues = queues
        self._run = run
        self._options = options
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        queues.on_write(queue, self._wake.set)

    async def start(self) -> None:
        await self._queues.store.create_queue(self.queue)
        self._task = asyncio.create_task(self._poll(), name=f"queue:{self.function_name}")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self) -> None:
        interval = MIN_POLLING_INTERVAL
        while True:
            while len(self._running) > self._options.threshold:
                self._slot_freed.clear()
                await self._slot_freed.wait()
            self._wake.clear()
            try:
                batch = await self._queues.store.receive(
                    self.queue,
                    max_messages=self._options.batch_size,
                    visibility_timeout=RUN_VISIBILITY_TIMEOUT,
                )
            except Exception:
                logger.exception("receiving from queue %r failed; retrying", self.queue)
                batch = []
            for stored in batch:
                task = asyncio.create_task(self._guarded(stored))
                self._running.add(task)
                task.add_done_callback(self._finished)
            if batch:
                interval = MIN_POLLING_INTERVAL
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            interval = (
                MIN_POLLING_INTERVAL
                if self._wake.is_set()
                else min(interval * 2, self._options.max_polling_interval)
            )

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slot_freed.set()

    async def _guarded(self, stored: StoredMessage) -> None:
        try:
            await self._process(stored)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A store error after the run: the message reappears when its lock times out.
            logger.exception("settling message %r on queue %r failed", stored.id, self.queue)

    async def _process(self, stored: StoredMessage) -> None:
        receipt = stored.pop_receipt
        assert receipt is not None  # received messages always carry one
        limit = self._options.max_dequeue_count
        try:
            body = self._queues.codec.decode(stored.content)
        except ValueError as exc:
            logger.error(
                "message %r on queue %r cannot be decoded (%s); moving it to %r",
                stored.id,
                self.queue,
                exc,
                poison_queue_name(self.queue),
            )
            await self._queues.move_to_poison(self.queue, stored)
            return
        if stored.dequeue_count > limit:
            await self._poison(stored, "before running")
            return
        try:
            await self._run(queue_message(stored, body))
        except asyncio.CancelledError:
            raise
        except Exception:
            # The dispatcher logged the failure with its traceback.
            if stored.dequeue_count >= limit:
                await self._poison(stored, "after its last attempt")
            else:
                await self._queues.store.release(
                    self.queue, stored.id, receipt, visible_in=self._options.visibility_timeout
                )
            return
        await self._queues.store.delete(self.queue, stored.id, receipt)

    async def _poison(self, stored: StoredMessage, when: str) -> None:
        logger.warning(
            "message %r on queue %r reached maxDequeueCount %d (%s): moving it to %r",
            stored.id,
            self.queue,
            self._options.max_dequeue_count,
            when,
            poison_queue_name(self.queue),
        )
        await self._queues.move_to_poison(self.queue, stored)
