"""``DELETE /entities/{id}/relations/{relation_id}``, ``erased_at`` on entity JSON and the documented
body of a kind's creation (issue 13 item 4)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.entities import services
from apps.entities.models import Entity, EntityRelation
from apps.entities.tests.helpers import DEFAULT_SUB, assert_error, detail_url, relations_url
from apps.members.services import member_seen
from apps.privacy.services import subject_erase
from tenants.models import Organization, User


def relation_url(entity_id: Any, relation_id: Any) -> str:
    return f"{relations_url(entity_id)}/{relation_id}"


def _relate(tenant: Organization, actor: User, source: Entity, target: Entity, kind: str = "supplies") -> Any:
    with tenant_context(tenant):
        return services.entity_relation_create(actor=actor, source=source, target_id=target.id, kind=kind)


def _exists(tenant: Organization, relation: EntityRelation) -> bool:
    with tenant_context(tenant):
        return EntityRelation.objects.filter(id=relation.id).exists()


@pytest.fixture
def relation(tenant_a: Organization, actor: User, entity_a: Entity, other_a: Entity) -> EntityRelation:
    return _relate(tenant_a, actor, entity_a, other_a)


class TestDelete:
    def test_a_member_removes_a_relation_and_the_trail_records_it(
        self, member_client: Client, tenant_a: Organization, entity_a: Entity, relation: EntityRelation
    ) -> None:
        response = member_client.delete(relation_url(entity_a.id, relation.id))

        assert response.status_code == 204, response.content
        assert response.content == b""
        assert not _exists(tenant_a, relation)
        assert member_client.get(relations_url(entity_a.id)).json()["items"] == []
        with tenant_context(tenant_a):
            entry = AuditEntry.objects.get(object_pk=str(relation.id), action=AuditEntry.Action.DELETE)
        assert entry.object_type == "entities.entityrelation"
        assert entry.actor_id == DEFAULT_SUB
        assert entry.changes["kind"] == ["supplies", None]

    def test_deleting_twice_is_404_the_second_time(
        self, member_client: Client, entity_a: Entity, relation: EntityRelation
    ) -> None:
        assert member_client.delete(relation_url(entity_a.id, relation.id)).status_code == 204
        assert_error(member_client.delete(relation_url(entity_a.id, relation.id)), 404, "relation_not_found")

    def test_an_unknown_relation_id_is_404(self, member_client: Client, entity_a: Entity) -> None:
        assert_error(member_client.delete(relation_url(entity_a.id, uuid.uuid4())), 404, "relation_not_found")

    def test_a_relation_of_another_entity_is_404_and_stays(
        self,
        member_client: Client,
        tenant_a: Organization,
        actor: User,
        entity_a: Entity,
        other_a: Entity,
        relation: EntityRelation,
    ) -> None:
        with tenant_context(tenant_a):
            third = services.entity_create(actor=actor, kind="customer", name="Third")
        # Through the target (the relation was made from entity_a) and through an unrelated entity.
        assert_error(member_client.delete(relation_url(other_a.id, relation.id)), 404, "relation_not_found")
        assert_error(member_client.delete(relation_url(third.id, relation.id)), 404, "relation_not_found")
        assert _exists(tenant_a, relation)

    def test_a_viewer_may_not(
        self, viewer_client: Client, tenant_a: Organization, entity_a: Entity, relation: Any
    ) -> None:
        assert_error(viewer_client.delete(relation_url(entity_a.id, relation.id)), 403)
        assert _exists(tenant_a, relation)

    def test_a_restricted_source_needs_the_change_grant(
        self, member_client: Client, tenant_a: Organization, actor: User, entity_a: Entity, relation: Any
    ) -> None:
        with tenant_context(tenant_a):
            member_seen(tenant=tenant_a, user_id=actor.id)  # only a user of A can be granted anything
            services.entity_update(actor=actor, entity=entity_a, changes={"restricted": True})
            services.entity_permission_grant(
                actor=actor, entity=entity_a, user_id=DEFAULT_SUB, permission="view"
            )
        response = member_client.delete(relation_url(entity_a.id, relation.id))
        assert_error(response, 403, "entity_permission_required")
        with tenant_context(tenant_a):
            services.entity_permission_grant(
                actor=actor, entity=entity_a, user_id=DEFAULT_SUB, permission="change"
            )
        assert member_client.delete(relation_url(entity_a.id, relation.id)).status_code == 204

    def test_a_relation_to_a_target_hidden_from_the_caller_is_404(
        self,
        member_client: Client,
        tenant_a: Organization,
        actor: User,
        entity_a: Entity,
        other_a: Entity,
        relation: Any,
    ) -> None:
        with tenant_context(tenant_a):
            services.entity_update(actor=actor, entity=other_a, changes={"restricted": True})
        assert_error(member_client.delete(relation_url(entity_a.id, relation.id)), 404, "relation_not_found")
        assert _exists(tenant_a, relation)

    def test_another_organization_gets_404_for_the_entity_and_for_the_relation(
        self,
        b_member_client: Client,
        tenant_a: Organization,
        entity_a: Entity,
        entity_b: Entity,
        relation: EntityRelation,
    ) -> None:
        # A's entity and relation from B's host: the entity is not there.
        assert_error(b_member_client.delete(relation_url(entity_a.id, relation.id)), 404, "entity_not_found")
        # B's own entity with A's relation id: the relation is not there either (RLS and the filter).
        response = b_member_client.delete(relation_url(entity_b.id, relation.id))
        assert_error(response, 404, "relation_not_found")
        assert _exists(tenant_a, relation)

    def test_the_openapi_document_declares_the_operation(self, viewer_client: Client) -> None:
        paths = viewer_client.get("/api/v1/openapi.json").json()["paths"]
        operation = paths["/api/v1/entities/{entity_id}/relations/{relation_id}"]["delete"]
        assert {"204", "403", "404"} <= operation["responses"].keys()

    def test_costs_the_same_queries_whatever_the_entity_holds(
        self, member_client: Client, tenant_a: Organization, actor: User, entity_a: Entity, other_a: Entity
    ) -> None:
        first = _relate(tenant_a, actor, entity_a, other_a, kind="supplies")
        second = _relate(tenant_a, actor, entity_a, other_a, kind="owns")
        member_client.get(detail_url(entity_a.id))  # warm the route and role caches
        with CaptureQueriesContext(connection) as few:
            assert member_client.delete(relation_url(entity_a.id, first.id)).status_code == 204
        with tenant_context(tenant_a):
            for index in range(20):
                target = services.entity_create(actor=actor, kind="customer", name=f"T{index}")
                services.entity_relation_create(
                    actor=actor, source=entity_a, target_id=target.id, kind="owns"
                )
        with CaptureQueriesContext(connection) as many:
            assert member_client.delete(relation_url(entity_a.id, second.id)).status_code == 204

        assert len(many.captured_queries) == len(few.captured_queries)
        # The relation's statements: its locked read and its delete (the audit entry is counted apart).
        relation_sql = [q["sql"] for q in few.captured_queries if "entities_entityrelation" in q["sql"]]
        assert len(relation_sql) == 2, relation_sql


class TestErasedAt:
    def test_null_until_the_subject_is_erased_then_the_erasure_time(
        self, member_client: Client, tenant_a: Organization, actor: User, entity_a: Entity
    ) -> None:
        assert member_client.get(detail_url(entity_a.id)).json()["erased_at"] is None
        with tenant_context(tenant_a):
            subject_erase(actor=actor, entity_id=entity_a.id)
            erased_at = Entity.objects.get(id=entity_a.id).erased_at
        assert erased_at is not None

        body = member_client.get(detail_url(entity_a.id)).json()
        listed = member_client.get("/api/v1/entities/").json()["items"]

        assert body["erased_at"] is not None
        assert body["erased_at"].startswith(erased_at.strftime("%Y-%m-%dT%H:%M:%S"))
        assert [item["erased_at"] for item in listed if item["id"] == str(entity_a.id)] == [body["erased_at"]]
        assert body["name"] == "[erased]"


def test_the_kind_creation_body_is_documented(viewer_client: Client) -> None:
    document = viewer_client.get("/api/v1/openapi.json").json()
    body = document["paths"]["/api/v1/entities/kinds"]["post"]["requestBody"]["content"]["application/json"]
    schema = document["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]

    assert schema["description"]
    assert schema["examples"] == [{"key": "vendor", "label": "Vendor"}]
    assert schema["required"] == ["key", "label"]
    for field in ("key", "label"):
        assert schema["properties"][field]["description"], field
        assert schema["properties"][field]["examples"], field
