"""Validation of scheduling input: the one place its rules live (time zones, datetimes, lengths, RRULEs)."""

from __future__ import annotations

import calendar
import re
import warnings
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from dateutil.rrule import rrule as RRule
from dateutil.rrule import rrulestr
from django.conf import settings

from api.types import instant_parse
from apps.scheduling.errors import SchedulingErrorCode, SchedulingInvalid
from hub.text import CONTROL_CHARACTERS

NAME_MAX = 200
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,39}")
CAPACITY_MAX = 10_000
# Bookings live between these instants: the span of a booking (``models``) needs epoch seconds that
# are positive and below 10^11.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)
# The longest window a list, calendar or availability search may ask for.
WINDOW_MAX = timedelta(days=366)
# A series is expanded once, up to this many occurrences and this far after its first one.
SERIES_MAX_OCCURRENCES = 500
SERIES_HORIZON = timedelta(days=366)
RRULE_MAX = 500
RRULE_PARTS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST"})
RRULE_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
RRULE_INTERVAL_MAX = 1000


def aware_datetime_parse(value: Any) -> datetime:
    """``api.types.instant_parse`` within the instants bookings may use (a before-validator: 422)."""
    return instant_parse(value, earliest=EARLIEST, latest=LATEST)


def local_time_check(value: time) -> time:
    """A wall-clock time of the resource's own zone: an offset would contradict it (a 422)."""
    if value.tzinfo is not None:
        raise ValueError("must be a local time without a UTC offset; the resource's time zone applies")
    return value


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def timezone_clean(value: str) -> str:
    """An IANA time zone name the system's database knows (``Europe/Berlin``)."""
    if value not in _zones():
        raise SchedulingInvalid(
            f"Unknown time zone {value[:64]!r}; use an IANA name such as Europe/Berlin.",
            field="timezone",
            code=SchedulingErrorCode.TIMEZONE_UNKNOWN,
        )
    return value


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def name_clean(value: str) -> str:
    value = value.strip(" ")
    if not value or len(value) > NAME_MAX or CONTROL_CHARACTERS.search(value):
        raise SchedulingInvalid(f"name must be 1 to {NAME_MAX} printable characters.", field="name")
    return value


def kind_clean(value: str) -> str:
    if not KIND_PATTERN.fullmatch(value):
        raise SchedulingInvalid(
            "kind must be lowercase letters, digits, - or _, starting with a letter.", field="kind"
        )
    return value


def capacity_clean(value: int) -> int:
    if not 1 <= value <= CAPACITY_MAX:
        raise SchedulingInvalid(f"capacity must be 1 to {CAPACITY_MAX}.", field="capacity")
    return value


def notes_clean(value: str | None) -> str:
    return (value or "").strip()


def booking_times_clean(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """End after start, and a length between the configured minimum and maximum; both in UTC."""
    if end <= start:
        raise SchedulingInvalid(
            "end must be after start.", field="end", code=SchedulingErrorCode.END_BEFORE_START
        )
    shortest = timedelta(minutes=settings.HUB_BOOKING_MIN_MINUTES)
    longest = timedelta(minutes=settings.HUB_BOOKING_MAX_MINUTES)
    if not shortest <= end - start <= longest:
        shortest_min, longest_min = settings.HUB_BOOKING_MIN_MINUTES, settings.HUB_BOOKING_MAX_MINUTES
        raise SchedulingInvalid(
            f"A booking lasts {shortest_min} to {longest_min} minutes.",
            field="end",
            code=SchedulingErrorCode.BOOKING_LENGTH,
        )
    return start.astimezone(UTC), end.astimezone(UTC)


def window_clean(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """A ``from``/``to`` window: ``to`` after ``from``, at most a year long."""
    if end <= start:
        raise SchedulingInvalid("to must be after from.", field="to", code=SchedulingErrorCode.WINDOW_INVALID)
    if end - start > WINDOW_MAX:
        raise SchedulingInvalid(
            f"A window spans at most {WINDOW_MAX.days} days.",
            field="to",
            code=SchedulingErrorCode.WINDOW_TOO_LONG,
        )
    return start, end


def _rrule_error(
    detail: str, code: SchedulingErrorCode = SchedulingErrorCode.RRULE_INVALID
) -> SchedulingInvalid:
    return SchedulingInvalid(detail, field="rrule", code=code)


def _rrule_parts(body: str) -> dict[str, str]:
    """``{NAME: value}`` of an RRULE body; only the supported subset passes.

    dateutil searches up to the year 9999 for a rule no date satisfies (``BYMONTH=2;BYMONTHDAY=30``),
    seconds of CPU per request, and stops there only then. The subset below (whole-day frequencies,
    INTERVAL at most ``RRULE_INTERVAL_MAX``, the BY-parts whose impossible combinations are checked
    here) keeps every expansion short: a satisfiable rule of it recurs within a few decades.
    """
    parts: dict[str, str] = {}
    for part in body.split(";"):
        name, _, value = part.partition("=")
        if name.upper() in parts or not value:
            raise _rrule_error(f"rrule part {part[:20]!r} is malformed or repeated.")
        parts[name.upper()] = value.upper()
    unsupported = sorted(parts.keys() - RRULE_PARTS)
    if unsupported:
        raise _rrule_error(
            f"rrule parts {', '.join(unsupported)} are not supported.", SchedulingErrorCode.RRULE_UNSUPPORTED
        )
    if parts.get("FREQ") not in RRULE_FREQUENCIES:
        raise _rrule_error(
            f"FREQ must be one of {', '.join(RRULE_FREQUENCIES)}.", SchedulingErrorCode.RRULE_UNSUPPORTED
        )
    if (
        not parts.get("INTERVAL", "1").isdigit()
        or not 1 <= int(parts.get("INTERVAL", "1")) <= RRULE_INTERVAL_MAX
    ):
        raise _rrule_error(f"INTERVAL must be 1 to {RRULE_INTERVAL_MAX}.")
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise _rrule_error(
            "rrule needs COUNT or UNTIL: a series must end.", SchedulingErrorCode.RRULE_UNBOUNDED
        )
    return parts


def _rrule_satisfiable(parts: dict[str, str]) -> None:
    """Refuse the combinations of the subset that no date satisfies."""
    ordinals = [day for day in parts.get("BYDAY", "").split(",") if day[:-2]]
    if ordinals and "BYMONTHDAY" in parts:
        raise _rrule_error(
            "BYDAY with a position (2MO) cannot be combined with BYMONTHDAY.",
            SchedulingErrorCode.RRULE_UNSUPPORTED,
        )
    within_month = parts["FREQ"] == "MONTHLY" or "BYMONTH" in parts
    if within_month and any(not day[:-2].lstrip("+-").isdigit() or int(day[:-2]) > 5 for day in ordinals):
        raise _rrule_error("A month has at most 5 of each weekday.", SchedulingErrorCode.RRULE_EMPTY)
    if "BYMONTH" in parts and "BYMONTHDAY" in parts:
        try:
            months = [int(month) for month in parts["BYMONTH"].split(",")]
            days = [abs(int(day)) for day in parts["BYMONTHDAY"].split(",")]
        except ValueError:
            raise _rrule_error("BYMONTH and BYMONTHDAY take numbers.") from None
        longest = {month: calendar.monthrange(2000, month)[1] for month in range(1, 13)}  # a leap year
        if not any(0 < day <= longest.get(month, 0) for month in months for day in days):
            raise _rrule_error("No date has these BYMONTH and BYMONTHDAY.", SchedulingErrorCode.RRULE_EMPTY)


def _rrule_parse(text: str, first: datetime) -> RRule:
    text = text.strip(" ")
    if len(text) > RRULE_MAX or CONTROL_CHARACTERS.search(text) or ":" in text.removeprefix("RRULE:"):
        raise _rrule_error("rrule must be one RRULE line (no DTSTART: the first occurrence is start).")
    body = text.removeprefix("RRULE:")
    _rrule_satisfiable(_rrule_parts(body))
    try:
        rule = rrulestr(body, dtstart=first)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise _rrule_error(f"rrule is not a valid RFC 5545 rule: {exc}") from None
    if not isinstance(rule, RRule):
        raise _rrule_error("rrule must be a single rule.")
    return rule


def _too_many() -> SchedulingInvalid:
    return _rrule_error(
        f"A series has at most {SERIES_MAX_OCCURRENCES} occurrences.", SchedulingErrorCode.RRULE_TOO_LONG
    )


def _beyond_horizon() -> SchedulingInvalid:
    return SchedulingInvalid(
        f"A series ends within {SERIES_HORIZON.days} days of its first occurrence.",
        field="rrule",
        code=SchedulingErrorCode.RRULE_BEYOND_HORIZON,
    )


def rrule_expand(text: str, *, start: datetime, timezone: str) -> list[datetime]:
    """The occurrences' starts, in UTC. The rule runs on the resource's wall clock, so a weekly 09:00
    stays 09:00 local across daylight-saving changes. More than ``SERIES_MAX_OCCURRENCES`` or anything
    after ``SERIES_HORIZON`` is refused, as is a rule that produces nothing.

    The expansion itself is cut at the horizon: a rule no date satisfies (``BYMONTHDAY=30;BYMONTH=2``)
    would otherwise make dateutil search up to the year 9999, seconds of CPU per request.
    """
    first = start.astimezone(zone(timezone))
    rule = _rrule_parse(text, first)
    horizon_end = first + SERIES_HORIZON
    until, count = getattr(rule, "_until", None), getattr(rule, "_count", None)
    if until is not None and until > horizon_end:
        raise _beyond_horizon()
    if count is not None and count > SERIES_MAX_OCCURRENCES:
        raise _too_many()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # COUNT with UNTIL: dateutil warns
            capped = rule if until is not None else rule.replace(until=horizon_end)
            starts = list(islice(iter(capped), SERIES_MAX_OCCURRENCES + 1))
    except (ValueError, OverflowError) as exc:
        raise SchedulingInvalid(
            f"rrule cannot be expanded: {exc}", field="rrule", code=SchedulingErrorCode.RRULE_INVALID
        ) from None
    if len(starts) > SERIES_MAX_OCCURRENCES:
        raise SchedulingInvalid(
            f"A series has at most {SERIES_MAX_OCCURRENCES} occurrences.",
            field="rrule",
            code=SchedulingErrorCode.RRULE_TOO_LONG,
        )
    if count is not None and 0 < len(starts) < count:
        raise _beyond_horizon()
    if not starts:
        raise SchedulingInvalid(
            f"rrule produces no occurrence within {SERIES_HORIZON.days} days.",
            field="rrule",
            code=SchedulingErrorCode.RRULE_EMPTY,
        )
    # Wall-clock times that do not exist (skipped by a spring-forward) are normalised by UTC.
    return [occurrence.astimezone(UTC) for occurrence in starts]
