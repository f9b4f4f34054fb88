"""Privacy reaches a data subject through the entities module's one visibility rule: its callers are
admins, who see every entity; any other viewer gets a restricted entity exactly as a missing one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.entities import services as entity_services
from apps.entities.models import Entity
from apps.entities.selectors import EntityViewer
from apps.privacy.errors import SubjectNotFound
from apps.privacy.selectors import subject_export, subject_get
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def hidden(tenant_a: Organization, actor: User) -> Entity:
    with tenant_context(tenant_a):
        entity = entity_services.entity_create(actor=actor, kind="customer", name="Hidden Subject")
        entity = entity_services.entity_update(actor=actor, entity=entity, changes={"restricted": True})
        return entity_services.entity_delete(actor=actor, entity=entity)  # deleted: its data is still held


def test_a_viewer_without_a_grant_gets_it_as_a_missing_one(tenant_a: Organization, hidden: Entity) -> None:
    member = EntityViewer(user_id=uuid.uuid4())
    answers: list[Any] = []
    with tenant_context(tenant_a):
        for entity_id in (hidden.id, uuid.uuid4()):
            with pytest.raises(SubjectNotFound) as raised:
                subject_export(entity_id=entity_id, viewer=member)
            answers.append(raised.value.payload())
        assert (
            subject_get(entity_id=hidden.id, viewer=EntityViewer(user_id=uuid.uuid4(), is_admin=True))
            == hidden
        )

    assert answers[0] == answers[1]


def test_admins_export_and_erase_a_restricted_deleted_subject(admin_client: Client, hidden: Entity) -> None:
    exported = admin_client.get(f"/api/v1/privacy/subjects/{hidden.id}/export")
    erased = admin_client.post(f"/api/v1/privacy/subjects/{hidden.id}/erase")

    assert exported.status_code == 200, exported.content
    assert exported.json()["subject"]["id"] == str(hidden.id)
    assert erased.status_code == 200, erased.content
    assert erased.json()["erased_now"] is True
