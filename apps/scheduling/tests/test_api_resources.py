"""``/api/v1/scheduling/resources``: CRUD, roles, bad input and another organization's ids."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.entities.models import Entity
from apps.scheduling.models import Resource
from apps.scheduling.tests.helpers import RESOURCES, assert_error, book, counts, patch, post
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def test_create_read_list_update_delete(
    admin_client: Client, viewer_client: Client, entity_a: Entity
) -> None:
    body = {
        "kind": "staff",
        "name": "Dr. Who",
        "timezone": "America/New_York",
        "capacity": 3,
        "entity_id": str(entity_a.id),
    }
    created = post(admin_client, RESOURCES, body)
    assert created.status_code == 201, created.content
    resource = created.json()
    assert {k: resource[k] for k in body} == body
    url = f"{RESOURCES}/{resource['id']}"

    assert viewer_client.get(url).json() == resource
    assert viewer_client.get(RESOURCES).json()["items"] == [resource]
    assert viewer_client.get(RESOURCES, {"kind": "room"}).json() == {
        "items": [],
        "count": 0,
        "count_exact": True,
        "next": None,
    }

    updated = patch(admin_client, url, {"name": "Dr. Who 2", "capacity": 1, "entity_id": None})
    assert updated.status_code == 200, updated.content
    assert (updated.json()["name"], updated.json()["capacity"], updated.json()["entity_id"]) == (
        "Dr. Who 2",
        1,
        None,
    )

    assert admin_client.delete(url).status_code == 204
    assert_error(viewer_client.get(url), 404, "resource_not_found")
    assert viewer_client.get(RESOURCES).json()["count"] == 0


def test_capacity_defaults_to_one(admin_client: Client) -> None:
    created = post(admin_client, RESOURCES, {"kind": "room", "name": "R", "timezone": "UTC"})
    assert created.json()["capacity"] == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone_unknown"),
        ({"timezone": "../../etc/passwd"}, "timezone_unknown"),
        ({"timezone": ""}, "timezone_unknown"),
        ({"capacity": 0}, None),
        ({"capacity": "many"}, None),
        ({"name": "   "}, None),
        ({"kind": "Not A Kind"}, None),
        ({"entity_id": "00000000-0000-4000-8000-000000000000"}, None),
    ],
)
def test_bad_input_writes_nothing(
    admin_client: Client, tenant_a: Organization, body: dict[str, Any], code: str | None
) -> None:
    before = counts(tenant_a)
    response = post(
        admin_client, RESOURCES, {"kind": "room", "name": "R", "timezone": "Europe/Berlin", **body}
    )
    assert response.status_code in (404, 422), response.content
    assert_error(response, response.status_code, code)
    assert counts(tenant_a) == before


def test_roles(member_client: Client, viewer_client: Client, room: Resource) -> None:
    body = {"kind": "room", "name": "R", "timezone": "UTC"}
    assert_error(post(member_client, RESOURCES, body), 403, "role_required")
    assert_error(patch(member_client, f"{RESOURCES}/{room.id}", {"name": "X"}), 403)
    assert_error(viewer_client.delete(f"{RESOURCES}/{room.id}"), 403)
    assert viewer_client.get(f"{RESOURCES}/{room.id}").status_code == 200


def test_another_organizations_resource_is_not_found(
    client_for: Any, tenant_b: Organization, room: Resource, tenant_a: Organization
) -> None:
    admin_b = client_for(tenant_b, ["admin"])
    url = f"{RESOURCES}/{room.id}"
    before = counts(tenant_a)
    assert_error(admin_b.get(url), 404, "resource_not_found")
    assert_error(patch(admin_b, url, {"name": "Stolen"}), 404, "resource_not_found")
    assert_error(admin_b.delete(url), 404, "resource_not_found")
    assert admin_b.get(RESOURCES).json() == {"items": [], "count": 0, "count_exact": True, "next": None}
    assert counts(tenant_a) == before


def test_entity_of_another_organization_is_refused(
    client_for: Any, tenant_b: Organization, entity_a: Entity
) -> None:
    response = post(
        client_for(tenant_b, ["admin"]),
        RESOURCES,
        {"kind": "room", "name": "R", "timezone": "UTC", "entity_id": str(entity_a.id)},
    )
    assert_error(response, 404, "entity_not_found")


def test_delete_is_refused_while_upcoming_bookings_exist(admin_client: Client, room: Resource) -> None:
    booking = book(admin_client, room, "2999-01-01T10:00Z", "2999-01-01T11:00Z").json()
    assert_error(admin_client.delete(f"{RESOURCES}/{room.id}"), 409, "resource_in_use")
    admin_client.post(f"/api/v1/scheduling/bookings/{booking['id']}/cancel")
    assert admin_client.delete(f"{RESOURCES}/{room.id}").status_code == 204


def test_capacity_cannot_drop_below_what_is_booked(admin_client: Client, desk_pool: Resource) -> None:
    url = f"{RESOURCES}/{desk_pool.id}"
    book(admin_client, desk_pool, "2026-05-04T10:00Z", "2026-05-04T12:00Z")
    book(admin_client, desk_pool, "2026-05-04T11:00Z", "2026-05-04T13:00Z")
    assert_error(patch(admin_client, url, {"capacity": 1}), 409, "resource_in_use")
    assert patch(admin_client, url, {"capacity": 5}).status_code == 200
    assert patch(admin_client, url, {"capacity": 2}).status_code == 200


def test_capacity_one_makes_the_constraint_guard_existing_bookings(
    admin_client: Client, desk_pool: Resource
) -> None:
    url = f"{RESOURCES}/{desk_pool.id}"
    book(admin_client, desk_pool, "2026-05-04T10:00Z", "2026-05-04T11:00Z")
    book(admin_client, desk_pool, "2026-05-04T11:00Z", "2026-05-04T12:00Z")
    assert patch(admin_client, url, {"capacity": 1}).json()["capacity"] == 1
    assert_error(
        book(admin_client, desk_pool, "2026-05-04T10:30Z", "2026-05-04T10:45Z"), 409, "booking_conflict"
    )
    assert patch(admin_client, url, {"capacity": 2}).status_code == 200
    assert book(admin_client, desk_pool, "2026-05-04T10:30Z", "2026-05-04T10:45Z").status_code == 201


def test_null_for_a_required_field_is_refused(admin_client: Client, room: Resource) -> None:
    assert_error(patch(admin_client, f"{RESOURCES}/{room.id}", {"name": None}), 422)
