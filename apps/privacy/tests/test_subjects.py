"""Data subject rights: export everything held about an entity, erase its personal data."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import ACTION_NAMES, AuditEntry
from apps.entities import services as entity_services
from apps.entities.models import Entity, EntityRelation
from apps.entities.tests.helpers import JSON, tenant_state
from apps.ledger import services as ledger
from apps.ledger.models import Account
from apps.privacy.selectors import subject_references
from apps.scheduling import services as scheduling
from apps.scheduling.models import Booking
from tenants.models import Organization, User
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

PERSONAL = ("Acme AG", "billing@acme.example.com", "+41446681800", "C-1", "gold", "vip")


def export_url(entity_id: Any) -> str:
    return f"/api/v1/privacy/subjects/{entity_id}/export"


def erase_url(entity_id: Any) -> str:
    return f"/api/v1/privacy/subjects/{entity_id}/erase"


@pytest.fixture
def related(tenant_a: Organization, actor: User, entity_a: Entity, other_a: Entity) -> EntityRelation:
    with tenant_context(tenant_a):
        return entity_services.entity_relation_create(
            actor=actor, source=entity_a, target_id=other_a.id, kind="supplies"
        )


def _entries(tenant: Organization, entity_id: Any, request_id: str) -> list[tuple[str, str]]:
    with tenant_context(tenant):
        return [
            (ACTION_NAMES[entry.action], entry.object_pk)
            for entry in AuditEntry.objects.filter(request_id=request_id).order_by("id")
        ]


# --- Export ------------------------------------------------------------------------------------------


def test_export_holds_the_entity_what_refers_to_it_and_its_history(
    admin_client: Client, tenant_a: Organization, entity_a: Entity, related: EntityRelation
) -> None:
    response = admin_client.get(export_url(entity_a.id), headers={"X-Request-ID": "req-export"})
    assert response.status_code == 200, response.content
    body = response.json()

    subject = body["subject"]
    assert (subject["type"], subject["id"]) == ("entities.entity", str(entity_a.id))
    assert subject["fields"]["email"] == "billing@acme.example.com"  # decrypted for the export
    assert subject["fields"]["phone"] == "+41446681800"
    assert subject["fields"]["attributes"] == {"tier": "gold"}
    assert "email_index" not in subject["fields"]
    assert [(row["type"], row["id"]) for row in body["related"]] == [
        ("entities.entityrelation", str(related.id))
    ]
    assert [entry["action"] for entry in body["history"]] == ["create"]  # reads are not part of it
    assert body["exported_at"]
    assert _entries(tenant_a, entity_a.id, "req-export") == [("access", str(entity_a.id))]


def test_export_of_a_soft_deleted_entity_still_holds_its_data(
    admin_client: Client, tenant_a: Organization, actor: User, entity_a: Entity
) -> None:
    with tenant_context(tenant_a):
        entity_services.entity_delete(actor=actor, entity=entity_a)
    body = admin_client.get(export_url(entity_a.id)).json()
    assert body["subject"]["fields"]["name"] == "Acme AG"
    assert body["subject"]["fields"]["deleted_at"]


def test_export_queries_do_not_grow_with_the_related_rows(
    admin_client: Client,
    tenant_a: Organization,
    actor: User,
    entity_a: Entity,
    django_assert_max_num_queries: Any,
) -> None:
    def count() -> int:
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(export_url(entity_a.id)).status_code == 200
        return len(queries)

    few = count()
    with tenant_context(tenant_a):
        for index in range(6):
            target = entity_services.entity_create(actor=actor, kind="supplier", name=f"S{index}")
            entity_services.entity_relation_create(
                actor=actor, source=entity_a, target_id=target.id, kind="supplies"
            )
    assert count() == few


def test_every_model_referring_to_an_entity_is_part_of_the_export() -> None:
    """Found from the other side: every foreign key of every model whose target is the entity, hidden
    reverse relations (``related_name="+"``) included."""
    expected = {
        (model._meta.label_lower, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is Entity
    }
    assert {("entities.entityrelation", "source"), ("entities.entityrelation", "target")} <= expected
    assert {(model._meta.label_lower, name) for model, name in subject_references()} == expected


# --- Erase -------------------------------------------------------------------------------------------


def test_erase_anonymises_personal_fields_and_keeps_the_row(
    admin_client: Client, tenant_a: Organization, entity_a: Entity, related: EntityRelation
) -> None:
    response = admin_client.post(erase_url(entity_a.id), headers={"X-Request-ID": "req-erase"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["entity_id"] == str(entity_a.id)
    assert body["erased"] is True
    assert body["erased_now"] is True
    assert body["erased_at"]

    with tenant_context(tenant_a):
        entity = Entity.objects.get(id=entity_a.id)
        assert (entity.name, entity.reference, entity.email, entity.phone) == ("[erased]", None, "", "")
        assert (entity.attributes, entity.tags, entity.email_index, entity.phone_index) == ({}, [], "", "")
        assert entity.kind_id == "customer"
        assert EntityRelation.objects.filter(id=related.id).exists()  # the relation stays
    assert _entries(tenant_a, entity_a.id, "req-erase") == [("update", str(entity_a.id))]


def test_after_erasure_no_personal_value_is_left_in_the_row_the_export_or_the_audit_trail(
    admin_client: Client, tenant_a: Organization, entity_a: Entity
) -> None:
    admin_client.patch(f"/api/v1/entities/{entity_a.id}", {"name": "Acme Renamed AG"}, content_type=JSON)
    assert admin_client.post(erase_url(entity_a.id)).status_code == 200

    export = json.dumps(admin_client.get(export_url(entity_a.id)).json())
    with tenant_context(tenant_a), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(e)::text FROM entities_entity e WHERE id = %s", [entity_a.id])
        (row,) = cursor.fetchone()
        cursor.execute("SELECT coalesce(string_agg(row_to_json(a)::text, ' '), '') FROM audit_auditentry a")
        (trail,) = cursor.fetchone()
    for value in (*PERSONAL, "Acme Renamed AG", "Acme"):
        for where, text in (("row", row), ("export", export), ("audit trail", trail)):
            assert value not in text, f"{value!r} left in the {where}"


def test_personal_fields_of_an_erased_entity_cannot_be_set_again(
    admin_client: Client, tenant_a: Organization, entity_a: Entity
) -> None:
    """Erasure is irreversible: a PATCH (even one sent before the erasure and applied after it)
    cannot put personal data back; other fields still change."""
    assert admin_client.post(erase_url(entity_a.id)).status_code == 200
    url = f"/api/v1/entities/{entity_a.id}"
    before = tenant_state(tenant_a)

    refused = admin_client.patch(url, {"name": "Back again", "status": "inactive"}, content_type=JSON)
    assert_error(refused, 409, "subject_erased")
    assert tenant_state(tenant_a) == before

    assert admin_client.patch(url, {"status": "inactive"}, content_type=JSON).status_code == 200
    with tenant_context(tenant_a):
        row = Entity.objects.get(id=entity_a.id)
    assert (row.name, row.email, row.status) == ("[erased]", "", "inactive")


def test_erase_is_idempotent(admin_client: Client, tenant_a: Organization, entity_a: Entity) -> None:
    first = admin_client.post(erase_url(entity_a.id)).json()
    before = tenant_state(tenant_a)
    again = admin_client.post(erase_url(entity_a.id), headers={"X-Request-ID": "req-again"})
    assert again.status_code == 200
    assert again.json()["erased_now"] is False
    assert again.json()["erased_at"] == first["erased_at"]
    assert tenant_state(tenant_a) == before
    assert _entries(tenant_a, entity_a.id, "req-again") == [("access", str(entity_a.id))]


def test_an_erased_email_is_no_longer_found(admin_client: Client, entity_a: Entity) -> None:
    lookup = "/api/v1/entities/?email=billing@acme.example.com"
    assert admin_client.get(lookup).json()["count"] == 1
    admin_client.post(erase_url(entity_a.id))
    assert admin_client.get(lookup).json()["count"] == 0


@pytest.mark.parametrize("make_url", [erase_url, export_url])
def test_unknown_or_foreign_subject_is_404_and_changes_nothing(
    make_url: Any, admin_client: Client, tenant_a: Organization, tenant_b: Organization, entity_b: Entity
) -> None:
    before = (tenant_state(tenant_a), tenant_state(tenant_b))
    for entity_id in (uuid.uuid4(), entity_b.id):
        call = admin_client.post if make_url is erase_url else admin_client.get
        assert_error(call(make_url(entity_id), headers={"X-Request-ID": f"req-miss-{entity_id}"}), 404)
        assert _entries(tenant_a, entity_id, f"req-miss-{entity_id}") == []
    assert (tenant_state(tenant_a), tenant_state(tenant_b)) == before
    with tenant_context(tenant_b):
        assert Entity.objects.get(id=entity_b.id).name == "Beta Secret Ltd"


@pytest.mark.parametrize("path", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g"])
def test_malformed_subject_id_is_404(admin_client: Client, path: str) -> None:
    assert_error(admin_client.post(erase_url(path)), 404)


@pytest.mark.parametrize("client_name", ["member_client", "viewer_client"])
def test_only_admins_export_or_erase(
    client_name: str, request: Any, tenant_a: Organization, entity_a: Entity
) -> None:
    client: Client = request.getfixturevalue(client_name)
    before = tenant_state(tenant_a)
    assert_error(client.get(export_url(entity_a.id)), 403)
    assert_error(client.post(erase_url(entity_a.id)), 403)
    assert tenant_state(tenant_a) == before


def test_erase_reaches_rows_of_other_modules_that_hold_personal_data(
    admin_client: Client, tenant_a: Organization, actor: User, entity_a: Entity
) -> None:
    """A booking for the entity keeps its time and resource, loses its notes; a ledger account for it
    (no personal fields) is exported and left as it is."""
    with tenant_context(tenant_a):
        room = scheduling.resource_create(kind="room", name="Room 1", timezone="UTC")
        booking = scheduling.booking_create(
            actor=actor,
            resource_id=room.id,
            start=datetime.datetime(2030, 1, 7, 10, tzinfo=datetime.UTC),
            end=datetime.datetime(2030, 1, 7, 11, tzinfo=datetime.UTC),
            entity_id=entity_a.id,
            notes="Ada Lovelace brings her analytical engine",
        )
        account = ledger.account_create(
            actor=actor, code="1100", name="Receivable", type="asset", currency="EUR", entity_id=entity_a.id
        )
    exported = admin_client.get(export_url(entity_a.id)).json()
    assert {(row["type"], row["id"]) for row in exported["related"]} == {
        ("scheduling.booking", str(booking.id)),
        ("ledger.account", str(account.id)),
    }

    body = admin_client.post(erase_url(entity_a.id)).json()
    assert body["related_rows"] == 1
    with tenant_context(tenant_a):
        kept = Booking.objects.get(id=booking.id)
        assert (kept.notes, kept.start, kept.resource_id) == ("", booking.start, room.id)
        assert Account.objects.get(id=account.id).name == "Receivable"
        trail = json.dumps(list(AuditEntry.objects.values_list("changes", "object_repr")))
    assert "Lovelace" not in trail
