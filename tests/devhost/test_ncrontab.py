"""The NCRONTAB parser, against the host documentation's examples and NCrontab's rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devhost import NcrontabSchedule, ScheduleError

START = datetime(2024, 1, 1, 0, 0, 0, tzinfo=timezone.utc)  # a Monday


def occurrences(expression: str, count: int, start: datetime = START) -> list[datetime]:
    schedule = NcrontabSchedule.parse(expression)
    found: list[datetime] = []
    moment = start
    for _ in range(count):
        following = schedule.next_after(moment)
        assert following is not None
        found.append(following)
        moment = following
    return found


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)  # type: ignore[misc]


# The examples table of the timer trigger documentation.
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 */5 * * * *", [at(2024, 1, 1, 0, 5), at(2024, 1, 1, 0, 10)]),  # every five minutes
        ("0 0 * * * *", [at(2024, 1, 1, 1), at(2024, 1, 1, 2)]),  # top of every hour
        ("0 0 */2 * * *", [at(2024, 1, 1, 2), at(2024, 1, 1, 4)]),  # every two hours
        ("0 0 9-17 * * *", [at(2024, 1, 1, 9), at(2024, 1, 1, 10)]),  # hourly 9 to 5
        ("0 30 9 * * *", [at(2024, 1, 1, 9, 30), at(2024, 1, 2, 9, 30)]),  # 9:30 daily
        ("0 30 9 * * 1-5", [at(2024, 1, 1, 9, 30), at(2024, 1, 2, 9, 30)]),  # weekdays
        ("0 30 9 * Jan Mon", [at(2024, 1, 1, 9, 30), at(2024, 1, 8, 9, 30)]),  # Mondays in Jan
        ("*/10 * * * * *", [at(2024, 1, 1, 0, 0, 10), at(2024, 1, 1, 0, 0, 20)]),
        ("5,25 0 0 * * *", [at(2024, 1, 1, 0, 0, 5), at(2024, 1, 1, 0, 0, 25)]),
        ("0 0 0 * * Sat", [at(2024, 1, 6), at(2024, 1, 13)]),
        ("0 0 0 29 Feb *", [at(2024, 2, 29), at(2028, 2, 29)]),
        ("0 0 0 31 * *", [at(2024, 1, 31), at(2024, 3, 31)]),  # skips short months
        ("0 0 12 1 */6 *", [at(2024, 1, 1, 12), at(2024, 7, 1, 12)]),
        ("0 0 0 1 January,july *", [at(2024, 7, 1), at(2025, 1, 1)]),
        ("30 1/20 * * * *", [at(2024, 1, 1, 0, 1, 30), at(2024, 1, 1, 0, 21, 30)]),  # a/n
        ("0 0 * * *", [at(2024, 1, 2), at(2024, 1, 3)]),  # 5 fields: min hour ... at second 0
    ],
)
def test_documented_examples(expression: str, expected: list[datetime]) -> None:
    assert occurrences(expression, len(expected)) == expected


def test_day_of_month_and_day_of_week_must_both_match() -> None:
    # NCrontab ANDs the two fields (Vixie cron would OR them): the 13th that is a Friday.
    assert occurrences("0 0 0 13 * Fri", 2) == [at(2024, 9, 13), at(2024, 12, 13)]


def test_never_firing_schedule_gives_none() -> None:
    assert NcrontabSchedule.parse("0 0 0 30 Feb *").next_after(START) is None


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "* * * *",
        "* * * * * * *",
        "60 * * * * *",
        "* * 24 * * *",
        "* * * 0 * *",
        "* * * * 13 *",
        "* * * * * 7",
        "* * * * * Funday",
        "*/0 * * * * *",
        "5-1 * * * * *",
        "1,,2 * * * * *",
        "Mon * * * * *",
        "1a * * * * *",
        "00:05:00",
    ],
)
def test_invalid_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(ScheduleError):
        NcrontabSchedule.parse(expression)


def test_timespan_gets_a_specific_hint() -> None:
    with pytest.raises(ScheduleError, match="TimeSpan"):
        NcrontabSchedule.parse("00:05:00")


field_item = st.one_of(
    st.just("*"),
    st.builds(lambda v: str(v), st.integers(0, 5)),
    st.builds(lambda step: f"*/{step}", st.integers(1, 7)),
    st.builds(lambda a, b: f"{min(a, b)}-{max(a, b)}", st.integers(0, 5), st.integers(0, 5)),
)


@settings(max_examples=150, deadline=None)
@given(
    seconds=field_item,
    minutes=field_item,
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
)
def test_next_is_the_first_matching_second_after_start(
    seconds: str, minutes: str, start: datetime
) -> None:
    """Brute force agrees: next_after is strictly later, matches, and nothing matches between."""
    schedule = NcrontabSchedule.parse(f"{seconds} {minutes} * * * *")
    start = start.replace(tzinfo=timezone.utc)
    found = schedule.next_after(start)
    assert found is not None
    assert found > start
    assert schedule.matches(found)
    probe = start.replace(microsecond=0) + timedelta(seconds=1)
    while probe < found:
        assert not schedule.matches(probe)
        probe += timedelta(seconds=1)


@settings(max_examples=100, deadline=None)
@given(day=st.integers(1, 31), weekday=st.integers(0, 6), month=st.integers(1, 12))
def test_day_fields_agree_with_the_calendar(day: int, weekday: int, month: int) -> None:
    schedule = NcrontabSchedule.parse(f"0 0 0 {day} {month} {weekday}")
    found = schedule.next_after(START)
    if found is None:
        return  # e.g. 30 February: never
    assert (found.day, found.month, (found.weekday() + 1) % 7) == (day, month, weekday)
    assert (found.hour, found.minute, found.second) == (0, 0, 0)
