"""Storage queues as the local host keeps them: a small interface and the embedded backing.

The interface is the part of the Azure Queue service the host's queue listener and output
bindings use (put, receive with a visibility timeout, delete or release by pop receipt, peek),
so another backing (Azurite, through ``azure-storage-queue``) can replace the embedded one.
A message's ``content`` is the text the queue service stores: with the extension's default
``messageEncoding`` ``base64`` that is the base64 of the body, with ``none`` the body itself;
encoding and decoding are the listener's and the output binding's job, never the store's.

The embedded backing is SQLite: in memory by default, a file with ``--store`` (kept across
restarts). Every call runs on the event loop thread and is short.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from devhost._errors import HostConfigError

UTC = timezone.utc
Clock = Callable[[], datetime]

#: What the queue service keeps a message by default (7 days), as the SDK's put does.
DEFAULT_TIME_TO_LIVE = timedelta(days=7)
_QUEUE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")


def normalize_queue_name(name: str, *, what: str) -> str:
    """The queue name as the extension uses it: lower-cased, then validated (3-63 characters,
    letters, digits and single hyphens, starting and ending with a letter or digit)."""
    lowered = name.lower()
    if _QUEUE_NAME.fullmatch(lowered) is None:
        raise HostConfigError(
            f"{what}: {name!r} is not a valid queue name (3-63 lower-case letters, digits and "
            "single hyphens, starting and ending with a letter or digit)"
        )
    return lowered


def poison_queue_name(queue: str) -> str:
    """Where the host moves a message after ``maxDequeueCount`` failed attempts."""
    return f"{queue}-poison"


@dataclass(frozen=True)
class StoredMessage:
    """One queue message with the metadata the service returns (``func.QueueMessage``'s)."""

    id: str
    content: str
    dequeue_count: int
    insertion_time: datetime
    expiration_time: datetime
    next_visible_time: datetime
    pop_receipt: str | None


@dataclass(frozen=True)
class QueueSummary:
    name: str
    messages: int
    visible: int


class QueueStore(Protocol):
    """The queue operations the local host needs; one instance per host."""

    description: str

    async def create_queue(self, queue: str) -> None: ...

    async def put(self, queue: str, content: str, *, visible_in: float = 0.0) -> StoredMessage: ...

    async def receive(
        self, queue: str, *, max_messages: int, visibility_timeout: float
    ) -> list[StoredMessage]:
        """Up to ``max_messages`` visible messages, each made invisible for
        ``visibility_timeout`` seconds, its dequeue count raised and a new pop receipt issued."""
        ...

    async def delete(self, queue: str, message_id: str, pop_receipt: str) -> None: ...

    async def release(
        self, queue: str, message_id: str, pop_receipt: str, *, visible_in: float
    ) -> None:
        """Make a received message visible again after ``visible_in`` seconds."""
        ...

    async def peek(self, queue: str, *, limit: int = 32) -> list[StoredMessage]:
        """Messages in the queue, visible or not, oldest first, without receiving them."""
        ...

    async def queues(self) -> list[QueueSummary]: ...

    async def close(self) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


class EmbeddedQueueStore:
    """Queues in SQLite: ``path`` None keeps them in memory (lost on exit)."""

    def __init__(self, *, path: Path | None = None, clock: Clock = _utc_now) -> None:
        self._clock = clock
        try:
            self._db = sqlite3.connect(":memory:" if path is None else str(path))
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY);
                CREATE TABLE IF NOT EXISTS queue_messages (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    queue TEXT NOT NULL,
                    id TEXT NOT NULL UNIQUE,
                    content TEXT NOT NULL,
                    dequeue_count INTEGER NOT NULL,
                    insertion_time TEXT NOT NULL,
                    expiration_time TEXT NOT NULL,
                    next_visible_time TEXT NOT NULL,
                    pop_receipt TEXT
                );
                CREATE INDEX IF NOT EXISTS queue_messages_by_queue
                    ON queue_messages (queue, next_visible_time);
                """
            )
        except sqlite3.Error as exc:
            raise HostConfigError(f"cannot open the queue store at {path}: {exc}") from exc
        self.description = "embedded, in memory" if path is None else f"embedded, {path}"

    def _purge_expired(self, now: datetime) -> None:
        self._db.execute("DELETE FROM queue_messages WHERE expiration_time <= ?", (_text(now),))

    async def create_queue(self, queue: str) -> None:
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO queues (name) VALUES (?)", (queue,))

    async def put(self, queue: str, content: str, *, visible_in: float = 0.0) -> StoredMessage:
        now = self._clock()
        message = StoredMessage(
            id=str(uuid.uuid4()),
            content=content,
            dequeue_count=0,
            insertion_time=now,
            expiration_time=now + DEFAULT_TIME_TO_LIVE,
            next_visible_time=now + timedelta(seconds=visible_in),
            pop_receipt=None,
        )
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO queues (name) VALUES (?)", (queue,))
            self._db.execute(
                "INSERT INTO queue_messages (queue, id, content, dequeue_count, insertion_time,"
                " expiration_time, next_visible_time) VALUES (?, ?, ?, 0, ?, ?, ?)",
                (
                    queue,
                    message.id,
                    content,
                    _text(now),
                    _text(message.expiration_time),
                    _text(message.next_visible_time),
                ),
            )
        return message

    async def receive(
        self, queue: str, *, max_messages: int, visibility_timeout: float
    ) -> list[StoredMessage]:
        now = self._clock()
        visible_at = now + timedelta(seconds=visibility_timeout)
        received = []
        with self._db:
            self._purge_expired(now)
            rows = self._db.execute(
                "SELECT id, content, dequeue_count, insertion_time, expiration_time"
                " FROM queue_messages WHERE queue = ? AND next_visible_time <= ?"
                " ORDER BY seq LIMIT ?",
                (queue, _text(now), max_messages),
            ).fetchall()
            for message_id, content, count, inserted, expires in rows:
                receipt = str(uuid.uuid4())
                self._db.execute(
                    "UPDATE queue_messages SET dequeue_count = ?, next_visible_time = ?,"
                    " pop_receipt = ? WHERE id = ?",
                    (count + 1, _text(visible_at), receipt, message_id),
                )
                received.append(
                    StoredMessage(
                        id=message_id,
                        content=content,
                        dequeue_count=count + 1,
                        insertion_time=_moment(inserted),
                        expiration_time=_moment(expires),
                        next_visible_time=visible_at,
                        pop_receipt=receipt,
                    )
                )
        return received

    async def delete(self, queue: str, message_id: str, pop_receipt: str) -> None:
        with self._db:
            self._db.execute(
                "DELETE FROM queue_messages WHERE queue = ? AND id = ? AND pop_receipt = ?",
                (queue, message_id, pop_receipt),
            )

    async def release(
        self, queue: str, message_id: str, pop_receipt: str, *, visible_in: float
    ) -> None:
        visible_at = self._clock() + timedelta(seconds=visible_in)
        with self._db:
            self._db.execute(
                "UPDATE queue_messages SET next_visible_time = ?, pop_receipt = ?"
                " WHERE queue = ? AND id = ? AND pop_receipt = ?",
                (_text(visible_at), str(uuid.uuid4()), queue, message_id, pop_receipt),
            )

    async def peek(self, queue: str, *, limit: int = 32) -> list[StoredMessage]:
        with self._db:
            self._purge_expired(self._clock())
        rows = self._db.execute(
            "SELECT id, content, dequeue_count, insertion_time, expiration_time,"
            " next_visible_time FROM queue_messages WHERE queue = ? ORDER BY seq LIMIT ?",
            (queue, limit),
        ).fetchall()
        return [
            StoredMessage(
                id=message_id,
                content=content,
                dequeue_count=count,
                insertion_time=_moment(inserted),
                expiration_time=_moment(expires),
                next_visible_time=_moment(visible),
                pop_receipt=None,
            )
            for message_id, content, count, inserted, expires, visible in rows
        ]

    async def queues(self) -> list[QueueSummary]:
        now = _text(self._clock())
        rows = self._db.execute(
            "SELECT q.name, COUNT(m.id), COALESCE(SUM(m.next_visible_time <= ?), 0)"
            " FROM queues q LEFT JOIN queue_messages m ON m.queue = q.name"
            " GROUP BY q.name ORDER BY q.name",
            (now,),
        ).fetchall()
        return [QueueSummary(name, int(total), int(visible)) for name, total, visible in rows]

    async def close(self) -> None:
        self._db.close()
