"""The audit list shows an actor's email only for a user of this organization (issue 10, item 1, class
search: the audit actor display read the shared user mirror directly)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.entities.services import entity_create
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db

B_USER = uuid.UUID(int=0xB0B5EC)
B_EMAIL = "secret-actor@beta.example.com"
AUDIT = "/api/v1/audit/?object_type=entities.entity&action=create"


def test_an_entry_naming_another_organizations_user_shows_no_email(
    admin_client: Client, client_for: Any, tenant_a: Organization, tenant_b: Organization
) -> None:
    assert (
        client_for(tenant_b, ["member"], sub=str(B_USER), email=B_EMAIL).get("/api/v1/entities/").status_code
        == 200
    )
    admin_client.get("/api/v1/entities/")  # A's admin: a user of A
    with tenant_context(tenant_a):
        # An entry of A's trail naming B's user (as a forged or misdirected write would).
        entity_create(actor=User.objects.get(id=B_USER), kind="customer", name="By B")
        entity_create(actor=User.objects.get(id=uuid.UUID(int=0x1234)), kind="customer", name="By A")

    response = admin_client.get(AUDIT)

    assert response.status_code == 200, response.content
    actors = {item["actor"]["id"]: item["actor"]["email"] for item in response.json()["items"]}
    assert actors == {str(B_USER): None, str(uuid.UUID(int=0x1234)): "someone@example.com"}
    assert B_EMAIL.encode() not in response.content
