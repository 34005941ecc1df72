"""Durable timers armed by the engine, indexed by instance and by fire time.

One asyncio handle is armed at a time, for the earliest timer; the rest wait in a heap ordered
by fire time. Each instance's timers are also kept in their own dict, so cancelling an
instance's timers (a start, a purge, the end of an execution) touches only that instance's
timers, never every armed timer (a scan of all of them cost 43 % of CPU at 20k instances).
A cancelled timer stays in the heap until it reaches the top, where it is skipped.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from devhost.durable._history import parse_timestamp

# (instance ID, execution ID, timer task ID, fire time as stored) -> None
FireCallback = Callable[[str, str, int, str], None]


@dataclass(order=True)
class _Entry:
    due: float  # loop time
    order: int
    instance_id: str = field(compare=False)
    execution_id: str = field(compare=False)
    task_id: int = field(compare=False)
    fire_at: str = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class TimerIndex:
    """Armed timers of every instance; ``fire`` is called on the loop when one is due."""

    def __init__(self, *, fire: FireCallback, now: Callable[[], datetime]) -> None:
        self._fire = fire
        self._now = now
        self._heap: list[_Entry] = []
        self._by_instance: dict[str, dict[int, _Entry]] = {}
        self._order = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._handle_due: float | None = None

    def __len__(self) -> int:
        return sum(len(timers) for timers in self._by_instance.values())

    def arm(self, instance_id: str, execution_id: str, task_id: int, fire_at: str) -> None:
        """Fire timer ``task_id`` of ``instance_id`` at ``fire_at`` (at once if past)."""
        loop = asyncio.get_running_loop()
        delay = max(0.0, (parse_timestamp(fire_at) - self._now()).total_seconds())
        self.cancel(instance_id, task_id)
        entry = _Entry(
            loop.time() + delay, next(self._order), instance_id, execution_id, task_id, fire_at
        )
        heapq.heappush(self._heap, entry)
        self._by_instance.setdefault(instance_id, {})[task_id] = entry
        self._rearm(loop)

    def cancel(self, instance_id: str, task_id: int) -> None:
        timers = self._by_instance.get(instance_id)
        if timers is None:
            return
        entry = timers.pop(task_id, None)
        if entry is not None:
            entry.cancelled = True
        if not timers:
            del self._by_instance[instance_id]

    def cancel_instance(self, instance_id: str) -> None:
        """Cancel every timer of ``instance_id``: O(its own timers)."""
        for entry in self._by_instance.pop(instance_id, {}).values():
            entry.cancelled = True

    def clear(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._handle_due = None
        self._heap.clear()
        self._by_instance.clear()

    def _rearm(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        if not self._heap:
            return
        due = self._heap[0].due
        if self._handle is not None and self._handle_due is not None and self._handle_due <= due:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_at(due, self._run_due)
        self._handle_due = due

    def _run_due(self) -> None:
        self._handle = None
        self._handle_due = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        due: list[_Entry] = []
        while self._heap and (self._heap[0].cancelled or self._heap[0].due <= now):
            entry = heapq.heappop(self._heap)
            if not entry.cancelled:
                self.cancel(entry.instance_id, entry.task_id)
                due.append(entry)
        for entry in due:
            self._fire(entry.instance_id, entry.execution_id, entry.task_id, entry.fire_at)
        self._rearm(loop)
