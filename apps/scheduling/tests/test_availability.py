"""Availability: interval arithmetic, weekly hours and exceptions on the resource's wall clock, and
free slots that stay right across daylight-saving changes (Europe/Berlin and America/New_York)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.scheduling import availability, services
from apps.scheduling.availability import DateException, WeeklyHours
from apps.scheduling.models import Resource
from apps.scheduling.tests.helpers import AVAILABILITY, RESOURCES, assert_error, book, counts
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def every_day(start: str, end: str) -> list[WeeklyHours]:
    return [WeeklyHours(day, time.fromisoformat(start), time.fromisoformat(end)) for day in range(7)]


def slots(
    client: Client, resource: Resource, start: str, end: str, duration: int = 30
) -> list[tuple[str, str]]:
    response = client.get(
        AVAILABILITY, {"resource": str(resource.id), "from": start, "to": end, "duration": str(duration)}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["resource_id"] == str(resource.id)
    assert datetime.fromisoformat(body["from"]) == datetime.fromisoformat(start)
    return [(slot["start"], slot["end"]) for slot in body["slots"]]


def _as_utc(pairs: list[tuple[str, str]]) -> list[tuple[datetime, datetime]]:
    return [
        (datetime.fromisoformat(s).astimezone(UTC), datetime.fromisoformat(e).astimezone(UTC))
        for s, e in pairs
    ]


class TestIntervals:
    def test_merge_joins_overlapping_and_touching(self) -> None:
        a, b, c, d = (utc(f"2026-01-01T0{h}:00") for h in (1, 2, 3, 4))
        assert availability.merge([(c, d), (a, b), (b, c)]) == [(a, d)]
        assert availability.merge([(a, b), (c, d), (b, b)]) == [(a, b), (c, d)]

    def test_subtract_cuts_holes(self) -> None:
        h = [utc(f"2026-01-01T{h:02}:00") for h in range(10)]
        assert availability.subtract([(h[1], h[8])], [(h[0], h[2]), (h[3], h[4]), (h[7], h[9])]) == [
            (h[2], h[3]),
            (h[4], h[7]),
        ]
        assert availability.subtract([(h[1], h[2])], []) == [(h[1], h[2])]

    def test_busy_counts_up_to_capacity(self) -> None:
        h = [utc(f"2026-01-01T{h:02}:00") for h in range(10)]
        bookings = [(h[1], h[4]), (h[2], h[6]), (h[5], h[7])]
        assert availability.busy_intervals(bookings, 1) == [(h[1], h[7])]
        assert availability.busy_intervals(bookings, 2) == [(h[2], h[4]), (h[5], h[6])]
        assert availability.busy_intervals(bookings, 3) == []
        # back to back is not an overlap: half-open intervals
        assert availability.busy_intervals([(h[1], h[2]), (h[2], h[3])], 2) == []

    def test_no_weekly_hours_means_open_around_the_clock(self) -> None:
        start, end = utc("2026-06-01T00:00"), utc("2026-06-03T00:00")
        opened = availability.open_intervals(
            weekly=[], exceptions=[], tz=ZoneInfo("UTC"), start=start, end=end
        )
        assert opened == [(start, end)]

    def test_exceptions_close_whole_days_and_hours_and_open_extra(self) -> None:
        tz = ZoneInfo("Europe/Berlin")
        exceptions = [
            DateException(date(2026, 6, 1), closed=True),  # Monday closed
            DateException(date(2026, 6, 2), closed=True, start=time(12), end=time(13)),  # lunch
            DateException(date(2026, 6, 6), closed=False, start=time(10), end=time(12)),  # Saturday opening
        ]
        opened = availability.open_intervals(
            weekly=every_day("09:00", "17:00")[:5],
            exceptions=exceptions,
            tz=tz,
            start=utc("2026-06-01T00:00"),
            end=utc("2026-06-07T00:00"),
        )
        assert opened[0] == (utc("2026-06-02T07:00"), utc("2026-06-02T10:00"))
        assert opened[1] == (utc("2026-06-02T11:00"), utc("2026-06-02T15:00"))
        assert opened[-1] == (utc("2026-06-06T08:00"), utc("2026-06-06T10:00"))
        assert len(opened) == 6


# Daylight-saving changes of 2026: Berlin 29 March (02:00 -> 03:00) and 25 October (03:00 -> 02:00);
# New York 8 March (02:00 -> 03:00) and 1 November (02:00 -> 01:00).
DST_CASES = [
    ("Europe/Berlin", "2026-03-28", ["2026-03-28T08:00", "2026-03-29T07:00", "2026-03-30T07:00"]),
    ("Europe/Berlin", "2026-10-24", ["2026-10-24T07:00", "2026-10-25T08:00", "2026-10-26T08:00"]),
    ("America/New_York", "2026-03-07", ["2026-03-07T14:00", "2026-03-08T13:00", "2026-03-09T13:00"]),
    ("America/New_York", "2026-10-31", ["2026-10-31T13:00", "2026-11-01T14:00", "2026-11-02T14:00"]),
]


def _resource(tenant: Organization, zone: str, weekly: list[WeeklyHours]) -> Resource:
    with tenant_context(tenant):
        resource = services.resource_create(kind="room", name=f"Room {zone}", timezone=zone)
        return services.availability_set(resource=resource, weekly=weekly, exceptions=[])


class TestDaylightSaving:
    @pytest.mark.parametrize(("zone", "first_day", "opens_utc"), DST_CASES)
    def test_working_hours_follow_the_wall_clock(
        self, viewer_client: Client, tenant_a: Organization, zone: str, first_day: str, opens_utc: list[str]
    ) -> None:
        resource = _resource(tenant_a, zone, every_day("09:00", "17:00"))
        local = ZoneInfo(zone)
        start = datetime.fromisoformat(f"{first_day}T00:00").replace(tzinfo=local)
        found = _as_utc(
            slots(viewer_client, resource, start.isoformat(), (start + timedelta(days=3)).isoformat())
        )

        assert [s for s, _ in found] == [utc(text) for text in opens_utc]
        assert all(e - s == timedelta(hours=8) for s, e in found)
        assert all(
            s.astimezone(local).time() == time(9) and e.astimezone(local).time() == time(17) for s, e in found
        )

    @pytest.mark.parametrize(
        ("zone", "day", "hours"),
        [
            ("Europe/Berlin", "2026-03-29", 23),
            ("Europe/Berlin", "2026-10-25", 25),
            ("America/New_York", "2026-03-08", 23),
            ("America/New_York", "2026-11-01", 25),
        ],
    )
    def test_a_whole_day_lasts_23_or_25_hours(
        self, viewer_client: Client, tenant_a: Organization, zone: str, day: str, hours: int
    ) -> None:
        resource = _resource(tenant_a, zone, [WeeklyHours(6, time(0), time(0))])  # Sundays, all day
        local = ZoneInfo(zone)
        start = datetime.fromisoformat(f"{day}T00:00").replace(tzinfo=local)
        found = _as_utc(
            slots(
                viewer_client,
                resource,
                (start - timedelta(days=1)).isoformat(),
                (start + timedelta(days=2)).isoformat(),
            )
        )

        assert found == [(start.astimezone(UTC), start.astimezone(UTC) + timedelta(hours=hours))]

    def test_booking_inside_summer_hours_is_accepted_and_outside_refused(
        self, member_client: Client, tenant_a: Organization
    ) -> None:
        resource = _resource(tenant_a, "America/New_York", every_day("09:00", "17:00"))
        # 9 March (EDT, UTC-4): 09:00 local is 13:00Z; 08:30 local is before opening.
        assert book(member_client, resource, "2026-03-09T13:00Z", "2026-03-09T14:00Z").status_code == 201
        before = counts(tenant_a)
        response = book(member_client, resource, "2026-03-09T12:30Z", "2026-03-09T13:30Z")
        assert_error(response, 422, "outside_availability")
        assert counts(tenant_a) == before


class TestFreeSlots:
    def test_bookings_are_cut_out_and_short_gaps_dropped(
        self, member_client: Client, office: Resource
    ) -> None:
        # Monday 2 March 2026, office open 09:00-17:00 Berlin (08:00-16:00Z)
        assert (
            book(member_client, office, "2026-03-02T10:00+01:00", "2026-03-02T11:00+01:00").status_code == 201
        )
        assert (
            book(member_client, office, "2026-03-02T11:20+01:00", "2026-03-02T16:00+01:00").status_code == 201
        )
        found = slots(member_client, office, "2026-03-02T00:00+01:00", "2026-03-03T00:00+01:00", duration=30)
        assert _as_utc(found) == [
            (utc("2026-03-02T08:00"), utc("2026-03-02T09:00")),
            (utc("2026-03-02T15:00"), utc("2026-03-02T16:00")),
        ]  # the 20-minute gap at 11:00 does not fit 30 minutes
        assert (
            len(slots(member_client, office, "2026-03-02T00:00+01:00", "2026-03-03T00:00+01:00", duration=15))
            == 3
        )

    def test_cancelled_bookings_free_their_time(self, member_client: Client, office: Resource) -> None:
        booking = book(member_client, office, "2026-03-02T09:00+01:00", "2026-03-02T17:00+01:00").json()
        assert slots(member_client, office, "2026-03-02T00:00Z", "2026-03-03T00:00Z") == []
        member_client.post(f"/api/v1/scheduling/bookings/{booking['id']}/cancel")
        assert len(slots(member_client, office, "2026-03-02T00:00Z", "2026-03-03T00:00Z")) == 1

    def test_shared_resource_is_free_until_capacity_is_reached(
        self, member_client: Client, desk_pool: Resource
    ) -> None:
        book(member_client, desk_pool, "2026-03-02T10:00Z", "2026-03-02T12:00Z")
        assert len(slots(member_client, desk_pool, "2026-03-02T09:00Z", "2026-03-02T13:00Z")) == 1
        book(member_client, desk_pool, "2026-03-02T11:00Z", "2026-03-02T12:30Z")
        found = _as_utc(slots(member_client, desk_pool, "2026-03-02T09:00Z", "2026-03-02T13:00Z"))
        assert found == [
            (utc("2026-03-02T09:00"), utc("2026-03-02T11:00")),
            (utc("2026-03-02T12:00"), utc("2026-03-02T13:00")),
        ]

    @pytest.mark.parametrize(
        ("query", "status"),
        [
            ({"from": "2026-03-02T00:00", "to": "2026-03-03T00:00Z"}, 422),  # naive
            ({"from": "2026-03-03T00:00Z", "to": "2026-03-02T00:00Z"}, 422),  # backwards
            ({"from": "2026-01-01T00:00Z", "to": "2027-01-03T00:00Z"}, 422),  # over a year
            ({"from": "yesterday", "to": "2026-03-03T00:00Z"}, 422),
            ({"from": "2026-03-02T00:00Z", "to": "2026-03-03T00:00Z", "duration": "0"}, 422),
            ({"from": "2026-03-02T00:00Z", "to": "2026-03-03T00:00Z", "resource": "not-a-uuid"}, 422),
        ],
    )
    def test_bad_queries(
        self, viewer_client: Client, room: Resource, query: dict[str, Any], status: int
    ) -> None:
        params = {"resource": str(room.id), "duration": "30", **query}
        assert_error(viewer_client.get(AVAILABILITY, params), status)

    def test_another_organizations_resource_is_not_found(
        self, b_member_client: Client, room: Resource
    ) -> None:
        params = {
            "resource": str(room.id),
            "from": "2026-03-02T00:00Z",
            "to": "2026-03-03T00:00Z",
            "duration": "30",
        }
        assert_error(b_member_client.get(AVAILABILITY, params), 404, "resource_not_found")


class TestRulesApi:
    def test_admin_sets_and_everyone_reads(
        self, admin_client: Client, viewer_client: Client, member_client: Client, room: Resource
    ) -> None:
        url = f"{RESOURCES}/{room.id}/availability"
        body = {
            "weekly": [
                {"weekday": 0, "start": "09:00", "end": "12:00"},
                {"weekday": 0, "start": "13:00", "end": "00:00"},
            ],
            "exceptions": [
                {"date": "2026-12-24", "closed": True},
                {"date": "2026-12-27", "closed": False, "start": "10:00", "end": "11:00"},
            ],
        }
        assert_error(member_client.put(url, data=body, content_type="application/json"), 403)
        response = admin_client.put(url, data=body, content_type="application/json")
        assert response.status_code == 200, response.content
        read = viewer_client.get(url).json()
        assert read["weekly"] == [
            {"weekday": 0, "start": "09:00:00", "end": "12:00:00"},
            {"weekday": 0, "start": "13:00:00", "end": "00:00:00"},
        ]
        assert read["exceptions"][0] == {"date": "2026-12-24", "closed": True, "start": None, "end": None}
        assert read["timezone"] == "Europe/Berlin"

    @pytest.mark.parametrize(
        "body",
        [
            {"weekly": [{"weekday": 7, "start": "09:00", "end": "10:00"}]},
            {"weekly": [{"weekday": 1, "start": "10:00", "end": "09:00"}]},
            {"weekly": [{"weekday": 1, "start": "25:00", "end": "26:00"}]},
            {"exceptions": [{"date": "2026-12-24", "closed": True, "start": "10:00"}]},
            {"exceptions": [{"date": "2026-12-24", "closed": False}]},
            {"exceptions": [{"date": "2026-02-30", "closed": True}]},
            # Wall-clock times of the resource's zone: an offset contradicts it (PostgreSQL would
            # fail on -21:00, and silently drop +02:00).
            {"weekly": [{"weekday": 1, "start": "09:00+02:00", "end": "10:00"}]},
            {"weekly": [{"weekday": 1, "start": "09:00", "end": "10:00Z"}]},
            {"weekly": [{"weekday": 1, "start": "00:00:00-21:00", "end": "10:00"}]},
            {"exceptions": [{"date": "2026-12-24", "closed": False, "start": "10:00-16:00", "end": "11:00"}]},
            [],
        ],
    )
    def test_bad_rules_are_refused_and_nothing_changes(
        self, admin_client: Client, tenant_a: Organization, office: Resource, body: Any
    ) -> None:
        before = counts(tenant_a)
        response = admin_client.put(
            f"{RESOURCES}/{office.id}/availability", data=body, content_type="application/json"
        )
        assert_error(response, 422)
        assert counts(tenant_a) == before

    def test_another_organization_cannot_set_them(
        self, client_for: Any, tenant_b: Organization, room: Resource
    ) -> None:
        admin_b = client_for(tenant_b, ["admin"])
        response = admin_b.put(
            f"{RESOURCES}/{room.id}/availability", data={"weekly": []}, content_type="application/json"
        )
        assert_error(response, 404, "resource_not_found")
        assert_error(admin_b.get(f"{RESOURCES}/{room.id}/availability"), 404)
