"""Single-flight: concurrent callers with one key share one in-flight attempt.

The attempt runs in its own task, so a caller that goes away (cancelled, timed out) neither
cancels it for the others nor leaves a start half-made. :class:`Detached` is the same for one
caller: work that must finish (and record what it decided) whether or not its caller stays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Flights(Generic[T]):
    """The attempts in flight in this process (one event loop), by key."""

    def __init__(self) -> None:
        self._tasks: dict[Hashable, asyncio.Task[T]] = {}

    def join(
        self, key: Hashable, attempt: Callable[[], Coroutine[Any, Any, T]]
    ) -> tuple[asyncio.Task[T], bool]:
        """The attempt in flight for ``key`` and True, or a new one running ``attempt()`` and
        False. The key is free again as soon as its attempt is done."""
        task = self._tasks.get(key)
        if task is not None:
            return task, True
        task = asyncio.get_running_loop().create_task(attempt())
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        return task, False

    def _forget(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # retrieved: an attempt nobody awaited any more logs no warning

    def __len__(self) -> int:
        return len(self._tasks)


class Detached(Generic[T]):
    """Work that outlives its caller: each :meth:`run` is a task of its own that the caller
    only awaits (shielded), so cancelling the caller never cancels the work."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[T]] = set()

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return await asyncio.shield(task)

    def _forget(self, task: asyncio.Task[T]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: work whose caller left logs no warning

    async def wait_idle(self) -> None:
        """Until every task started so far is done (for tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)
