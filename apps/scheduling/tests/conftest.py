"""Fixtures of the scheduling tests: actors, and resources in each organization."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from apps.entities.tests.conftest import actor, b_actor, entity_a  # noqa: F401 - shared fixtures
from apps.scheduling import services
from apps.scheduling.models import Resource
from apps.scheduling.tests.helpers import weekdays
from tenants.models import Organization


@pytest.fixture
def room(tenant_a: Organization) -> Resource:
    """A capacity-1 room in Berlin, open around the clock (no weekly hours)."""
    with tenant_context(tenant_a):
        return services.resource_create(kind="room", name="Room 1", timezone="Europe/Berlin")


@pytest.fixture
def desk_pool(tenant_a: Organization) -> Resource:
    """Two desks bookable as one resource of capacity 2."""
    with tenant_context(tenant_a):
        return services.resource_create(kind="desk", name="Desks", timezone="Europe/Berlin", capacity=2)


@pytest.fixture
def office(tenant_a: Organization) -> Resource:
    """A room open Monday to Friday, 09:00-17:00 Berlin time."""
    with tenant_context(tenant_a):
        resource = services.resource_create(kind="room", name="Office", timezone="Europe/Berlin")
        return services.availability_set(resource=resource, weekly=weekdays("09:00", "17:00"), exceptions=[])


@pytest.fixture
def room_b(tenant_b: Organization) -> Resource:
    """Organization B's room."""
    with tenant_context(tenant_b):
        return services.resource_create(kind="room", name="Beta Room", timezone="America/New_York")
