"""Recurring bookings: RRULE expansion on the resource's wall clock, bounds, all-or-nothing or
skip-conflicts, and edits or cancellations of one occurrence or the rest of the series."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from apps.scheduling.models import Resource
from apps.scheduling.tests.helpers import BOOKINGS, SERIES, assert_error, book, counts, patch, post
from tenants.models import Organization

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def series(
    client: Client,
    resource: Resource,
    rrule: str,
    start: str = "2026-03-23T09:00+01:00",
    end: str = "2026-03-23T10:00+01:00",
    **extra: Any,
) -> Any:
    return post(
        client, SERIES, {"resource_id": str(resource.id), "start": start, "end": end, "rrule": rrule, **extra}
    )


def _starts(body: dict[str, Any]) -> list[datetime]:
    return [datetime.fromisoformat(b["start"]) for b in body["bookings"]]


def test_weekly_series_keeps_local_time_across_dst(member_client: Client, room: Resource) -> None:
    response = series(member_client, room, "FREQ=WEEKLY;COUNT=3")
    assert response.status_code == 201, response.content
    body = response.json()
    # Berlin moves to summer time on 29 March: 09:00 local is 08:00Z before, 07:00Z after.
    assert _starts(body) == [
        datetime(2026, 3, 23, 8, tzinfo=UTC),
        datetime(2026, 3, 30, 7, tzinfo=UTC),
        datetime(2026, 4, 6, 7, tzinfo=UTC),
    ]
    assert all(s.astimezone(BERLIN).hour == 9 for s in _starts(body))
    assert {b["series_id"] for b in body["bookings"]} == {body["id"]}
    assert body["skipped"] == []
    listed = member_client.get(BOOKINGS, {"series": body["id"]}).json()
    assert listed["count"] == 3


def test_until_in_utc_is_accepted(member_client: Client, room: Resource) -> None:
    response = series(member_client, room, "RRULE:FREQ=DAILY;UNTIL=20260326T235959Z")
    assert response.status_code == 201, response.content
    assert len(response.json()["bookings"]) == 4


@pytest.mark.parametrize(
    ("rrule", "code"),
    [
        ("FREQ=WEEKLY", "rrule_unbounded"),
        ("FREQ=DAILY;INTERVAL=2", "rrule_unbounded"),
        ("FREQ=DAILY;COUNT=501", "rrule_too_long"),
        ("FREQ=MONTHLY;COUNT=14", "rrule_beyond_horizon"),
        ("FREQ=WEEKLY;UNTIL=20280101T000000Z", "rrule_beyond_horizon"),
        ("FREQ=DAILY;UNTIL=20260401", "rrule_invalid"),  # naive UNTIL with an aware start
        ("FREQ=SOMETIMES;COUNT=3", "rrule_unsupported"),
        ("FREQ=HOURLY;COUNT=3", "rrule_unsupported"),
        ("FREQ=DAILY;COUNT=3;BYSETPOS=2", "rrule_unsupported"),
        ("FREQ=DAILY;COUNT=-1", "rrule_empty"),
        ("FREQ=DAILY;COUNT=x", "rrule_invalid"),
        ("FREQ=DAILY;COUNT=3;COUNT=4", "rrule_invalid"),
        ("FREQ=DAILY;COUNT", "rrule_invalid"),
        ("FREQ=DAILY;BYDAY=XX;COUNT=3", "rrule_invalid"),
        ("FREQ=DAILY;INTERVAL=0;COUNT=3", "rrule_invalid"),
        ("FREQ=DAILY;INTERVAL=1000000000;COUNT=3", "rrule_invalid"),
        ("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY;COUNT=3", "rrule_invalid"),
        ("DTSTART:20260101T000000Z", "rrule_invalid"),
        ("FREQ=DAILY;COUNT=3;DTSTART=20260101T000000Z", "rrule_unsupported"),
        ("", "rrule_invalid"),
        # no date satisfies these: answered at once, not after dateutil searched up to the year 9999
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=2", "rrule_empty"),
        ("FREQ=DAILY;BYMONTH=4,6;BYMONTHDAY=31,-31;UNTIL=20270101T000000Z", "rrule_empty"),
        ("FREQ=MONTHLY;BYDAY=6MO;COUNT=2", "rrule_empty"),
        ("FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=1;COUNT=2", "rrule_unsupported"),
    ],
)
def test_bad_rules_are_422_and_write_nothing(
    member_client: Client, tenant_a: Organization, room: Resource, rrule: str, code: str
) -> None:
    before = counts(tenant_a)
    assert_error(series(member_client, room, rrule), 422, code)
    assert counts(tenant_a) == before


def test_occurrences_that_overlap_one_another(member_client: Client, room: Resource) -> None:
    # 24 hours from 09:00 daily: the spring-forward day starts the next one an hour early
    response = series(
        member_client, room, "FREQ=DAILY;COUNT=2", "2026-03-28T09:00+01:00", "2026-03-29T09:00+01:00"
    )
    assert_error(response, 422, "rrule_self_overlap")


def test_rare_but_possible_dates(member_client: Client, room: Resource) -> None:
    # 29 February that is a Monday: 2044 is the next; beyond the horizon, answered quickly
    response = series(member_client, room, "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;COUNT=1")
    assert_error(response, 422, "rrule_empty")
    monthly = series(member_client, room, "FREQ=MONTHLY;BYDAY=-1FR;COUNT=3")
    assert monthly.status_code == 201, monthly.content
    assert [s.day for s in _starts(monthly.json())] == [27, 24, 29]  # last Fridays of Mar, Apr, May


def test_one_conflict_rejects_the_whole_series(
    member_client: Client, tenant_a: Organization, room: Resource
) -> None:
    blocker = book(member_client, room, "2026-03-30T09:30+02:00", "2026-03-30T10:30+02:00").json()
    before = counts(tenant_a)
    body = assert_error(series(member_client, room, "FREQ=WEEKLY;COUNT=4"), 409, "booking_conflict")
    # One name and shape for the bookings in the way, as a single booking's 409; ``skipped`` as a
    # series that skips them answers.
    assert [(c["id"], c["start"], c["end"]) for c in body["conflicts"]] == [
        (blocker["id"], "2026-03-30T07:30:00Z", "2026-03-30T08:30:00Z")
    ]
    occurrence = {"start": "2026-03-30T07:00:00Z", "end": "2026-03-30T08:00:00Z", "reason": "conflict"}
    assert body["skipped"] == [{**occurrence, "conflicts": [blocker["id"]]}]
    assert counts(tenant_a) == before


def test_skip_conflicts_books_the_rest(member_client: Client, room: Resource) -> None:
    blocker = book(member_client, room, "2026-03-30T09:30+02:00", "2026-03-30T10:30+02:00").json()
    response = series(member_client, room, "FREQ=WEEKLY;COUNT=4", skip_conflicts=True)
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["bookings"]) == 3
    assert [(s["reason"], s["conflicts"]) for s in body["skipped"]] == [("conflict", [blocker["id"]])]


def test_every_occurrence_conflicting_is_409_even_when_skipping(
    member_client: Client, room: Resource
) -> None:
    assert series(member_client, room, "FREQ=DAILY;COUNT=2").status_code == 201
    assert_error(
        series(member_client, room, "FREQ=DAILY;COUNT=2", skip_conflicts=True), 409, "booking_conflict"
    )


def test_outside_availability(
    member_client: Client, admin_client: Client, tenant_a: Organization, office: Resource
) -> None:
    before = counts(tenant_a)
    daily = "FREQ=DAILY;COUNT=7"  # the weekend is closed
    body = assert_error(series(member_client, office, daily), 422, "outside_availability")
    assert [(c["reason"], c["conflicts"]) for c in body["skipped"]] == [("outside_availability", [])] * 2
    assert "conflicts" not in body
    assert counts(tenant_a) == before
    assert_error(series(member_client, office, daily, override_availability=True), 403)
    skipped = series(member_client, office, daily, skip_conflicts=True).json()
    assert (len(skipped["bookings"]), len(skipped["skipped"])) == (5, 2)


def test_admin_overrides_availability_for_a_series(admin_client: Client, office: Resource) -> None:
    response = series(admin_client, office, "FREQ=DAILY;COUNT=7", override_availability=True)
    assert response.status_code == 201, response.content
    assert len(response.json()["bookings"]) == 7


def test_shared_resource_series(member_client: Client, desk_pool: Resource) -> None:
    assert series(member_client, desk_pool, "FREQ=DAILY;COUNT=3").status_code == 201
    assert series(member_client, desk_pool, "FREQ=DAILY;COUNT=3").status_code == 201
    assert_error(series(member_client, desk_pool, "FREQ=DAILY;COUNT=3"), 409)


class TestOccurrences:
    @pytest.fixture
    def weekly(self, member_client: Client, room: Resource) -> list[dict[str, Any]]:
        body = series(member_client, room, "FREQ=WEEKLY;COUNT=4").json()
        return list(body["bookings"])

    def test_edit_one_occurrence(self, member_client: Client, weekly: list[dict[str, Any]]) -> None:
        second = weekly[1]
        moved = patch(
            member_client,
            f"{BOOKINGS}/{second['id']}",
            {"start": "2026-03-31T09:00+02:00", "end": "2026-03-31T10:00+02:00"},
        )
        assert moved.status_code == 200, moved.content
        others = [member_client.get(f"{BOOKINGS}/{b['id']}").json() for b in weekly]
        assert [o["start"] for o in others] == [
            weekly[0]["start"],
            "2026-03-31T07:00:00Z",
            weekly[2]["start"],
            weekly[3]["start"],
        ]
        assert others[1]["series_id"] == weekly[0]["series_id"]

    def test_move_this_and_following_by_the_series_period(
        self, member_client: Client, weekly: list[dict[str, Any]]
    ) -> None:
        # a shift of exactly one week puts each moved occurrence where the next one was: the constraint
        # checks the moved set as a whole, so this is no conflict
        second = weekly[1]
        url = f"{BOOKINGS}/{second['id']}?scope=following"
        moved = patch(
            member_client,
            url,
            {"start": "2026-04-06T09:00+02:00", "end": "2026-04-06T10:30+02:00", "notes": "later"},
        )
        assert moved.status_code == 200, moved.content
        after = member_client.get(BOOKINGS, {"series": weekly[0]["series_id"]}).json()["items"]
        assert [a["start"] for a in after] == [
            weekly[0]["start"],
            "2026-04-06T07:00:00Z",
            "2026-04-13T07:00:00Z",
            "2026-04-20T07:00:00Z",
        ]
        assert [a["notes"] for a in after] == ["", "later", "later", "later"]
        assert after[-1]["end"] == "2026-04-20T08:30:00Z"

    def test_move_following_onto_a_booking_is_409_and_changes_nothing(
        self, member_client: Client, room: Resource, weekly: list[dict[str, Any]]
    ) -> None:
        blocker = book(member_client, room, "2026-04-14T09:00+02:00", "2026-04-14T10:00+02:00").json()
        before = member_client.get(BOOKINGS).json()
        body = assert_error(
            patch(
                member_client,
                f"{BOOKINGS}/{weekly[1]['id']}?scope=following",
                {"start": "2026-03-31T09:00+02:00", "end": "2026-03-31T10:00+02:00"},
            ),
            409,
        )
        assert [c["id"] for c in body["conflicts"]] == [blocker["id"]]
        assert member_client.get(BOOKINGS).json() == before

    def test_cancel_one_occurrence(self, member_client: Client, weekly: list[dict[str, Any]]) -> None:
        member_client.post(f"{BOOKINGS}/{weekly[2]['id']}/cancel")
        statuses = [member_client.get(f"{BOOKINGS}/{b['id']}").json()["status"] for b in weekly]
        assert statuses == ["confirmed", "confirmed", "cancelled", "confirmed"]

    def test_cancel_this_and_following(
        self, member_client: Client, room: Resource, weekly: list[dict[str, Any]]
    ) -> None:
        response = member_client.post(f"{BOOKINGS}/{weekly[1]['id']}/cancel?scope=following")
        assert response.json()["status"] == "cancelled"
        statuses = [member_client.get(f"{BOOKINGS}/{b['id']}").json()["status"] for b in weekly]
        assert statuses == ["confirmed", "cancelled", "cancelled", "cancelled"]
        assert book(member_client, room, weekly[3]["start"], weekly[3]["end"]).status_code == 201

    def test_unknown_scope(self, member_client: Client, weekly: list[dict[str, Any]]) -> None:
        assert_error(member_client.post(f"{BOOKINGS}/{weekly[1]['id']}/cancel?scope=all"), 422)


def test_another_organizations_resource(
    b_member_client: Client, tenant_a: Organization, room: Resource
) -> None:
    before = counts(tenant_a)
    assert_error(series(b_member_client, room, "FREQ=DAILY;COUNT=3"), 404, "resource_not_found")
    assert counts(tenant_a) == before


def test_viewer_cannot_create_a_series(viewer_client: Client, room: Resource) -> None:
    assert_error(series(viewer_client, room, "FREQ=DAILY;COUNT=3"), 403)
