"""Notifications are personal data: a data subject's export holds the notifications about it, its
erasure leaves none of their text, and the text is encrypted at rest."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from apps.entities.models import Entity
from apps.entities.services import entity_create
from apps.notifications.models import Notification
from apps.notifications.tests.conftest import RuleFactory
from apps.notifications.tests.helpers import JSON, process_last
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db

PRIVACY = "/api/v1/privacy/"


@pytest.fixture
def about(make_rule: RuleFactory, people: dict[str, User], tenant_a: Organization) -> Entity:
    """An entity of A, with the caller notified of its creation."""
    make_rule(tenant_a)
    with tenant_context(tenant_a):
        entity = entity_create(actor=people["admin"], kind="customer", name="Jane Roe")
        process_last()
    return entity


def test_the_text_is_encrypted_at_rest(about: Entity, tenant_a: Organization) -> None:
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute("SELECT title, body FROM notifications_notification")
        ((title, body),) = cursor.fetchall()
    assert "Jane Roe" not in body
    assert "Entity created" not in title


def test_export_holds_and_erasure_empties_the_subjects_notifications(
    admin_client: Client, about: Entity, tenant_a: Organization
) -> None:
    exported = admin_client.get(f"{PRIVACY}subjects/{about.id}/export")
    assert exported.status_code == 200, exported.content
    (row,) = [item for item in exported.json()["related"] if item["type"] == "notifications.notification"]
    assert "Jane Roe" in row["fields"]["body"]
    assert admin_client.post(f"{PRIVACY}subjects/{about.id}/erase", content_type=JSON).status_code == 200
    with tenant_context(tenant_a):
        (notification,) = Notification.objects.all()
    assert (notification.title, notification.body) == ("[erased]", "")
