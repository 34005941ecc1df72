"""Timer triggers: fire each function on its NCRONTAB schedule, like the host's timer listener.

Per timer, invocations never overlap: the next occurrence is computed after the previous
invocation returns. ``run_on_startup`` fires once when the host starts. An occurrence that is
reached only after the following one was already due (the process slept, the function ran
long) is flagged ``past_due`` and fired once; the schedule then resumes from now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import azure.functions as func

from devhost._bindings import timer_request
from devhost._ncrontab import NcrontabSchedule

UTC = timezone.utc  # datetime.UTC is Python 3.11+

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
FireTimer = Callable[[str, func.TimerRequest], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class TimerJob:
    """One timer-triggered function."""

    function_name: str
    schedule: NcrontabSchedule
    run_on_startup: bool = False


class TimerScheduler:
    """Runs every ``TimerJob`` until ``stop()``; clock and sleep are injectable for tests."""

    def __init__(
        self,
        *,
        jobs: Sequence[TimerJob],
        fire: FireTimer,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._jobs = tuple(jobs)
        self._fire = fire
        self._clock = clock
        self._sleep = sleep
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for job in self._jobs:
            self._tasks.append(
                asyncio.create_task(self._run(job), name=f"timer:{job.function_name}")
            )

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _invoke(self, job: TimerJob, request: func.TimerRequest) -> None:
        try:
            await self._fire(job.function_name, request)
        except Exception:
            # The host logs a failed timer invocation and keeps the schedule going.
            logger.exception("timer function %r failed", job.function_name)

    async def _run(self, job: TimerJob) -> None:
        last: datetime | None = None
        now = self._clock()
        if job.run_on_startup:
            request = timer_request(
                past_due=False, last=None, next_occurrence=job.schedule.next_after(now), now=now
            )
            await self._invoke(job, request)
            now = self._clock()
        due = job.schedule.next_after(now)
        while due is not None:
            await self._sleep(max(0.0, (due - self._clock()).total_seconds()))
            now = self._clock()
            if now < due:
                continue  # woke early (clock skew); sleep the rest
            following = job.schedule.next_after(due)
            past_due = following is not None and now >= following
            upcoming = job.schedule.next_after(now)
            request = timer_request(past_due=past_due, last=last, next_occurrence=upcoming, now=now)
            await self._invoke(job, request)
            last = due
            due = job.schedule.next_after(max(self._clock(), due))
        logger.warning("timer %r has no further occurrences", job.function_name)
