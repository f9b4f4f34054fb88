"""Interval arithmetic of availability: working hours on the resource's wall clock, turned into UTC
intervals, minus the times its bookings fill. Pure functions on half-open ``[start, end)`` intervals.

Local times are resolved with ``zoneinfo`` day by day, so a day of 23 or 25 hours (a daylight-saving
change) gets its true length: 09:00-17:00 in Berlin is 08:00-16:00 UTC in winter and 07:00-15:00 UTC
in summer. A working hour that does not exist (skipped by the spring-forward) is read with the
offset before the change, which moves it forward by the skipped hour; one that happens twice (the
autumn fallback) is its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]
MIDNIGHT = time(0)
_WHOLE_DAY = (MIDNIGHT, MIDNIGHT)


@dataclass(frozen=True)
class WeeklyHours:
    """Open on ``weekday`` (0 = Monday) from ``start`` to ``end`` local time; ``end`` 00:00 = midnight."""

    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class DateException:
    """On ``date``: closed all day (``closed`` and no times), closed from ``start`` to ``end``, or open
    then (``closed`` false)."""

    date: date
    closed: bool
    start: time | None = None
    end: time | None = None


def _local_interval(day: date, start: time, end: time, tz: ZoneInfo) -> Interval:
    begin = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
    end_day = day + timedelta(days=1) if end == MIDNIGHT else day
    return begin, datetime.combine(end_day, end, tzinfo=tz).astimezone(UTC)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals joined."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract(intervals: Sequence[Interval], holes: Sequence[Interval]) -> list[Interval]:
    """``intervals`` minus ``holes``; both merged (sorted, disjoint)."""
    result: list[Interval] = []
    index = 0
    for start, end in intervals:
        cursor = start
        while index < len(holes) and holes[index][1] <= cursor:
            index += 1
        probe = index
        while probe < len(holes) and holes[probe][0] < end:
            hole_start, hole_end = holes[probe]
            if hole_start > cursor:
                result.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
            probe += 1
        if cursor < end:
            result.append((cursor, end))
    return result


def clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    return [(max(s, start), min(e, end)) for s, e in intervals if s < end and e > start]


def open_intervals(
    *,
    weekly: Sequence[WeeklyHours],
    exceptions: Sequence[DateException],
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """When the resource is open between ``start`` and ``end``, in UTC, merged. A resource with no
    weekly hours is open around the clock (its exceptions still apply)."""
    by_weekday: dict[int, list[tuple[time, time]]] = {}
    for hours in weekly:
        by_weekday.setdefault(hours.weekday, []).append((hours.start, hours.end))
    by_date: dict[date, list[DateException]] = {}
    for exception in exceptions:
        by_date.setdefault(exception.date, []).append(exception)
    opened: list[Interval] = []
    closed: list[Interval] = []
    day, last = start.astimezone(tz).date() - timedelta(days=1), end.astimezone(tz).date()
    while day <= last:
        usual = by_weekday.get(day.weekday(), []) if weekly else [_WHOLE_DAY]
        opened.extend(_local_interval(day, s, e, tz) for s, e in usual)
        for exception in by_date.get(day, []):
            span = _local_interval(day, exception.start or MIDNIGHT, exception.end or MIDNIGHT, tz)
            (closed if exception.closed else opened).append(span)
        day += timedelta(days=1)
    return clip(subtract(merge(opened), merge(closed)), start, end)


def busy_intervals(bookings: Iterable[Interval], capacity: int) -> list[Interval]:
    """Where ``capacity`` or more of ``bookings`` overlap: the times no further booking fits."""
    if capacity == 1:
        return merge(bookings)  # the common case, without the event sweep
    events = sorted([(s, 1) for s, _ in bookings] + [(e, -1) for _, e in bookings])
    busy: list[Interval] = []
    count, since = 0, None
    for moment, step in events:  # ends (-1) sort before starts (+1) at the same instant: half-open
        count += step
        if count >= capacity and since is None:
            since = moment
        elif count < capacity and since is not None:
            busy.append((since, moment))
            since = None
    return merge(busy)


def free_slots(
    *, opened: Sequence[Interval], bookings: Iterable[Interval], capacity: int, duration: timedelta
) -> list[Interval]:
    """The maximal free intervals, inside ``opened``, that fit a booking of ``duration``."""
    free = subtract(opened, busy_intervals(bookings, capacity))
    return [(s, e) for s, e in free if e - s >= duration]


def covers(opened: Sequence[Interval], start: datetime, end: datetime) -> bool:
    """Whether one open interval holds all of ``[start, end)``."""
    return any(s <= start and end <= e for s, e in opened)
