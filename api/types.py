"""Field types shared by the APIs' schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

# What an API date-time may be, unless a module narrows it (scheduling does).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)


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
