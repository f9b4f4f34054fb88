"""Property: the free slots returned never overlap existing bookings (beyond capacity) and lie inside
the resource's availability, for random hours, exceptions, bookings, zones and windows.

Availability is checked independently of ``apps.scheduling.availability``: each probed instant is
turned into the resource's local date and time and compared with the rules directly. Rule times stay
out of the small hours, where a repeated or skipped local hour makes "inside 02:30-04:00" ambiguous
(the DST tests pin that behaviour down).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django_tenants.utils import tenant_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.scheduling import selectors, services
from apps.scheduling.availability import MIDNIGHT, DateException, WeeklyHours
from apps.scheduling.models import Booking, Resource
from tenants.models import Organization

pytestmark = pytest.mark.django_db

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC", "Australia/Sydney"]
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def hours(draw: st.DrawFn) -> tuple[time, time]:
    start = draw(st.integers(5 * 4, 22 * 4))  # quarter hours, 05:00-22:00
    end = draw(st.integers(start + 1, 24 * 4))
    return time(start // 4, start % 4 * 15), MIDNIGHT if end == 96 else time(end // 4, end % 4 * 15)


@dataclass(frozen=True)
class Case:
    zone: str
    capacity: int
    start: datetime
    end: datetime
    duration: timedelta
    weekly: list[WeeklyHours]
    exceptions: list[DateException]
    bookings: list[tuple[datetime, int]]


@st.composite
def scenario(draw: st.DrawFn) -> Case:
    window_start = BASE + timedelta(days=draw(st.integers(0, 364)), hours=draw(st.integers(0, 23)))
    days = draw(st.integers(1, 10))
    weekly = [WeeklyHours(draw(st.integers(0, 6)), *draw(hours())) for _ in range(draw(st.integers(0, 8)))]
    exceptions = []
    for _ in range(draw(st.integers(0, 4))):
        day = (window_start + timedelta(days=draw(st.integers(0, days)))).date()
        times = draw(st.one_of(st.none(), hours()))
        closed = True if times is None else draw(st.booleans())
        exceptions.append(DateException(day, closed, *(times or (None, None))))
    bookings = [
        (window_start + timedelta(minutes=draw(st.integers(-600, days * 1440))), draw(st.integers(15, 600)))
        for _ in range(draw(st.integers(0, 25)))
    ]
    return Case(
        zone=draw(st.sampled_from(ZONES)),
        capacity=draw(st.integers(1, 3)),
        start=window_start,
        end=window_start + timedelta(days=days),
        duration=timedelta(minutes=draw(st.integers(5, 240))),
        weekly=weekly,
        exceptions=exceptions,
        bookings=bookings,
    )


def _within(t: time, start: time, end: time) -> bool:
    return start <= t and (end == MIDNIGHT or t < end)


def _open_at(
    instant: datetime, zone: ZoneInfo, weekly: list[WeeklyHours], exceptions: list[DateException]
) -> bool:
    local = instant.astimezone(zone)
    day, at = local.date(), local.time().replace(tzinfo=None)
    today = [e for e in exceptions if e.date == day]
    for e in today:
        if e.closed and (e.start is None or (e.end is not None and _within(at, e.start, e.end))):
            return False
    if any(not e.closed and e.start and e.end and _within(at, e.start, e.end) for e in today):
        return True
    return not weekly or any(w.weekday == day.weekday() and _within(at, w.start, w.end) for w in weekly)


def _seed(
    resource: Resource, capacity: int, bookings: list[tuple[datetime, int]]
) -> list[tuple[datetime, datetime]]:
    """Insert the bookings that keep the overlap within capacity; return them."""
    kept: list[tuple[datetime, datetime]] = []
    for start, minutes in bookings:
        span = (start, start + timedelta(minutes=minutes))
        points = [span[0]] + [s for s, _ in kept if span[0] <= s < span[1]]
        if all(sum(1 for s, e in kept if s <= p < e) < capacity for p in points):
            kept.append(span)
    Booking.objects.bulk_create(
        Booking(resource=resource, resource_key=resource.key, exclusive=capacity == 1, start=s, end=e)
        for s, e in kept
    )
    return kept


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=scenario())
def test_free_slots_are_free_and_available(tenant_a: Organization, case: Case) -> None:
    zone_name, capacity, start, end, duration = case.zone, case.capacity, case.start, case.end, case.duration
    weekly, exceptions = case.weekly, case.exceptions
    with tenant_context(tenant_a), transaction.atomic():
        resource = services.resource_create(kind="room", name="P", timezone=zone_name, capacity=capacity)
        services.availability_set(resource=resource, weekly=weekly, exceptions=exceptions)
        taken = _seed(resource, capacity, case.bookings)
        found = selectors.free_slots(resource_id=resource.id, start=start, end=end, duration=duration).slots
        transaction.set_rollback(True)

    zone = ZoneInfo(zone_name)
    for slot_start, slot_end in found:
        assert start <= slot_start < slot_end <= end
        assert slot_end - slot_start >= duration
        inner = [s for s, _ in taken if slot_start < s < slot_end] + [
            e for _, e in taken if slot_start < e < slot_end
        ]
        probes = sorted(
            {
                slot_start,
                slot_end - timedelta(microseconds=1),
                *inner,
                slot_start + (slot_end - slot_start) / 2,
            }
        )
        for probe in probes:
            assert _open_at(probe, zone, weekly, exceptions), (probe, slot_start, slot_end)
            assert sum(1 for s, e in taken if s <= probe < e) < capacity, (probe, slot_start, slot_end)
    for earlier, later in pairwise(found):
        assert earlier[1] < later[0]  # disjoint and not touching: maximal


def test_dates_outside_the_window_do_not_matter(tenant_a: Organization) -> None:
    """A closure on another date leaves the window's slots alone (guards the property's exception draw)."""
    with tenant_context(tenant_a):
        resource = services.resource_create(kind="room", name="Q", timezone="UTC")
        services.availability_set(
            resource=resource, weekly=[], exceptions=[DateException(date(2026, 1, 5), True)]
        )
        found = selectors.free_slots(
            resource_id=resource.id, start=BASE, end=BASE + timedelta(days=2), duration=timedelta(minutes=5)
        ).slots
    assert found == [(BASE, BASE + timedelta(days=2))]
