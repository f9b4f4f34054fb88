"""``/api/v1/scheduling/bookings`` and ``/calendar``: booking, moving, cancelling, conflicts, roles, bad
input, another organization's ids, and constant query counts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.entities.models import Entity
from apps.scheduling.models import Booking, Resource
from apps.scheduling.tests.helpers import (
    BOOKINGS,
    CALENDAR,
    RESOURCES,
    assert_error,
    book,
    counts,
    patch,
    post,
)
from tenants.models import Organization

pytestmark = pytest.mark.django_db

T10, T11 = "2026-03-02T10:00+01:00", "2026-03-02T11:00+01:00"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


class TestLifecycle:
    def test_create_read_list(
        self, member_client: Client, viewer_client: Client, room: Resource, entity_a: Entity
    ) -> None:
        response = book(
            member_client,
            room,
            T10,
            T11,
            status="tentative",
            notes=" call first ",
            entity_id=str(entity_a.id),
        )
        assert response.status_code == 201, response.content
        booking = response.json()
        assert booking["resource_id"] == str(room.id)
        assert (_instant(booking["start"]), _instant(booking["end"])) == (_instant(T10), _instant(T11))
        assert (booking["status"], booking["notes"], booking["entity_id"], booking["series_id"]) == (
            "tentative",
            "call first",
            str(entity_a.id),
            None,
        )
        assert viewer_client.get(f"{BOOKINGS}/{booking['id']}").json() == booking
        assert viewer_client.get(BOOKINGS).json() == {
            "items": [booking],
            "count": 1,
            "count_exact": True,
            "next": None,
        }

    def test_move_and_edit(self, member_client: Client, room: Resource) -> None:
        booking = book(member_client, room, T10, T11).json()
        moved = patch(
            member_client,
            f"{BOOKINGS}/{booking['id']}",
            {"start": "2026-03-02T12:00+01:00", "end": "2026-03-02T12:30+01:00", "notes": "moved"},
        )
        assert moved.status_code == 200, moved.content
        assert _instant(moved.json()["start"]) == _instant("2026-03-02T12:00+01:00")
        assert moved.json()["notes"] == "moved"
        # the old time is free again; a move onto itself (overlapping its old time) is no conflict
        assert book(member_client, room, T10, T11).status_code == 201
        assert (
            patch(member_client, f"{BOOKINGS}/{booking['id']}", {"end": "2026-03-02T13:00+01:00"}).status_code
            == 200
        )

    def test_cancel_frees_the_time_and_is_idempotent(self, member_client: Client, room: Resource) -> None:
        booking = book(member_client, room, T10, T11).json()
        url = f"{BOOKINGS}/{booking['id']}/cancel"
        assert member_client.post(url).json()["status"] == "cancelled"
        assert member_client.post(url).json()["status"] == "cancelled"
        assert book(member_client, room, T10, T11).status_code == 201
        assert_error(
            patch(member_client, f"{BOOKINGS}/{booking['id']}", {"notes": "x"}), 409, "booking_cancelled"
        )

    def test_list_filters(
        self, viewer_client: Client, member_client: Client, room: Resource, desk_pool: Resource
    ) -> None:
        a = book(member_client, room, T10, T11).json()
        b = book(
            member_client, desk_pool, "2026-03-05T10:00Z", "2026-03-05T11:00Z", status="tentative"
        ).json()

        def ids(**query: Any) -> list[str]:
            return [item["id"] for item in viewer_client.get(BOOKINGS, query).json()["items"]]

        assert ids() == [a["id"], b["id"]]
        assert ids(resource=str(desk_pool.id)) == [b["id"]]
        assert ids(status="tentative") == [b["id"]]
        assert ids(**{"from": "2026-03-03T00:00Z", "to": "2026-03-06T00:00Z"}) == [b["id"]]
        assert ids(**{"from": "2026-03-02T09:30Z"}) == [a["id"], b["id"]]  # overlapping, not starting after


class TestConflicts:
    def test_overlap_is_409_naming_the_booking(
        self, member_client: Client, tenant_a: Organization, room: Resource
    ) -> None:
        first = book(member_client, room, T10, T11).json()
        before = counts(tenant_a)
        body = assert_error(
            book(member_client, room, "2026-03-02T10:59+01:00", "2026-03-02T12:00+01:00"),
            409,
            "booking_conflict",
        )
        assert [c["id"] for c in body["conflicts"]] == [first["id"]]
        assert counts(tenant_a) == before

    def test_back_to_back_is_no_overlap(self, member_client: Client, room: Resource) -> None:
        assert book(member_client, room, T10, T11).status_code == 201
        assert book(member_client, room, T11, "2026-03-02T12:00+01:00").status_code == 201
        assert book(member_client, room, "2026-03-02T09:00+01:00", T10).status_code == 201

    def test_same_instant_in_another_offset_collides(self, member_client: Client, room: Resource) -> None:
        assert book(member_client, room, T10, T11).status_code == 201
        assert_error(book(member_client, room, "2026-03-02T04:00-05:00", "2026-03-02T04:30-05:00"), 409)

    def test_moving_onto_another_booking_is_409(self, member_client: Client, room: Resource) -> None:
        first = book(member_client, room, T10, T11).json()
        second = book(member_client, room, "2026-03-02T12:00+01:00", "2026-03-02T13:00+01:00").json()
        body = assert_error(
            patch(member_client, f"{BOOKINGS}/{second['id']}", {"start": "2026-03-02T10:30+01:00"}), 409
        )
        assert [c["id"] for c in body["conflicts"]] == [first["id"]]

    def test_other_resources_do_not_collide(
        self, member_client: Client, room: Resource, office: Resource
    ) -> None:
        assert book(member_client, room, T10, T11).status_code == 201
        assert book(member_client, office, T10, T11).status_code == 201

    def test_capacity_two_takes_two(self, member_client: Client, desk_pool: Resource) -> None:
        assert book(member_client, desk_pool, T10, T11).status_code == 201
        assert book(member_client, desk_pool, T10, T11).status_code == 201
        body = assert_error(
            book(member_client, desk_pool, "2026-03-02T10:30+01:00", T11), 409, "booking_conflict"
        )
        assert len(body["conflicts"]) == 2


class TestAvailabilityOverride:
    def test_outside_hours_is_422_for_a_member(
        self, member_client: Client, tenant_a: Organization, office: Resource
    ) -> None:
        before = counts(tenant_a)
        # Sunday 1 March 2026: closed
        assert_error(
            book(member_client, office, "2026-03-01T10:00+01:00", "2026-03-01T11:00+01:00"),
            422,
            "outside_availability",
        )
        # Monday, running past 17:00
        assert_error(
            book(member_client, office, "2026-03-02T16:30+01:00", "2026-03-02T17:30+01:00"),
            422,
            "outside_availability",
        )
        assert counts(tenant_a) == before

    def test_member_may_not_override(
        self, member_client: Client, tenant_a: Organization, office: Resource
    ) -> None:
        before = counts(tenant_a)
        response = book(
            member_client,
            office,
            "2026-03-01T10:00+01:00",
            "2026-03-01T11:00+01:00",
            override_availability=True,
        )
        assert_error(response, 403, "override_requires_admin")
        assert counts(tenant_a) == before

    def test_admin_overrides(self, admin_client: Client, office: Resource) -> None:
        response = book(
            admin_client,
            office,
            "2026-03-01T10:00+01:00",
            "2026-03-01T11:00+01:00",
            override_availability=True,
        )
        assert response.status_code == 201, response.content

    def test_moving_out_of_hours_needs_the_override(
        self, member_client: Client, admin_client: Client, office: Resource
    ) -> None:
        booking = book(member_client, office, T10, T11).json()
        url = f"{BOOKINGS}/{booking['id']}"
        late = {"start": "2026-03-02T18:00+01:00", "end": "2026-03-02T19:00+01:00"}
        assert_error(patch(member_client, url, late), 422, "outside_availability")
        assert_error(patch(member_client, url, {**late, "override_availability": True}), 403)
        assert patch(admin_client, url, {**late, "override_availability": True}).status_code == 200


class TestOffsets:
    def test_any_offset_python_reads_is_the_same_instant(self, member_client: Client, room: Resource) -> None:
        # PostgreSQL takes offsets up to ±15:59 only; the API converts to UTC before it gets there.
        response = book(member_client, room, "2026-03-02T20:00+16:00", "2026-03-02T21:00+16:00")
        assert response.status_code == 201, response.content
        created = response.json()
        assert datetime.fromisoformat(created["start"]) == datetime(2026, 3, 2, 4, tzinfo=UTC)
        listed = member_client.get(
            BOOKINGS,
            {"resource": str(room.id), "from": "2026-03-02T19:00+16:00", "to": "2026-03-02T22:00-21:00"},
        )
        assert listed.status_code == 200, listed.content
        assert [item["id"] for item in listed.json()["items"]] == [created["id"]]


class TestBadInput:
    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"start": "2026-03-02T10:00", "end": "2026-03-02T11:00"}, None),  # naive
            ({"start": "2026-03-02T10:00Z", "end": "2026-03-02T11:00"}, None),  # one naive
            ({"start": "2026-03-02", "end": "2026-03-03"}, None),  # dates
            ({"start": 1772445600, "end": 1772449200}, None),  # numbers
            ({"start": "2026-03-02T11:00Z", "end": "2026-03-02T10:00Z"}, "end_before_start"),
            ({"start": "2026-03-02T10:00Z", "end": "2026-03-02T10:00Z"}, "end_before_start"),
            ({"start": "2026-03-02T10:00Z", "end": "2026-03-02T10:04Z"}, "booking_length"),
            ({"start": "2026-03-02T10:00Z", "end": "2026-03-03T10:01Z"}, "booking_length"),
            ({"start": "1969-12-31T10:00Z", "end": "1969-12-31T11:00Z"}, None),
            ({"start": "9999-12-31T10:00Z", "end": "9999-12-31T11:00Z"}, None),
            ({"start": "2026-03-02T10:00+25:00", "end": "2026-03-02T11:00Z"}, None),
            ({"status": "cancelled"}, None),
            ({"status": "maybe"}, None),
            ({"resource_id": "nope"}, None),
            ({"notes": "x" * 2001}, None),
            ({"extra": "ignored", "start": None}, None),
        ],
    )
    def test_refused_with_422_and_nothing_written(
        self,
        member_client: Client,
        tenant_a: Organization,
        room: Resource,
        fields: dict[str, Any],
        code: str | None,
    ) -> None:
        before = counts(tenant_a)
        body = {
            "resource_id": str(room.id),
            "start": "2026-03-02T10:00Z",
            "end": "2026-03-02T11:00Z",
            **fields,
        }
        assert_error(post(member_client, BOOKINGS, body), 422, code)
        assert counts(tenant_a) == before

    @pytest.mark.parametrize("body", [[], "x", None, {"resource_id": None}])
    def test_malformed_bodies(self, member_client: Client, body: Any) -> None:
        response = member_client.post(BOOKINGS, data=body, content_type="application/json")
        assert response.status_code in (400, 422)

    def test_unknown_resource_is_404(self, member_client: Client, tenant_a: Organization) -> None:
        before = counts(tenant_a)
        assert_error(book(member_client, uuid.uuid4(), T10, T11), 404, "resource_not_found")
        assert counts(tenant_a) == before

    def test_patch_to_end_before_start(self, member_client: Client, room: Resource) -> None:
        booking = book(member_client, room, T10, T11).json()
        assert_error(
            patch(member_client, f"{BOOKINGS}/{booking['id']}", {"end": "2026-03-02T09:00+01:00"}),
            422,
            "end_before_start",
        )
        assert_error(patch(member_client, f"{BOOKINGS}/{booking['id']}", {"start": None}), 422)
        assert_error(
            patch(member_client, f"{BOOKINGS}/{booking['id']}?scope=following", {"notes": "x"}),
            422,
            "not_in_series",
        )

    def test_list_window_over_a_year(self, viewer_client: Client) -> None:
        # lists accept any window; the calendar, which returns everything in it, is bounded
        assert_error(
            viewer_client.get(CALENDAR, {"from": "2026-01-01T00:00Z", "to": "2027-01-03T00:00Z"}),
            422,
            "window_too_long",
        )
        assert_error(viewer_client.get(BOOKINGS, {"from": "2026-01-01T00:00"}), 422)


class TestRoles:
    def test_viewer_reads_but_does_not_book(
        self, viewer_client: Client, member_client: Client, room: Resource
    ) -> None:
        booking = book(member_client, room, T10, T11).json()
        assert_error(
            book(viewer_client, room, "2026-03-03T10:00Z", "2026-03-03T11:00Z"), 403, "role_required"
        )
        assert_error(patch(viewer_client, f"{BOOKINGS}/{booking['id']}", {"notes": "x"}), 403)
        assert_error(viewer_client.post(f"{BOOKINGS}/{booking['id']}/cancel"), 403)
        assert viewer_client.get(f"{BOOKINGS}/{booking['id']}").status_code == 200

    def test_no_token(self, client_for: Any, tenant_a: Organization) -> None:
        assert_error(client_for(tenant_a).get(BOOKINGS), 401)


class TestIsolation:
    def test_another_organization_cannot_book_read_move_or_cancel(
        self,
        member_client: Client,
        b_member_client: Client,
        tenant_a: Organization,
        tenant_b: Organization,
        room: Resource,
        room_b: Resource,
    ) -> None:
        booking = book(member_client, room, T10, T11).json()
        url = f"{BOOKINGS}/{booking['id']}"
        before_a, before_b = counts(tenant_a), counts(tenant_b)

        assert_error(
            book(b_member_client, room, "2026-03-03T10:00Z", "2026-03-03T11:00Z"), 404, "resource_not_found"
        )
        assert_error(b_member_client.get(url), 404, "booking_not_found")
        assert_error(
            patch(b_member_client, url, {"start": "2026-03-04T10:00Z", "end": "2026-03-04T11:00Z"}), 404
        )
        assert_error(b_member_client.post(f"{url}/cancel"), 404)
        assert b_member_client.get(BOOKINGS).json() == {
            "items": [],
            "count": 0,
            "count_exact": True,
            "next": None,
        }
        assert b_member_client.get(BOOKINGS, {"resource": str(room.id)}).json()["count"] == 0
        calendar = b_member_client.get(
            CALENDAR, {"from": "2026-03-01T00:00Z", "to": "2026-03-04T00:00Z", "resource": str(room.id)}
        )
        assert_error(calendar, 404, "resource_not_found")
        assert counts(tenant_a) == before_a
        assert counts(tenant_b) == before_b

    def test_the_same_time_in_two_organizations_is_no_conflict(
        self, member_client: Client, b_member_client: Client, room: Resource, room_b: Resource
    ) -> None:
        assert book(member_client, room, T10, T11).status_code == 201
        assert book(b_member_client, room_b, T10, T11).status_code == 201

    def test_a_booking_cannot_name_another_organizations_entity(
        self, b_member_client: Client, room_b: Resource, entity_a: Entity
    ) -> None:
        assert_error(
            book(b_member_client, room_b, T10, T11, entity_id=str(entity_a.id)), 404, "entity_not_found"
        )


class TestCalendar:
    def test_groups_live_bookings_by_resource(
        self, viewer_client: Client, member_client: Client, room: Resource, desk_pool: Resource
    ) -> None:
        a = book(member_client, room, T10, T11).json()
        b = book(member_client, desk_pool, T10, T11).json()
        cancelled = book(member_client, room, "2026-03-02T12:00+01:00", "2026-03-02T13:00+01:00").json()
        member_client.post(f"{BOOKINGS}/{cancelled['id']}/cancel")
        book(member_client, room, "2026-03-09T10:00Z", "2026-03-09T11:00Z")  # outside the window

        window = {"from": "2026-03-02T00:00Z", "to": "2026-03-03T00:00Z"}
        body = viewer_client.get(CALENDAR, window).json()
        assert (body["from"], body["to"]) == ("2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z")
        grouped = {r["id"]: [bk["id"] for bk in r["bookings"]] for r in body["resources"]}
        assert grouped == {str(room.id): [a["id"]], str(desk_pool.id): [b["id"]]}
        one = viewer_client.get(CALENDAR, {**window, "resource": [str(desk_pool.id)]}).json()
        assert [r["id"] for r in one["resources"]] == [str(desk_pool.id)]


def _seed(tenant: Organization, resources: list[Resource], per_resource: int, day: int = 1) -> None:
    """``per_resource`` half-hour bookings of each resource, hourly from ``day`` April 2026."""
    start = datetime(2026, 4, day, tzinfo=UTC)
    with tenant_context(tenant):
        Booking.objects.bulk_create(
            Booking(
                resource=r,
                resource_key=r.key,
                exclusive=True,
                start=start + timedelta(hours=i),
                end=start + timedelta(hours=i, minutes=30),
            )
            for r in resources
            for i in range(per_resource)
        )


class TestQueryCounts:
    @pytest.mark.parametrize(
        ("url", "query"),
        [
            (BOOKINGS, {"limit": "500"}),
            (CALENDAR, {"from": "2026-04-01T00:00Z", "to": "2026-05-01T00:00Z"}),
            (RESOURCES, {}),
        ],
    )
    def test_constant_whatever_the_length(
        self, viewer_client: Client, tenant_a: Organization, url: str, query: dict[str, str]
    ) -> None:
        with tenant_context(tenant_a):
            resources = [Resource.objects.create(kind="room", name=f"R{i}", timezone="UTC") for i in range(2)]
        _seed(tenant_a, resources, 2)
        with CaptureQueriesContext(connection) as few:
            small = viewer_client.get(url, query)
        with tenant_context(tenant_a):
            resources += [
                Resource.objects.create(kind="room", name=f"S{i}", timezone="UTC") for i in range(5)
            ]
        _seed(tenant_a, resources, 20, day=10)
        with CaptureQueriesContext(connection) as many:
            large = viewer_client.get(url, query)

        assert small.status_code == large.status_code == 200
        assert small.content != large.content
        assert len(many.captured_queries) == len(few.captured_queries), [
            q["sql"][:120] for q in many.captured_queries
        ]

    def test_free_slot_search_is_constant(
        self, viewer_client: Client, tenant_a: Organization, room: Resource
    ) -> None:
        query = {
            "resource": str(room.id),
            "from": "2026-04-01T00:00Z",
            "to": "2026-06-01T00:00Z",
            "duration": "15",
        }
        _seed(tenant_a, [room], 3, day=20)
        with CaptureQueriesContext(connection) as few:
            assert viewer_client.get("/api/v1/scheduling/availability", query).status_code == 200
        _seed(tenant_a, [room], 300, day=1)
        with CaptureQueriesContext(connection) as many:
            assert viewer_client.get("/api/v1/scheduling/availability", query).status_code == 200
        assert len(many.captured_queries) == len(few.captured_queries)
