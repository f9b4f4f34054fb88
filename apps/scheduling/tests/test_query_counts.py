"""Statements per request of every list and every write of the scheduling module (issue 12): a list costs
the same for a page of 2 and of 40 (and after a cursor); a write a fixed number, whatever the
organization holds and however many occurrences a series has. The counts include the request's fixed
machinery (``tests.query_counts``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from apps.scheduling.models import Booking, Resource
from apps.scheduling.tests.helpers import AVAILABILITY, BOOKINGS, CALENDAR, JSON, RESOURCES, SERIES, book
from tenants.models import Organization
from tests.query_counts import assert_list_constant, assert_statements, statements

pytestmark = pytest.mark.django_db

# Route, savepoint, user mirror, membership, release: what every request of these tests sends.
MACHINERY = 5


@pytest.fixture
def rooms(tenant_a: Organization, in_tenant: Any) -> list[Resource]:
    """45 rooms, each with one half-hour booking a day for the first three days of April 2026."""
    with in_tenant(tenant_a):
        resources = [
            Resource.objects.create(kind="room", name=f"Room {i:02}", timezone="UTC") for i in range(45)
        ]
        start = datetime(2026, 4, 1, 9, tzinfo=UTC)
        Booking.objects.bulk_create(
            Booking(
                resource=room,
                resource_key=room.key,
                exclusive=True,
                start=start + timedelta(days=day),
                end=start + timedelta(days=day, minutes=30),
                notes=f"n{day}",
            )
            for room in resources
            for day in range(3)
        )
    return resources


@pytest.mark.parametrize("params", [{}, {"kind": "room"}])
def test_resource_list(viewer_client: Client, rooms: list[Resource], params: dict[str, Any]) -> None:
    count = assert_list_constant(lambda query: viewer_client.get(RESOURCES, query), params=params)
    assert count == MACHINERY + 3  # page, count, audit entry


@pytest.mark.parametrize(
    "params", [{}, {"status": "confirmed"}, {"from": "2026-04-02T00:00Z", "to": "2026-04-04T00:00Z"}]
)
def test_booking_list(viewer_client: Client, rooms: list[Resource], params: dict[str, Any]) -> None:
    count = assert_list_constant(lambda query: viewer_client.get(BOOKINGS, query), params=params)
    assert count == MACHINERY + 3


def test_booking_list_of_one_resource(
    viewer_client: Client, rooms: list[Resource], tenant_a: Organization
) -> None:
    for hour in range(45):
        book(viewer_client, rooms[0], f"2026-05-01T{hour % 24:02}:00Z", f"2026-05-01T{hour % 24:02}:10Z")
    params = {"resource": str(rooms[0].id)}
    _, few = statements(lambda: viewer_client.get(BOOKINGS, params | {"limit": 1}))
    _, many = statements(lambda: viewer_client.get(BOOKINGS, params | {"limit": 3}))
    assert len(few) == len(many) == MACHINERY + 3


def test_calendar_and_free_slots(viewer_client: Client, rooms: list[Resource]) -> None:
    window = {"from": "2026-04-01T00:00Z", "to": "2026-04-08T00:00Z"}
    viewer_client.get(CALENDAR, window)
    _, few = statements(lambda: viewer_client.get(CALENDAR, window | {"resource": [str(rooms[0].id)]}))
    _, many = statements(lambda: viewer_client.get(CALENDAR, window))
    assert len(few) == len(many) == MACHINERY + 3  # resources, their bookings (prefetched), audit entry
    slots = window | {"resource": str(rooms[0].id), "duration": "15"}
    assert_statements(lambda: viewer_client.get(AVAILABILITY, slots), MACHINERY + 5, status=200)


def test_resource_writes(admin_client: Client, rooms: list[Resource]) -> None:
    body = {"kind": "room", "name": "New", "timezone": "Europe/Berlin", "capacity": 2}
    admin_client.post(RESOURCES, body, content_type=JSON)  # warm
    created = assert_statements(
        lambda: admin_client.post(RESOURCES, body, content_type=JSON), MACHINERY + 4, status=201
    )
    url = f"{RESOURCES}/{created.json()['id']}"
    assert_statements(
        lambda: admin_client.patch(url, {"name": "Renamed", "capacity": 3}, content_type=JSON),
        MACHINERY + 10,
        status=200,
    )
    weekly = [{"weekday": day, "start": "09:00", "end": "17:00"} for day in range(5)]
    closed = [{"date": f"2026-12-{day:02}", "closed": True} for day in range(20, 31)]
    few_rules = {"weekly": weekly[:1], "exceptions": closed[:1]}
    many_rules = {"weekly": weekly, "exceptions": closed}
    admin_client.put(f"{url}/availability", many_rules, content_type=JSON)
    _, many = statements(lambda: admin_client.put(f"{url}/availability", many_rules, content_type=JSON))
    _, few = statements(lambda: admin_client.put(f"{url}/availability", few_rules, content_type=JSON))
    assert len(few) == len(many) == MACHINERY + 17, "\n".join(sql[:120] for sql in many)
    assert_statements(lambda: admin_client.delete(url), MACHINERY + 7, status=204)


def test_booking_writes(member_client: Client, rooms: list[Resource]) -> None:
    room = rooms[1]
    book(member_client, room, "2026-06-01T08:00Z", "2026-06-01T09:00Z")  # warm
    created = assert_statements(
        lambda: book(member_client, room, "2026-06-01T10:00Z", "2026-06-01T11:00Z", notes="x"),
        MACHINERY + 12,  # with the booking.created event (apps.notifications)
        status=201,
    )
    url = f"{BOOKINGS}/{created.json()['id']}"
    assert_statements(
        lambda: member_client.patch(
            url, {"start": "2026-06-01T12:00Z", "end": "2026-06-01T13:00Z"}, content_type=JSON
        ),
        MACHINERY + 15,
        status=200,
    )
    # with the booking.cancelled event
    assert_statements(lambda: member_client.post(f"{url}/cancel"), MACHINERY + 7, status=200)


@pytest.mark.parametrize("occurrences", [3, 12])
def test_series_writes_cost_the_same_for_any_number_of_occurrences(
    member_client: Client, rooms: list[Resource], occurrences: int
) -> None:
    room = rooms[2]
    body = {
        "resource_id": str(room.id),
        "start": "2026-07-06T08:00Z",
        "end": "2026-07-06T09:00Z",
        "rrule": f"FREQ=DAILY;COUNT={occurrences}",
    }
    member_client.post(
        SERIES, body | {"start": "2026-06-06T08:00Z", "end": "2026-06-06T09:00Z"}, content_type=JSON
    )
    created = assert_statements(
        lambda: member_client.post(SERIES, body, content_type=JSON), MACHINERY + 13, status=201
    )  # with the occurrences' booking.created events, one statement for all
    first = created.json()["bookings"][0]["id"]
    moved = {"start": "2026-07-06T10:00Z", "end": "2026-07-06T11:00Z"}
    assert_statements(
        lambda: member_client.patch(f"{BOOKINGS}/{first}?scope=following", moved, content_type=JSON),
        MACHINERY + 16,
        status=200,
    )
    assert_statements(
        lambda: member_client.post(f"{BOOKINGS}/{first}/cancel?scope=following"), MACHINERY + 8, status=200
    )  # with their booking.cancelled events, one statement for all
