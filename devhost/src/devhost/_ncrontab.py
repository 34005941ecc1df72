"""NCRONTAB schedules, as the Functions host's timer trigger reads them (NCrontab library).

``{second} {minute} {hour} {day} {month} {day-of-week}`` (a 5-field expression has no seconds
and fires at second 0). Each field is ``*``, a value, a range ``a-b``, a step ``*/n``, ``a-b/n``
or ``a/n`` (from a to the maximum), or a comma list of those. Months and days of week take
names, matched like NCrontab: any case-insensitive prefix of the English name (``Jan``,
``january``, ``Mon``), first match wins. Day of week runs 0-6, Sunday = 0.

Like NCrontab (and unlike Vixie cron) a date must match *both* the day-of-month and the
day-of-week fields. Occurrences are computed in the time zone of the moment passed in (the
host uses UTC unless WEBSITE_TIME_ZONE says otherwise).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from devhost._errors import ScheduleError

_MONTH_NAMES = tuple(calendar.month_name[1:])
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


@dataclass(frozen=True)
class _FieldKind:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_SECOND = _FieldKind("second", 0, 59)
_MINUTE = _FieldKind("minute", 0, 59)
_HOUR = _FieldKind("hour", 0, 23)
_DAY = _FieldKind("day", 1, 31)
_MONTH = _FieldKind("month", 1, 12, _MONTH_NAMES)
_DAY_OF_WEEK = _FieldKind("day-of-week", 0, 6, _DAY_NAMES)
_KINDS = (_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _DAY_OF_WEEK)

# How far ahead to look before deciding a schedule never fires (e.g. "0 0 0 30 2 *"):
# 28 years covers every weekday/leap-year combination.
_HORIZON = timedelta(days=366 * 28)


def _parse_value(text: str, kind: _FieldKind, expression: str) -> int:
    if text[:1].isdigit():
        if not text.isdigit():
            raise ScheduleError(f"{expression!r}: {text!r} is not a number ({kind.name} field)")
        return int(text)
    if text and kind.names:
        for offset, name in enumerate(kind.names):
            if name.lower().startswith(text.lower()):
                return kind.low + offset
        raise ScheduleError(
            f"{expression!r}: {text!r} is not a known {kind.name} name; "
            f"use one of {', '.join(kind.names)}"
        )
    raise ScheduleError(
        f"{expression!r}: {text!r} is not a valid {kind.name} value "
        f"(a number from {kind.low} to {kind.high})"
    )


def _parse_item(item: str, kind: _FieldKind, expression: str) -> set[int]:
    step = 1
    if "/" in item:
        item, step_text = item.split("/", 1)
        if not step_text.isdigit() or int(step_text) == 0:
            raise ScheduleError(f"{expression!r}: step {step_text!r} must be a positive integer")
        step = int(step_text)
    if item == "*":
        first, last = kind.low, kind.high
    elif "-" in item[1:]:
        dash = item.index("-", 1)
        first = _parse_value(item[:dash], kind, expression)
        last = _parse_value(item[dash + 1 :], kind, expression)
    else:
        first = _parse_value(item, kind, expression)
        last = kind.high if step > 1 else first
    for value in (first, last):
        if not kind.low <= value <= kind.high:
            raise ScheduleError(
                f"{expression!r}: {value} is outside the {kind.name} range {kind.low}-{kind.high}"
            )
    if first > last:
        raise ScheduleError(f"{expression!r}: range {first}-{last} runs backwards ({kind.name})")
    return set(range(first, last + 1, step))


def _parse_field(text: str, kind: _FieldKind, expression: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{expression!r}: empty item in the {kind.name} field")
        values |= _parse_item(item, kind, expression)
    return frozenset(values)


@dataclass(frozen=True)
class NcrontabSchedule:
    """A parsed NCRONTAB expression; ``next_after`` gives its occurrences."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> NcrontabSchedule:
        fields = expression.split()
        if len(fields) == 5:
            fields = ["0", *fields]
        if len(fields) != 6:
            hint = " (TimeSpan schedules are not supported)" if ":" in expression else ""
            raise ScheduleError(
                f"{expression!r} is not a valid NCRONTAB expression: it must have 6 fields "
                f"(second minute hour day month day-of-week){hint}"
            )
        parsed = [
            _parse_field(text, kind, expression) for text, kind in zip(fields, _KINDS, strict=True)
        ]
        return cls(expression, *parsed)

    def matches(self, moment: datetime) -> bool:
        return (
            moment.second in self.seconds
            and moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.day in self.days
            and moment.month in self.months
            and (moment.weekday() + 1) % 7 in self.days_of_week
        )

    def next_after(self, moment: datetime) -> datetime | None:
        """The first occurrence strictly after ``moment``; None if there is none for 28 years."""
        candidate = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = moment + _HORIZON
        while candidate <= limit:
            if candidate.month not in self.months:
                candidate = _start_of_next_month(candidate)
            elif candidate.day not in self.days or (
                (candidate.weekday() + 1) % 7 not in self.days_of_week
            ):
                candidate = candidate.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif candidate.hour not in self.hours:
                candidate = candidate.replace(minute=0, second=0) + timedelta(hours=1)
            elif candidate.minute not in self.minutes:
                candidate = candidate.replace(second=0) + timedelta(minutes=1)
            elif candidate.second not in self.seconds:
                candidate += timedelta(seconds=1)
            else:
                return candidate
        return None


def _start_of_next_month(moment: datetime) -> datetime:
    first = moment.replace(day=1, hour=0, minute=0, second=0)
    return (first + timedelta(days=32)).replace(day=1)
