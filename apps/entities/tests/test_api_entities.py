"""Create, read, partial update and soft delete through ``/api/v1/entities/``, with their audit fields."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from apps.entities.models import Entity
from apps.entities.tests.helpers import DEFAULT_SUB, JSON, URL, assert_error, detail_url, tenant_state
from tenants.models import Organization

pytestmark = pytest.mark.django_db

FULL = {
    "kind": "customer",
    "name": "  Acme AG  ",
    "reference": "C-100",
    "email": "Billing@ACME.example.COM",
    "phone": "+41 44 668 18 00",
    "attributes": {"tier": "gold", "limits": {"credit": 1000}},
    "status": "inactive",
    "tags": ["VIP", "eu", "vip"],
}


def _create(client: Client, **fields: Any) -> dict[str, Any]:
    response = client.post(URL, {"kind": "customer", "name": "Acme", **fields}, content_type=JSON)
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


class TestCreate:
    def test_returns_201_with_normalised_fields(self, member_client: Client) -> None:
        response = member_client.post(URL, FULL, content_type=JSON)

        assert response.status_code == 201
        body = response.json()
        assert uuid.UUID(body["id"])
        assert body["kind"] == "customer"
        assert body["name"] == "Acme AG"
        assert body["reference"] == "C-100"
        assert body["email"] == "Billing@acme.example.com"
        assert body["phone"] == "+41446681800"
        assert body["attributes"] == {"tier": "gold", "limits": {"credit": 1000}}
        assert body["status"] == "inactive"
        assert body["tags"] == ["vip", "eu"]
        assert body["deleted_at"] is None
        assert body["deleted_by"] is None
        # Both stamped at creation (Django reads the clock once per field: they may differ by a tick).
        created, updated = (datetime.fromisoformat(body[f]) for f in ("created_at", "updated_at"))
        assert timedelta(0) <= updated - created < timedelta(seconds=1)

    def test_persists_what_it_returns(
        self, member_client: Client, tenant_a: Organization, in_tenant: Any
    ) -> None:
        body = member_client.post(URL, FULL, content_type=JSON).json()

        with in_tenant(tenant_a):
            entity = Entity.objects.get(id=body["id"])
        assert entity.kind_id == "customer"
        assert entity.name == "Acme AG"
        assert entity.email == "Billing@acme.example.com"
        assert entity.phone == "+41446681800"
        assert entity.tags == ["vip", "eu"]
        assert entity.attributes == FULL["attributes"]

    def test_minimal_body_gets_defaults(self, member_client: Client) -> None:
        body = _create(member_client, name="Solo")

        assert body["reference"] is None
        assert body["email"] is None
        assert body["phone"] is None
        assert body["attributes"] == {}
        assert body["tags"] == []
        assert body["status"] == "active"

    @pytest.mark.parametrize("kind", ["customer", "supplier", "contact", "asset", "Supplier"])
    def test_every_builtin_kind(self, member_client: Client, kind: str) -> None:
        assert _create(member_client, kind=kind)["kind"] == kind.lower()

    def test_audit_fields_are_the_token_sub(self, client_for: Any, tenant_a: Organization) -> None:
        sub = uuid.uuid4()
        client = client_for(tenant_a, ["member"], sub=str(sub))

        body = _create(client)

        assert body["created_by"] == str(sub)
        assert body["updated_by"] == str(sub)

    def test_admin_may_create(self, admin_client: Client) -> None:
        assert _create(admin_client)["created_by"] == str(DEFAULT_SUB)

    def test_blank_reference_is_stored_as_null(self, member_client: Client) -> None:
        first = _create(member_client, reference="  ")
        second = _create(member_client, reference="")
        assert first["reference"] is None
        assert second["reference"] is None

    def test_reference_is_unique_per_kind(self, member_client: Client, tenant_a: Organization) -> None:
        _create(member_client, reference="R-1")
        before = tenant_state(tenant_a)

        response = member_client.post(
            URL, {"kind": "customer", "name": "Dup", "reference": "R-1"}, content_type=JSON
        )

        body = assert_error(response, 409, "reference_taken")
        assert "R-1" in body["detail"]
        assert tenant_state(tenant_a) == before

    def test_same_reference_in_another_kind_is_fine(self, member_client: Client) -> None:
        _create(member_client, reference="R-1")
        assert _create(member_client, kind="supplier", reference="R-1")["reference"] == "R-1"


class TestRead:
    def test_returns_the_entity(self, viewer_client: Client, entity_a: Entity) -> None:
        response = viewer_client.get(detail_url(entity_a.id))

        assert response.status_code == 200
        body = response.json()
        assert body["id"] == str(entity_a.id)
        assert body["name"] == "Acme AG"
        assert body["reference"] == "C-1"
        assert body["email"] == "billing@acme.example.com"
        assert body["phone"] == "+41446681800"
        assert body["tags"] == ["vip", "eu"]
        assert body["created_by"] == str(DEFAULT_SUB)
        assert set(body) == {
            "id", "kind", "name", "reference", "email", "phone", "attributes", "status", "tags", "restricted",
            "created_at", "updated_at", "created_by", "updated_by", "deleted_at", "deleted_by", "erased_at",
        }  # fmt: skip
        assert body["erased_at"] is None

    def test_unknown_id_is_404(self, viewer_client: Client, entity_a: Entity) -> None:
        assert_error(viewer_client.get(detail_url(uuid.uuid4())), 404, "entity_not_found")

    @pytest.mark.parametrize(
        "bad", ["not-a-uuid", "123", "AAAAAAAA-0000-4000-8000-00000000000A", "1' OR '1'='1"]
    )
    def test_bad_uuid_in_path_is_404(self, viewer_client: Client, bad: str) -> None:
        assert_error(viewer_client.get(detail_url(bad)), 404, "not_found")


class TestUpdate:
    def test_only_sent_fields_change(
        self, member_client: Client, entity_a: Entity, tenant_a: Organization, in_tenant: Any
    ) -> None:
        response = member_client.patch(detail_url(entity_a.id), {"name": "Acme Holding"}, content_type=JSON)

        assert response.status_code == 200
        body = response.json()
        assert body["name"] == "Acme Holding"
        with in_tenant(tenant_a):
            entity = Entity.objects.get(id=entity_a.id)
        assert entity.name == "Acme Holding"
        for field in ("kind_id", "reference", "email", "phone", "attributes", "status", "tags", "created_at"):
            assert getattr(entity, field) == getattr(entity_a, field), field
        assert entity.updated_at > entity_a.updated_at

    def test_every_field_may_change(self, member_client: Client, entity_a: Entity) -> None:
        changes = {
            "kind": "contact",
            "name": "Jane",
            "reference": "P-9",
            "email": "jane@example.org",
            "phone": "+1 202 456 1111",
            "attributes": {"x": [1, 2]},
            "status": "inactive",
            "tags": ["New"],
        }
        body = member_client.patch(detail_url(entity_a.id), changes, content_type=JSON).json()

        assert body["kind"] == "contact"
        assert body["name"] == "Jane"
        assert body["reference"] == "P-9"
        assert body["email"] == "jane@example.org"
        assert body["phone"] == "+12024561111"
        assert body["attributes"] == {"x": [1, 2]}
        assert body["status"] == "inactive"
        assert body["tags"] == ["new"]

    def test_null_clears_optional_fields(
        self, member_client: Client, entity_a: Entity, tenant_a: Organization, in_tenant: Any
    ) -> None:
        changes = {"reference": None, "email": None, "phone": None}
        body = member_client.patch(detail_url(entity_a.id), changes, content_type=JSON).json()

        assert body["reference"] is None
        assert body["email"] is None
        assert body["phone"] is None
        with in_tenant(tenant_a):
            entity = Entity.objects.get(id=entity_a.id)
        assert (entity.reference, entity.email, entity.phone) == (None, "", "")
        assert entity.name == "Acme AG"

    @pytest.mark.parametrize("field", ["name", "kind", "status", "attributes", "tags"])
    def test_null_required_field_is_refused(
        self, member_client: Client, entity_a: Entity, tenant_a: Organization, field: str
    ) -> None:
        before = tenant_state(tenant_a)

        response = member_client.patch(detail_url(entity_a.id), {field: None}, content_type=JSON)

        body = assert_error(response, 422)
        assert body["errors"][0]["loc"] == [field]
        assert tenant_state(tenant_a) == before

    def test_empty_patch_only_touches_audit_fields(
        self, client_for: Any, tenant_a: Organization, entity_a: Entity
    ) -> None:
        editor = uuid.uuid4()
        body = client_for(tenant_a, ["member"], sub=str(editor)).patch(
            detail_url(entity_a.id), {}, content_type=JSON
        )

        assert body.status_code == 200
        assert body.json()["name"] == "Acme AG"
        assert body.json()["updated_by"] == str(editor)
        assert body.json()["created_by"] == str(DEFAULT_SUB)

    def test_updated_by_is_the_editor(
        self, client_for: Any, tenant_a: Organization, entity_a: Entity
    ) -> None:
        editor = uuid.uuid4()
        client = client_for(tenant_a, ["member"], sub=str(editor))

        body = client.patch(detail_url(entity_a.id), {"status": "inactive"}, content_type=JSON).json()

        assert body["updated_by"] == str(editor)
        assert body["created_by"] == str(DEFAULT_SUB)

    def test_reference_taken_is_409_and_changes_nothing(
        self, member_client: Client, entity_a: Entity, tenant_a: Organization
    ) -> None:
        other = _create(member_client, reference="C-2")
        before = tenant_state(tenant_a)

        response = member_client.patch(
            detail_url(other["id"]), {"reference": "C-1", "name": "X"}, content_type=JSON
        )

        assert_error(response, 409, "reference_taken")
        assert tenant_state(tenant_a) == before

    def test_changing_kind_checks_the_reference_in_the_new_kind(
        self, member_client: Client, entity_a: Entity, tenant_a: Organization
    ) -> None:
        supplier = _create(member_client, kind="supplier", reference="C-1")
        before = tenant_state(tenant_a)

        response = member_client.patch(detail_url(supplier["id"]), {"kind": "customer"}, content_type=JSON)

        assert_error(response, 409, "reference_taken")
        assert tenant_state(tenant_a) == before

    def test_unknown_fields_are_refused_by_name(
        self, member_client: Client, entity_a: Entity, tenant_a: Organization
    ) -> None:
        forged = {
            "id": str(uuid.uuid4()),
            "created_by": str(uuid.uuid4()),
            "deleted_at": "2020-01-01T00:00:00Z",
        }
        before = tenant_state(tenant_a)

        response = member_client.patch(detail_url(entity_a.id), forged, content_type=JSON)

        body = assert_error(response, 422, "validation_error")
        assert sorted(error["loc"][0] for error in body["errors"]) == sorted(forged)
        assert {error["type"] for error in body["errors"]} == {"extra_forbidden"}
        assert tenant_state(tenant_a) == before

    def test_unknown_id_is_404(self, member_client: Client, entity_a: Entity, tenant_a: Organization) -> None:
        before = tenant_state(tenant_a)
        response = member_client.patch(detail_url(uuid.uuid4()), {"name": "X"}, content_type=JSON)
        assert_error(response, 404, "entity_not_found")
        assert tenant_state(tenant_a) == before


class TestDelete:
    def test_soft_deletes(
        self, client_for: Any, tenant_a: Organization, entity_a: Entity, in_tenant: Any
    ) -> None:
        deleter = uuid.uuid4()
        client = client_for(tenant_a, ["member"], sub=str(deleter))

        response = client.delete(detail_url(entity_a.id))

        assert response.status_code == 204
        assert response.content == b""
        with in_tenant(tenant_a):
            entity = Entity.objects.get(id=entity_a.id)  # the row stays
        assert entity.deleted_at is not None
        assert entity.deleted_by_id == deleter
        assert entity.updated_by_id == deleter
        assert entity.created_by_id == DEFAULT_SUB
        assert entity.name == "Acme AG"

    def test_deleted_entity_is_hidden_from_detail_and_list(
        self, member_client: Client, entity_a: Entity
    ) -> None:
        member_client.delete(detail_url(entity_a.id))

        assert_error(member_client.get(detail_url(entity_a.id)), 404, "entity_not_found")
        listing = member_client.get(URL).json()
        assert listing == {"items": [], "count": 0, "count_exact": True, "next": None}

    def test_deleted_entity_cannot_be_patched_or_deleted_again(
        self, member_client: Client, entity_a: Entity, tenant_a: Organization
    ) -> None:
        member_client.delete(detail_url(entity_a.id))
        before = tenant_state(tenant_a)

        assert_error(member_client.patch(detail_url(entity_a.id), {"name": "Back"}, content_type=JSON), 404)
        assert_error(member_client.delete(detail_url(entity_a.id)), 404, "entity_not_found")
        assert tenant_state(tenant_a) == before

    def test_reference_is_free_again_after_delete(self, member_client: Client, entity_a: Entity) -> None:
        member_client.delete(detail_url(entity_a.id))

        body = _create(member_client, reference="C-1")

        assert body["reference"] == "C-1"
        assert body["id"] != str(entity_a.id)

    def test_patch_to_a_freed_reference(self, member_client: Client, entity_a: Entity) -> None:
        other = _create(member_client, reference="C-2")
        member_client.delete(detail_url(entity_a.id))

        response = member_client.patch(detail_url(other["id"]), {"reference": "C-1"}, content_type=JSON)

        assert response.status_code == 200
        assert response.json()["reference"] == "C-1"

    def test_unknown_id_is_404(self, member_client: Client, entity_a: Entity, tenant_a: Organization) -> None:
        before = tenant_state(tenant_a)
        assert_error(member_client.delete(detail_url(uuid.uuid4())), 404, "entity_not_found")
        assert tenant_state(tenant_a) == before
