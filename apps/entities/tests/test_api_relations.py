"""``POST|GET /api/v1/entities/{id}/relations``: typed links between two live entities of one organization."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.entities.models import Entity, EntityRelation
from apps.entities.tests.baker_recipes import entity as entity_recipe
from apps.entities.tests.baker_recipes import relation as relation_recipe
from apps.entities.tests.helpers import JSON, assert_error, detail_url, relations_url, tenant_state
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def _relate(client: Client, source: Any, target: Any, kind: str = "supplies") -> Any:
    return client.post(relations_url(source), {"target_id": str(target), "kind": kind}, content_type=JSON)


class TestCreate:
    def test_returns_201(
        self, client_for: Any, tenant_a: Organization, entity_a: Entity, other_a: Entity, in_tenant: Any
    ) -> None:
        sub = uuid.uuid4()
        response = _relate(
            client_for(tenant_a, ["member"], sub=str(sub)), other_a.id, entity_a.id, " Supplies "
        )

        assert response.status_code == 201
        body = response.json()
        assert body["source_id"] == str(other_a.id)
        assert body["target_id"] == str(entity_a.id)
        assert body["kind"] == "supplies"
        assert body["created_by"] == str(sub)
        with in_tenant(tenant_a):
            relation = EntityRelation.objects.get(id=body["id"])
        assert (relation.source_id, relation.target_id, relation.created_by_id) == (
            other_a.id,
            entity_a.id,
            sub,
        )

    def test_self_link_is_refused(
        self, member_client: Client, entity_a: Entity, tenant_a: Organization
    ) -> None:
        before = tenant_state(tenant_a)
        body = assert_error(_relate(member_client, entity_a.id, entity_a.id), 422, "self_relation")
        assert body["errors"][0]["loc"] == ["target_id"]
        assert tenant_state(tenant_a) == before

    def test_duplicate_is_409(
        self, member_client: Client, entity_a: Entity, other_a: Entity, tenant_a: Organization
    ) -> None:
        assert _relate(member_client, entity_a.id, other_a.id).status_code == 201
        before = tenant_state(tenant_a)

        assert_error(_relate(member_client, entity_a.id, other_a.id, "SUPPLIES"), 409, "relation_exists")
        assert tenant_state(tenant_a) == before

    def test_other_kind_or_direction_is_not_a_duplicate(
        self, member_client: Client, entity_a: Entity, other_a: Entity
    ) -> None:
        assert _relate(member_client, entity_a.id, other_a.id, "supplies").status_code == 201
        assert _relate(member_client, entity_a.id, other_a.id, "owns").status_code == 201
        assert _relate(member_client, other_a.id, entity_a.id, "supplies").status_code == 201

    def test_unknown_or_deleted_target_is_404(
        self, member_client: Client, entity_a: Entity, other_a: Entity, tenant_a: Organization
    ) -> None:
        member_client.delete(detail_url(other_a.id))
        before = tenant_state(tenant_a)

        for target in (uuid.uuid4(), other_a.id):
            assert_error(_relate(member_client, entity_a.id, target), 404, "target_not_found")
        assert tenant_state(tenant_a) == before

    def test_unknown_or_deleted_source_is_404(
        self, member_client: Client, entity_a: Entity, other_a: Entity, tenant_a: Organization
    ) -> None:
        member_client.delete(detail_url(other_a.id))
        before = tenant_state(tenant_a)

        for source in (uuid.uuid4(), other_a.id):
            assert_error(_relate(member_client, source, entity_a.id), 404, "entity_not_found")
        assert tenant_state(tenant_a) == before

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"kind": "owns"},
            {"target_id": "not-a-uuid", "kind": "owns"},
            {"target_id": 12, "kind": "owns"},
            {"target_id": None, "kind": "owns"},
            {"target_id": "%(other)s"},
            {"target_id": "%(other)s", "kind": ""},
            {"target_id": "%(other)s", "kind": "has space"},
            {"target_id": "%(other)s", "kind": "x" * 41},
            {"target_id": "%(other)s", "kind": "a\u0000b"},
            {"target_id": "%(other)s", "kind": 5},
            {"target_id": "%(other)s", "kind": ["owns"]},
        ],
    )
    def test_bad_body_is_422_and_changes_nothing(
        self,
        member_client: Client,
        entity_a: Entity,
        other_a: Entity,
        tenant_a: Organization,
        body: dict[str, Any],
    ) -> None:
        payload = {
            key: value % {"other": other_a.id} if isinstance(value, str) else value
            for key, value in body.items()
        }
        before = tenant_state(tenant_a)

        assert_error(member_client.post(relations_url(entity_a.id), payload, content_type=JSON), 422)
        assert tenant_state(tenant_a) == before


class TestList:
    def test_lists_both_directions(
        self,
        viewer_client: Client,
        member_client: Client,
        entity_a: Entity,
        other_a: Entity,
        tenant_a: Organization,
        in_tenant: Any,
    ) -> None:
        with in_tenant(tenant_a):
            third = entity_recipe.make()
        out = _relate(member_client, entity_a.id, other_a.id).json()
        incoming = _relate(member_client, third.id, entity_a.id, "owns").json()
        _relate(member_client, other_a.id, third.id)  # does not involve entity_a

        body = viewer_client.get(relations_url(entity_a.id)).json()

        assert body["count"] == 2
        assert [item["id"] for item in body["items"]] == [out["id"], incoming["id"]]
        assert body["items"][1] == {**incoming}

    def test_relations_to_deleted_entities_are_hidden(
        self, member_client: Client, entity_a: Entity, other_a: Entity
    ) -> None:
        _relate(member_client, entity_a.id, other_a.id)
        _relate(member_client, other_a.id, entity_a.id)
        assert member_client.get(relations_url(entity_a.id)).json()["count"] == 2

        member_client.delete(detail_url(other_a.id))

        assert member_client.get(relations_url(entity_a.id)).json() == {
            "items": [],
            "count": 0,
            "count_exact": True,
            "next": None,
        }
        assert_error(member_client.get(relations_url(other_a.id)), 404, "entity_not_found")

    def test_unknown_entity_is_404(self, viewer_client: Client) -> None:
        assert_error(viewer_client.get(relations_url(uuid.uuid4())), 404, "entity_not_found")

    def test_bad_uuid_is_404(self, viewer_client: Client) -> None:
        assert_error(viewer_client.get(relations_url("nope")), 404, "not_found")

    def test_pagination(
        self, viewer_client: Client, entity_a: Entity, tenant_a: Organization, in_tenant: Any
    ) -> None:
        with in_tenant(tenant_a):
            relation_recipe.make(source=entity_a, _quantity=5)

        page = viewer_client.get(relations_url(entity_a.id), {"limit": 2, "offset": 4}).json()

        assert page["count"] == 5
        assert len(page["items"]) == 1
        assert_error(viewer_client.get(relations_url(entity_a.id), {"limit": 0}), 422)

    def test_constant_query_count(
        self, viewer_client: Client, entity_a: Entity, tenant_a: Organization, in_tenant: Any
    ) -> None:
        counts = []
        for quantity, limit in ((3, 2), (37, 39)):
            with in_tenant(tenant_a):
                relation_recipe.make(source=entity_a, _quantity=quantity)
            viewer_client.get(relations_url(entity_a.id), {"limit": limit})
            with CaptureQueriesContext(connection) as captured:
                body = viewer_client.get(relations_url(entity_a.id), {"limit": limit}).json()
            assert len(body["items"]) == limit
            assert body["count"] > limit
            counts.append(len(captured.captured_queries))

        assert counts[0] == counts[1]
