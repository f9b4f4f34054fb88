"""Conflicts under real concurrency: many requests at once, each on its own connection, committed.

The capacity-1 case is decided by the exclusion constraint alone (the service takes no lock there);
the capacity-2 case by the resource's row lock.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import pytest
from django.db import connections
from django_tenants.utils import tenant_context

from apps.scheduling import services
from apps.scheduling.models import Booking
from apps.scheduling.tests.helpers import book
from tenants.models import Organization
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
