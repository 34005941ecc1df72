"""Timer triggers: schedules fire, run_on_startup fires, TimerRequest is bound."""

from __future__ import annotations

import asyncio
import io
import sys
from datetime import datetime, timedelta, timezone

import azure.functions as func

from devhost import NcrontabSchedule, run_devhost
from devhost._timers import TimerJob, TimerScheduler
from tests.devhost.conftest import app_file


class FakeClock:
    """A clock that only moves when the scheduler sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def run_scheduler(
    job: TimerJob, clock: FakeClock, firings: int, *, extra_delay: timedelta = timedelta(0)
) -> list[tuple[datetime, func.TimerRequest]]:
    fired: list[tuple[datetime, func.TimerRequest]] = []
    done = asyncio.Event()

    async def fire(name: str, request: func.TimerRequest) -> None:
        assert name == job.function_name
        fired.append((clock.now, request))
        clock.now += extra_delay
        if len(fired) >= firings:
            done.set()

    scheduler = TimerScheduler(jobs=[job], fire=fire, clock=clock, sleep=clock.sleep)
    await scheduler.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
    finally:
        await scheduler.stop()
    # The fake clock never waits, so more may have fired before stop(); judge the first ones.
    return fired[:firings]


async def test_fires_on_each_occurrence() -> None:
    clock = FakeClock(datetime(2024, 1, 1, 0, 0, 3, tzinfo=timezone.utc))
    job = TimerJob("five", NcrontabSchedule.parse("0 */5 * * * *"))
    fired = await run_scheduler(job, clock, 3)
    assert [moment for moment, _ in fired] == [
        datetime(2024, 1, 1, 0, minute, tzinfo=timezone.utc) for minute in (5, 10, 15)
    ]
    assert [request.past_due for _, request in fired] == [False, False, False]
    assert fired[1][1].schedule_status["Next"] == "2024-01-01T00:15:00+00:00"


async def test_run_on_startup_fires_first() -> None:
    clock = FakeClock(datetime(2024, 1, 1, 0, 0, 0, tzinfo=timezone.utc))
    job = TimerJob("daily", NcrontabSchedule.parse("0 0 3 * * *"), run_on_startup=True)
    fired = await run_scheduler(job, clock, 2)
    assert [moment for moment, _ in fired] == [
        datetime(2024, 1, 1, 0, 0, tzinfo=timezone.utc),
        datetime(2024, 1, 1, 3, 0, tzinfo=timezone.utc),
    ]
    assert fired[0][1].past_due is False


async def test_a_late_wakeup_is_past_due_and_fires_once() -> None:
    clock = FakeClock(datetime(2024, 1, 1, 0, 0, 0, tzinfo=timezone.utc))
    job = TimerJob("every_minute", NcrontabSchedule.parse("0 * * * * *"))

    async def oversleep(seconds: float) -> None:  # the laptop slept for 3 more minutes
        clock.now += timedelta(seconds=seconds + 180)
        await asyncio.sleep(0)

    fired: list[func.TimerRequest] = []

    async def fire(name: str, request: func.TimerRequest) -> None:
        fired.append(request)

    scheduler = TimerScheduler(jobs=[job], fire=fire, clock=clock, sleep=oversleep)
    await scheduler.start()
    for _ in range(100):
        if fired:
            break
        await asyncio.sleep(0)
    await scheduler.stop()
    assert fired[0].past_due is True


async def test_a_failing_timer_keeps_its_schedule() -> None:
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=timezone.utc))
    job = TimerJob("flaky", NcrontabSchedule.parse("*/1 * * * * *"))
    calls = 0
    done = asyncio.Event()

    async def fire(name: str, request: func.TimerRequest) -> None:
        nonlocal calls
        calls += 1
        if calls >= 3:
            done.set()
        raise RuntimeError("timer failed on purpose")

    scheduler = TimerScheduler(jobs=[job], fire=fire, clock=clock, sleep=clock.sleep)
    await scheduler.start()
    await asyncio.wait_for(done.wait(), timeout=5)
    await scheduler.stop()
    assert calls >= 3


async def test_timer_app_in_a_real_host() -> None:
    async with run_devhost(app_path=app_file("timers"), port=0, out=io.StringIO()) as host:
        fired = sys.modules["function_app"].FIRED
        for _ in range(60):  # bounded: up to 3 s for the startup run and two ticks
            if len([name for name, _ in fired if name == "every_second"]) >= 2:
                break
            await asyncio.sleep(0.05)
        assert "\ton_startup: timerTrigger" in host.banner
    names = [name for name, _ in fired]
    assert names[0] == "on_startup"
    assert names.count("on_startup") == 1
    assert names.count("every_second") >= 2
    assert all(isinstance(request, func.TimerRequest) for _, request in fired)
