"""Conflicts under real concurrency: many requests at once, each on its own connection, committed.

The capacity-1 case is decided by the exclusion constraint alone (the service takes no lock there);
the capacity-2 case by the resource's row lock. The staged races (``tests.helpers.staged``) check that
every write re-reads its row under its lock: a delete, a cancel or a replacement that committed while
another request was under way wins, and is never undone by a stale copy written back.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import connections
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.scheduling import selectors, services
from apps.scheduling.availability import DateException, WeeklyHours
from apps.scheduling.errors import BookingConflict, ResourceInUse, ResourceNotFound
from apps.scheduling.models import Booking, Resource
from apps.scheduling.tests.helpers import BOOKINGS, assert_error, book, patch, weekdays
from tenants.models import Organization, User
from tenants.services import tenant_provision
from tests.helpers import staged

WORKERS = 50


@pytest.fixture
def gamma(committed_db: None) -> Organization:
    """A committed organization of its own (``committed_db`` deletes it afterwards)."""
    return tenant_provision(
        organization_id=uuid.uuid4(), slug=f"sched-{uuid.uuid4().hex[:6]}", name="Gamma", check_identity=False
    )


def _fire(client_for: Any, tenant: Organization, resource_id: uuid.UUID, starts: list[str]) -> Counter[int]:
    """One booking request per start, all released at once from their own threads; the statuses."""
    barrier, statuses, errors = threading.Barrier(len(starts)), Counter[int](), []
    clients = [client_for(tenant, ["member"], sub=str(uuid.uuid4())) for _ in starts]

    def attempt(index: int) -> None:
        try:
            barrier.wait()
            start = starts[index]
            response = book(clients[index], resource_id, start, start.replace("T10:", "T11:"))
            statuses[response.status_code] += 1
            if response.status_code == 409:
                assert response.json()["conflicts"], response.content
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(len(starts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return statuses


@pytest.mark.parametrize("capacity", [1, 2])
def test_concurrent_conflicting_bookings(client_for: Any, gamma: Organization, capacity: int) -> None:
    with tenant_context(gamma):
        resource = services.resource_create(kind="room", name="Contested", timezone="UTC", capacity=capacity)
    # every request overlaps every other (starts a minute apart within the same hour)
    starts = [f"2026-06-01T10:{minute % 30:02}:00Z" for minute in range(WORKERS)]

    statuses = _fire(client_for, gamma, resource.id, starts)

    assert statuses == {201: capacity, 409: WORKERS - capacity}
    with tenant_context(gamma):
        assert Booking.objects.filter(resource_id=resource.id).count() == capacity


def _ace() -> User:
    actor, _ = User.objects.get_or_create(id=uuid.UUID(int=0xACE), defaults={"email": "ace@example.com"})
    return actor


def test_the_constraint_decides_a_race_the_check_cannot_see(gamma: Organization) -> None:
    """B checks while A's booking is not committed yet, so B's own check finds nothing; B's insert then
    waits on the exclusion constraint, which refuses it once A commits: a 409 naming A's booking."""
    actor = _ace()
    with tenant_context(gamma):
        resource = services.resource_create(kind="room", name="Raced", timezone="UTC")
    start, end = datetime(2026, 7, 1, 10, tzinfo=UTC), datetime(2026, 7, 1, 11, tzinfo=UTC)

    def book_it() -> Any:
        with tenant_context(gamma):
            return services.booking_create(actor=actor, resource_id=resource.id, start=start, end=end)

    outcome = staged(book_it, book_it)

    assert isinstance(outcome["second"], BookingConflict), outcome
    assert [c["id"] for c in outcome["second"].extra["conflicts"]] == [outcome["first"].id]
    with tenant_context(gamma):
        assert Booking.objects.filter(resource_id=resource.id).count() == 1


def test_a_booking_racing_a_resource_delete_finds_it_gone(gamma: Organization) -> None:
    """The delete checks for upcoming bookings and commits while the booking is under way: the booking
    must wait for it and answer not found, not commit on a deleted resource."""
    actor = _ace()
    with tenant_context(gamma):
        resource = services.resource_create(kind="room", name="Going", timezone="UTC")

    def delete() -> Any:
        with tenant_context(gamma):
            return services.resource_delete(resource=resource)

    def book_it() -> Any:
        with tenant_context(gamma):
            return services.booking_create(
                actor=actor,
                resource_id=resource.id,
                start=datetime(2030, 7, 1, 10, tzinfo=UTC),
                end=datetime(2030, 7, 1, 11, tzinfo=UTC),
            )

    outcome = staged(delete, book_it)
    assert isinstance(outcome["second"], ResourceNotFound), outcome
    with tenant_context(gamma):
        assert not Booking.objects.filter(resource_id=resource.id).exists()


def test_a_resource_delete_racing_a_booking_sees_it(gamma: Organization) -> None:
    """The booking is inserted, not yet committed, when the delete comes: the delete waits, then finds
    the upcoming booking and refuses."""
    actor = _ace()
    with tenant_context(gamma):
        resource = services.resource_create(kind="room", name="Staying", timezone="UTC")

    def book_it() -> Any:
        with tenant_context(gamma):
            return services.booking_create(
                actor=actor,
                resource_id=resource.id,
                start=datetime(2030, 7, 1, 10, tzinfo=UTC),
                end=datetime(2030, 7, 1, 11, tzinfo=UTC),
            )

    def delete() -> Any:
        with tenant_context(gamma):
            return services.resource_delete(resource=resource)

    outcome = staged(book_it, delete)
    assert isinstance(outcome["second"], ResourceInUse), outcome
    with tenant_context(gamma):
        assert Resource.objects.get(id=resource.id).deleted_at is None
        assert Booking.objects.filter(resource_id=resource.id).count() == 1


def _booking_trail(tenant: Organization, booking_id: uuid.UUID) -> list[dict[str, Any]]:
    with tenant_context(tenant):
        return list(
            AuditEntry.objects.filter(object_type="scheduling.booking", object_pk=str(booking_id))
            .exclude(action=AuditEntry.Action.ACCESS)
            .order_by("id")
            .values_list("changes", flat=True)
        )


def _booked(tenant: Organization, actor: User, *, status: str) -> Booking:
    """A committed booking of a new room of ``tenant``, 2030-07-01 10:00-11:00 UTC."""
    with tenant_context(tenant):
        resource = services.resource_create(kind="room", name="Raced", timezone="UTC")
        return services.booking_create(
            actor=actor,
            resource_id=resource.id,
            start=datetime(2030, 7, 1, 10, tzinfo=UTC),
            end=datetime(2030, 7, 1, 11, tzinfo=UTC),
            status=status,
        )


@pytest.mark.parametrize(
    "body", [{"notes": "late edit"}, {"status": "tentative"}, {"end": "2030-07-01T11:30Z"}]
)
def test_a_patch_racing_a_cancel_does_not_undo_it(
    client_for: Any, gamma: Organization, body: dict[str, Any]
) -> None:
    """The cancel commits while the PATCH has read the booking (still confirmed) and waits to write:
    the PATCH must find it cancelled (409), not write its stale copy back over the cancel."""
    actor, member = _ace(), client_for(gamma, ["member"], sub=str(uuid.uuid4()))
    booking = _booked(gamma, actor, status="confirmed")

    def cancel() -> Any:
        with tenant_context(gamma):
            return services.booking_cancel(actor=actor, booking=booking)

    def edit() -> Any:
        return patch(member, f"{BOOKINGS}/{booking.id}", body)

    outcome = staged(cancel, edit)

    assert_error(outcome["second"], 409, "booking_cancelled")
    with tenant_context(gamma):
        fresh = Booking.objects.get(id=booking.id)
    assert (fresh.status, fresh.notes, fresh.end) == ("cancelled", "", booking.end)
    _created, cancelled = _booking_trail(gamma, booking.id)  # and nothing after the cancel
    assert cancelled == {"status": ["confirmed", "cancelled"]}


def test_a_cancel_racing_a_patch_cancels_the_patched_booking(client_for: Any, gamma: Organization) -> None:
    """The other order: the PATCH commits first, the cancel waits for it and cancels what it left;
    the trail holds both changes, each with its real "before"."""
    actor, member = _ace(), client_for(gamma, ["member"], sub=str(uuid.uuid4()))
    booking = _booked(gamma, actor, status="tentative")

    def edit() -> Any:
        with tenant_context(gamma):
            return services.booking_update(actor=actor, booking=booking, changes={"status": "confirmed"})

    def cancel() -> Any:
        return member.post(f"{BOOKINGS}/{booking.id}/cancel")

    outcome = staged(edit, cancel)

    assert outcome["second"].status_code == 200, outcome["second"].content
    assert outcome["second"].json()["status"] == "cancelled"
    _, edited, cancelled = _booking_trail(gamma, booking.id)
    assert edited["status"] == ["tentative", "confirmed"]
    assert cancelled == {"status": ["confirmed", "cancelled"]}


def test_concurrent_availability_replacements_leave_exactly_one(gamma: Organization) -> None:
    """Two PUTs of a resource's rules: the second waits for the first and replaces its set; before,
    each deleted only the rows it could see and the two sets were merged."""
    with tenant_context(gamma):
        resource = services.resource_create(kind="room", name="Hours", timezone="UTC")
        services.availability_set(resource=resource, weekly=weekdays("08:00", "12:00"), exceptions=[])
    first_set, second_set = weekdays("09:00", "17:00"), weekdays("10:00", "14:00")[:2]
    closed = [DateException(date=date(2030, 7, 1), closed=True, start=None, end=None)]

    def replace(weekly: list[WeeklyHours], exceptions: list[DateException]) -> Any:
        with tenant_context(gamma):
            return services.availability_set(resource=resource, weekly=weekly, exceptions=exceptions)

    outcome = staged(lambda: replace(first_set, []), lambda: replace(second_set, closed))

    assert not isinstance(outcome["second"], Exception), outcome
    with tenant_context(gamma):
        weekly, exceptions = selectors.availability_rules(resource=resource)
        assert [(w.weekday, w.start, w.end) for w in weekly] == [
            (h.weekday, h.start, h.end) for h in second_set
        ]
        assert [e.date for e in exceptions] == [date(2030, 7, 1)]
        *_, first, second = AuditEntry.objects.filter(object_pk=str(resource.id)).order_by("id")
    assert second.changes["weekly"][0] == first.changes["weekly"][1]  # its "before" is the first's set
