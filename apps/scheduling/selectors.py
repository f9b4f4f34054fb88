"""Reads of the scheduling module: a constant number of queries whatever the number of rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Prefetch, QuerySet

from apps.audit.services import audit_access, audit_access_list
from apps.scheduling import availability
from apps.scheduling.errors import BookingNotFound, ResourceNotFound
from apps.scheduling.models import AvailabilityException, AvailabilityRule, Booking, Resource
from apps.scheduling.validators import window_clean, zone

# Where ``calendar`` puts each resource's bookings of the window.
WINDOW_BOOKINGS = "window_bookings"


def _live_bookings() -> QuerySet[Booking]:
    return Booking.objects.exclude(status=Booking.Status.CANCELLED)


def resource_list(*, kind: str | None = None) -> QuerySet[Resource]:
    """Live resources, by name."""
    resources = Resource.objects.filter(deleted_at__isnull=True)
    if kind:
        resources = resources.filter(kind=kind)
    return resources.order_by("name", "id")


def resource_find(*, resource_id: uuid.UUID) -> Resource:
    """A live resource of the current organization, not audited (for services, which audit their
    writes); anything else, another organization's included, is not found."""
    resource = Resource.objects.filter(id=resource_id, deleted_at__isnull=True).first()
    if resource is None:
        raise ResourceNotFound()
    return resource


def resource_get(*, resource_id: uuid.UUID) -> Resource:
    """``resource_find``, audited as a read of it."""
    resource = resource_find(resource_id=resource_id)
    audit_access(instance=resource)
    return resource


def booking_list(
    *,
    resource_id: uuid.UUID | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    status: str | None = None,
    series_id: uuid.UUID | None = None,
) -> QuerySet[Booking]:
    """Bookings, by start; ``start``/``end`` keep those overlapping the window."""
    bookings = Booking.objects.all()
    if resource_id:
        bookings = bookings.filter(resource_id=resource_id)
    if start is not None:
        bookings = bookings.filter(end__gt=start)
    if end is not None:
        bookings = bookings.filter(start__lt=end)
    if status:
        bookings = bookings.filter(status=status)
    if series_id:
        bookings = bookings.filter(series_id=series_id)
    return bookings.order_by("start", "id")


def booking_get(*, booking_id: uuid.UUID) -> Booking:
    """A booking of the current organization, audited as a read; otherwise not found."""
    booking = Booking.objects.filter(id=booking_id).first()
    if booking is None:
        raise BookingNotFound()
    audit_access(instance=booking)
    return booking


def overlapping(*, resource: Resource, start: datetime, end: datetime) -> list[Booking]:
    """The live bookings of ``resource`` overlapping ``[start, end)``, by start (one query)."""
    return list(
        _live_bookings().filter(resource=resource, start__lt=end, end__gt=start).order_by("start", "id")
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Integer microseconds since the epoch (exact: ``extract(epoch ...)`` is numeric), read with a plain
# cursor: thousands of rows load several times faster than as timestamps through the ORM.
_TAKEN_SQL = """
    SELECT (extract(epoch FROM start_at) * 1000000)::bigint, (extract(epoch FROM end_at) * 1000000)::bigint
    FROM scheduling_booking
    WHERE resource_id = %s AND status <> 'cancelled' AND start_at < %s AND end_at > %s
"""


def taken(*, resource: Resource, start: datetime, end: datetime) -> list[availability.Interval]:
    """The ``[start, end)`` of every live booking of ``resource`` overlapping the window (one query,
    no model instances: the free-slot search reads thousands)."""
    with connection.cursor() as cursor:
        cursor.execute(_TAKEN_SQL, [resource.pk, end, start])
        rows = cursor.fetchall()
    return [(_EPOCH + timedelta(microseconds=s), _EPOCH + timedelta(microseconds=e)) for s, e in rows]


def availability_rules(
    *, resource: Resource
) -> tuple[list[availability.WeeklyHours], list[availability.DateException]]:
    """The resource's weekly hours and date exceptions (two queries)."""
    weekly = [
        availability.WeeklyHours(weekday=rule.weekday, start=rule.start, end=rule.end)
        for rule in AvailabilityRule.objects.filter(resource=resource).order_by("weekday", "start", "id")
    ]
    exceptions = [
        availability.DateException(date=row.date, closed=row.closed, start=row.start, end=row.end)
        for row in AvailabilityException.objects.filter(resource=resource).order_by("date", "start", "id")
    ]
    return weekly, exceptions


def open_intervals(*, resource: Resource, start: datetime, end: datetime) -> list[availability.Interval]:
    """When ``resource`` is open between ``start`` and ``end`` (UTC intervals)."""
    weekly, exceptions = availability_rules(resource=resource)
    return availability.open_intervals(
        weekly=weekly, exceptions=exceptions, tz=zone(resource.timezone), start=start, end=end
    )


@dataclass(frozen=True)
class FreeSlots:
    resource: Resource
    start: datetime
    end: datetime
    duration: timedelta
    slots: list[availability.Interval]


def free_slots(*, resource_id: uuid.UUID, start: datetime, end: datetime, duration: timedelta) -> FreeSlots:
    """The free intervals of the resource in the window that fit ``duration``: inside its availability,
    outside the times its bookings fill (``capacity`` of them at once). Four queries; audited as a read
    of the resource."""
    start, end = window_clean(start, end)
    resource = resource_get(resource_id=resource_id)
    opened = open_intervals(resource=resource, start=start, end=end)
    slots = availability.free_slots(
        opened=opened,
        bookings=taken(resource=resource, start=start, end=end),
        capacity=resource.capacity,
        duration=duration,
    )
    return FreeSlots(resource=resource, start=start, end=end, duration=duration, slots=slots)


def calendar(*, resource_ids: list[uuid.UUID] | None, start: datetime, end: datetime) -> list[Resource]:
    """The live resources asked for (all when ``None``), each with ``window_bookings``: its live
    bookings overlapping the window, by start. An id that names no live resource (another
    organization's included) is not found. Two queries, however many resources and bookings;
    audited as one read of the resources and one of the bookings listed."""
    start, end = window_clean(start, end)
    resources = resource_list()
    if resource_ids is not None:
        resources = resources.filter(id__in=resource_ids)
    window = _live_bookings().filter(start__lt=end, end__gt=start).order_by("start", "id")
    found: list[Resource] = list(
        resources.prefetch_related(Prefetch("bookings", window, to_attr=WINDOW_BOOKINGS))
    )
    if resource_ids is not None and len(found) != len(set(resource_ids)):
        raise ResourceNotFound("No resource has one of these ids.")
    audit_access_list(model=Resource, objects=found)
    audit_access_list(model=Booking, objects=[b for r in found for b in getattr(r, WINDOW_BOOKINGS)])
    return found
