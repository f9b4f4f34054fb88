"""Scheduling's references to entities follow the entities module's one visibility rule: linking a
booking or a series to a restricted entity the caller may not see answers exactly what an id no entity
has answers, and writes nothing (issue 10, item 3)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.entities import services as entity_services
from apps.entities.models import Entity
from apps.scheduling.models import Booking, Resource
from apps.scheduling.tests.helpers import BOOKINGS, RESOURCES, SERIES, book, counts, patch, post
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db

DEFAULT_SUB = uuid.UUID(int=0x1234)  # the member's ``sub``


@pytest.fixture
def hidden(tenant_a: Organization, actor: User) -> Entity:
    with tenant_context(tenant_a):
        entity = entity_services.entity_create(actor=actor, kind="customer", name="Hidden Patient")
        return entity_services.entity_update(actor=actor, entity=entity, changes={"restricted": True})


def _same_as_unknown(tenant: Organization, hidden: Entity, request: Any) -> None:
    before = counts(tenant)
    responses = [request(entity_id) for entity_id in (str(hidden.id), str(uuid.uuid4()))]
    hidden_answer, unknown_answer = [(r.status_code, r.json()) for r in responses]

    assert hidden_answer == unknown_answer
    assert hidden_answer[0] == 404
    assert counts(tenant) == before


def test_booking_create(
    member_client: Client, tenant_a: Organization, room: Resource, hidden: Entity
) -> None:
    _same_as_unknown(
        tenant_a,
        hidden,
        lambda entity_id: book(
            member_client, room, "2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z", entity_id=entity_id
        ),
    )


def test_booking_update(
    member_client: Client, tenant_a: Organization, room: Resource, hidden: Entity
) -> None:
    created = book(member_client, room, "2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z")
    assert created.status_code == 201, created.content
    url = f"{BOOKINGS}/{created.json()['id']}"

    _same_as_unknown(tenant_a, hidden, lambda entity_id: patch(member_client, url, {"entity_id": entity_id}))
    with tenant_context(tenant_a):
        assert Booking.objects.get(id=created.json()["id"]).entity_id is None


def test_series_create(member_client: Client, tenant_a: Organization, room: Resource, hidden: Entity) -> None:
    def create(entity_id: str) -> Any:
        body = {
            "resource_id": str(room.id),
            "start": "2030-01-07T09:00:00Z",
            "end": "2030-01-07T10:00:00Z",
            "rrule": "FREQ=DAILY;COUNT=3",
            "entity_id": entity_id,
        }
        return post(member_client, SERIES, body)

    _same_as_unknown(tenant_a, hidden, create)


def test_a_grant_lets_the_member_link(
    member_client: Client, tenant_a: Organization, room: Resource, hidden: Entity, actor: User
) -> None:
    member_client.get(RESOURCES)  # the member is now a user of A, who may be granted
    with tenant_context(tenant_a):
        entity_services.entity_permission_grant(
            actor=actor, entity=hidden, user_id=DEFAULT_SUB, permission="view"
        )

    response = book(
        member_client, room, "2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z", entity_id=str(hidden.id)
    )

    assert response.status_code == 201, response.content
    assert response.json()["entity_id"] == str(hidden.id)


def test_admins_link_resources_to_it(admin_client: Client, room: Resource, hidden: Entity) -> None:
    response = patch(admin_client, f"{RESOURCES}/{room.id}", {"entity_id": str(hidden.id)})

    assert response.status_code == 200, response.content
    assert response.json()["entity_id"] == str(hidden.id)
