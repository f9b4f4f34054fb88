"""Statements per request of the privacy module's list and writes (issue 12): the retention list costs
the same for any page size (and after a cursor); a write a fixed number, erasure and export whatever
the number of rows linked to the subject. The counts include the request's fixed machinery
(``tests.query_counts``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from apps.entities import services as entity_services
from apps.entities.models import Entity
from apps.scheduling.models import Booking, Resource
from tenants.models import Organization, User
from tests.query_counts import assert_statements, statements

pytestmark = pytest.mark.django_db

PRIVACY = "/api/v1/privacy/"
JSON = "application/json"
# Route, savepoint, user mirror, membership, release: what every request of these tests sends.
MACHINERY = 5


def _subject(tenant: Organization, actor: User, in_tenant: Any, bookings: int) -> Entity:
    """An entity with ``bookings`` bookings (whose notes are personal) linked to it."""
    with in_tenant(tenant):
        entity = entity_services.entity_create(
            actor=actor, kind="customer", name="Subject", email="s@example.com", phone="+41 44 668 18 00"
        )
        room = Resource.objects.create(kind="room", name=f"Room {bookings}", timezone="UTC", entity=entity)
        start = datetime(2026, 4, 1, 9, tzinfo=UTC)
        Booking.objects.bulk_create(
            Booking(
                resource=room,
                resource_key=room.key,
                exclusive=True,
                start=start + timedelta(days=day),
                end=start + timedelta(days=day, minutes=30),
                entity=entity,
                notes=f"personal {day}",
            )
            for day in range(bookings)
        )
    return entity


def test_retention_list(admin_client: Client) -> None:
    for model in ("entities.entity", "scheduling.resource"):
        assert (
            admin_client.put(f"{PRIVACY}retention/{model}", {"days": 30}, content_type=JSON).status_code
            == 200
        )
    admin_client.get(f"{PRIVACY}retention")  # warm
    first, one = statements(lambda: admin_client.get(f"{PRIVACY}retention", {"limit": 1}))
    _, two = statements(lambda: admin_client.get(f"{PRIVACY}retention", {"limit": 2}))
    cursor = first.json()["next"]
    _, after = statements(lambda: admin_client.get(f"{PRIVACY}retention", {"limit": 1, "cursor": cursor}))
    assert len(one) == len(two) == len(after) == MACHINERY + 3  # page, count, audit entry


def test_retention_writes(admin_client: Client) -> None:
    admin_client.put(f"{PRIVACY}retention/scheduling.resource", {"days": 7}, content_type=JSON)  # warm
    url = f"{PRIVACY}retention/entities.entity"
    assert_statements(
        lambda: admin_client.put(url, {"days": 30}, content_type=JSON), MACHINERY + 7, status=200
    )
    assert_statements(
        lambda: admin_client.put(url, {"days": 60}, content_type=JSON), MACHINERY + 5, status=200
    )
    assert_statements(lambda: admin_client.delete(url), MACHINERY + 5, status=204)


@pytest.mark.parametrize("bookings", [2, 20])
def test_erasure_and_export_cost_the_same_for_any_number_of_linked_rows(
    admin_client: Client, tenant_a: Organization, actor: User, in_tenant: Any, bookings: int
) -> None:
    warm = _subject(tenant_a, actor, in_tenant, 1)
    admin_client.get(f"{PRIVACY}subjects/{warm.id}/export")
    admin_client.post(f"{PRIVACY}subjects/{warm.id}/erase")
    subject = _subject(tenant_a, actor, in_tenant, bookings)
    exported = assert_statements(
        lambda: admin_client.get(f"{PRIVACY}subjects/{subject.id}/export"), MACHINERY + 12, status=200
    )  # one statement per referring model: deliveries and notifications (issue 14) included
    assert len(exported.json()["related"]) == bookings + 1  # the bookings and the resource
    assert_statements(
        lambda: admin_client.post(f"{PRIVACY}subjects/{subject.id}/erase"), MACHINERY + 9, status=200
    )  # a locked read per model with personal fields: deliveries and notifications (issue 14) too
    with in_tenant(tenant_a):
        assert set(Booking.objects.filter(entity=subject).values_list("notes", flat=True)) == {""}
    assert_statements(
        lambda: admin_client.post(f"{PRIVACY}subjects/{subject.id}/erase"), MACHINERY + 4, status=200
    )
