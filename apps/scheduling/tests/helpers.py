"""Constants and helpers shared by the scheduling tests."""

from __future__ import annotations

from datetime import time
from typing import Any

from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.scheduling.availability import WeeklyHours
from apps.scheduling.models import AvailabilityException, AvailabilityRule, Booking, BookingSeries, Resource
from tenants.models import Organization
from tests.helpers import assert_error  # noqa: F401 - re-exported for the module's tests

BASE = "/api/v1/scheduling/"
RESOURCES = f"{BASE}resources"
BOOKINGS = f"{BASE}bookings"
SERIES = f"{BASE}series"
AVAILABILITY = f"{BASE}availability"
CALENDAR = f"{BASE}calendar"
JSON = "application/json"


def weekdays(start: str, end: str) -> list[WeeklyHours]:
    """Monday to Friday from ``start`` to ``end`` (HH:MM)."""
    return [
        WeeklyHours(weekday=day, start=time.fromisoformat(start), end=time.fromisoformat(end))
        for day in range(5)
    ]


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=body, content_type=JSON)


def patch(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.patch(url, data=body, content_type=JSON)


def book(client: Client, resource: Any, start: str, end: str, **extra: Any) -> Any:
    """POST a booking of ``resource`` (a Resource or an id)."""
    resource_id = str(getattr(resource, "id", resource))
    return post(client, BOOKINGS, {"resource_id": resource_id, "start": start, "end": end, **extra})


def counts(tenant: Organization) -> dict[str, int]:
    """Rows of every scheduling table and audit entries: equal counts mean nothing was written."""
    with tenant_context(tenant):
        return {
            model.__name__: model.objects.count()
            for model in (Resource, Booking, BookingSeries, AvailabilityRule, AvailabilityException)
        } | {"changes": AuditEntry.objects.exclude(action=AuditEntry.Action.ACCESS).count()}
