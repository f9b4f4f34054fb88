"""Conflicts under real concurrency: many requests at once, each on its own connection, committed.

The capacity-1 case is decided by the exclusion constraint alone (the service takes no lock there);
the capacity-2 case by the resource's row lock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connections, transaction
from django_tenants.utils import tenant_context

from apps.scheduling import services
from apps.scheduling.errors import BookingConflict, ResourceInUse, ResourceNotFound
from apps.scheduling.models import Booking, Resource
from apps.scheduling.tests.helpers import book
from tenants.models import Organization, User
from tenants.services import tenant_provision

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


def _lock_waiters() -> int:
    """Backends of this database waiting for a lock (the exclusion check waits for the other insert)."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else the transaction sees its first snapshot
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def _staged(first: Any, second: Any) -> dict[str, Any]:
    """``first`` runs in a transaction that stays open until ``second`` (started once ``first`` is
    done) waits on a lock; then it commits. Each callable's result or error is in the outcome."""
    first_done = threading.Event()
    outcome: dict[str, Any] = {}

    def run_first() -> None:
        try:
            with transaction.atomic():
                outcome["first"] = first()
                first_done.set()
                deadline = time.monotonic() + 10
                while _lock_waiters() == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
                outcome["second_waited"] = _lock_waiters() > 0
        finally:
            first_done.set()
            connections.close_all()

    def run_second() -> None:
        try:
            first_done.wait(10)
            outcome["second"] = second()
        except Exception as exc:  # the outcome the test asserts
            outcome["second"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome.get("second_waited"), "the second never waited on the first: the race was not staged"
    return outcome


def test_the_constraint_decides_a_race_the_check_cannot_see(gamma: Organization) -> None:
    """B checks while A's booking is not committed yet, so B's own check finds nothing; B's insert then
    waits on the exclusion constraint, which refuses it once A commits: a 409 naming A's booking."""
    actor, _ = User.objects.get_or_create(id=uuid.UUID(int=0xACE), defaults={"email": "ace@example.com"})
    with tenant_context(gamma):
        resource = services.resource_create(kind="room", name="Raced", timezone="UTC")
    start, end = datetime(2026, 7, 1, 10, tzinfo=UTC), datetime(2026, 7, 1, 11, tzinfo=UTC)

    def book_it() -> Any:
        with tenant_context(gamma):
            return services.booking_create(actor=actor, resource_id=resource.id, start=start, end=end)

    outcome = _staged(book_it, book_it)

    assert isinstance(outcome["second"], BookingConflict), outcome
    assert [c["id"] for c in outcome["second"].extra["conflicts"]] == [outcome["first"].id]
    with tenant_context(gamma):
        assert Booking.objects.filter(resource_id=resource.id).count() == 1


def test_a_booking_racing_a_resource_delete_finds_it_gone(gamma: Organization) -> None:
    """The delete checks for upcoming bookings and commits while the booking is under way: the booking
    must wait for it and answer not found, not commit on a deleted resource."""
    actor, _ = User.objects.get_or_create(id=uuid.UUID(int=0xACE), defaults={"email": "ace@example.com"})
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

    outcome = _staged(delete, book_it)
    assert isinstance(outcome["second"], ResourceNotFound), outcome
    with tenant_context(gamma):
        assert not Booking.objects.filter(resource_id=resource.id).exists()


def test_a_resource_delete_racing_a_booking_sees_it(gamma: Organization) -> None:
    """The booking is inserted, not yet committed, when the delete comes: the delete waits, then finds
    the upcoming booking and refuses."""
    actor, _ = User.objects.get_or_create(id=uuid.UUID(int=0xACE), defaults={"email": "ace@example.com"})
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

    outcome = _staged(book_it, delete)
    assert isinstance(outcome["second"], ResourceInUse), outcome
    with tenant_context(gamma):
        assert Resource.objects.get(id=resource.id).deleted_at is None
        assert Booking.objects.filter(resource_id=resource.id).count() == 1
