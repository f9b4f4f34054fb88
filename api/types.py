"""Field types shared by the APIs' schemas."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator

T = TypeVar("T")

# What an API date-time may be, unless a module narrows it (scheduling does).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)
# The extended form only (RFC 3339, seconds optional): ``fromisoformat`` alone would also read
# ``20260301T0900Z`` or a week date, which the OpenAPI ``format: date-time`` does not promise. A date
# without a time still parses, to be refused below as naive with its own reason.
_INSTANT_PATTERN = re.compile(
    r"\d{4}-\d{2}-\d{2}"  # the date
    r"([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?)?"  # the time and its offset
)


def instant_parse(value: Any, *, earliest: datetime = EARLIEST, latest: datetime = LATEST) -> datetime:
    """ISO 8601 text with a UTC offset (or ``Z``) -> the same instant in UTC; anything else is refused.

    Used by schemas as a before-validator, so it raises ``ValueError`` (the API's 422). Numbers are
    refused (pydantic would read them as Unix timestamps), and so are naive date-times (ambiguous).
    The result is in UTC: Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59, so an
    instant given as ``+16:00`` is valid and must reach the database as UTC.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and len(value) <= 40:
        try:
            if not _INSTANT_PATTERN.fullmatch(value):
                raise ValueError(value)
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(_instant_refusal(value)) from None
    else:
        raise ValueError("must be an ISO 8601 date and time with a UTC offset, as a string")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(
            "must carry a UTC offset (naive date-times are ambiguous), e.g. 2026-03-01T09:00+01:00"
        )
    # Compared before converting: near year 1 or 9999 the conversion itself would overflow.
    if not earliest <= parsed <= latest:
        raise ValueError(f"must lie between {earliest.date()} and {latest.date()}")
    return parsed.astimezone(UTC)


def _instant_refusal(text: str) -> str:
    """Why ``text`` is no instant. A query string decodes ``+`` to a space, so ``...T09:00+01:00`` sent
    unencoded arrives as ``...T09:00 01:00``: that cause is named rather than a bare "invalid"."""
    head, space, tail = text.rpartition(" ")
    try:
        if space and tail[:1].isdigit() and datetime.fromisoformat(f"{head}+{tail}").tzinfo:
            return (
                "must be an ISO 8601 date and time with a UTC offset; its '+' arrived as a space: "
                "a '+' in a query string must be sent as %2B (e.g. 09:00%2B01:00), or use Z"
            )
    except ValueError:
        pass
    return "must be an ISO 8601 date and time with a UTC offset"


def _instant(value: Any) -> datetime:
    return instant_parse(value)


# An aware date-time, in UTC once parsed: ``since: AwareDatetime | None = None``.
AwareDatetime = Annotated[datetime, BeforeValidator(_instant)]

# The extended ISO 8601 forms the OpenAPI ``format: date`` / ``format: time`` promise. Python's
# ``fromisoformat`` also reads ``20260101``, ``2026-W01-1`` and ``0900``, and pydantic's lax mode reads
# ``0`` as 1970-01-01 and a number of seconds as a time: a client's mistake would become a real value.
_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_PATTERN = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")


def date_parse(value: Any) -> date:
    """``YYYY-MM-DD`` text -> the date; anything else (a number, a date-time, a week date) is refused."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return _iso_text_parse(value, _DATE_PATTERN, date.fromisoformat, "date", "YYYY-MM-DD")


def time_parse(value: Any) -> time:
    """``HH:MM[:SS[.ffffff]]`` text (an offset kept if given) -> the time; a number is refused."""
    if isinstance(value, time):
        return value
    return _iso_text_parse(value, _TIME_PATTERN, time.fromisoformat, "time", "HH:MM or HH:MM:SS")


def _iso_text_parse(
    value: Any, pattern: re.Pattern[str], parse: Callable[[str], T], kind: str, form: str
) -> T:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"must be an ISO 8601 {kind} as a string, {form}")
    try:
        return parse(value)
    except ValueError:  # the right shape, but no such day or time (2026-02-30, 25:00)
        raise ValueError(f"must be a real {kind}, {form}") from None


# A calendar date: ``as_of: IsoDate | None = None``.
IsoDate = Annotated[date, BeforeValidator(date_parse)]
# A time of day: ``start: IsoTime`` (a module may narrow it, as scheduling does to local times).
IsoTime = Annotated[time, BeforeValidator(time_parse)]
