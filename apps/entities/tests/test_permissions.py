"""Object permissions: restricted entities, grants and revokes (django-guardian, per organization)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context
from guardian.models import UserObjectPermission

from apps.audit.models import AuditEntry
from apps.entities import services
from apps.entities.models import Entity
from apps.entities.tests.helpers import (
    DEFAULT_SUB,
    JSON,
    URL,
    assert_error,
    detail_url,
    relations_url,
    tenant_state,
)
from apps.members.services import member_seen
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db

OTHER_SUB = uuid.UUID(int=0x0E1)


def permissions_url(entity_id: Any) -> str:
    return f"{URL}{entity_id}/permissions"


def _grants(tenant: Organization) -> list[tuple[str, str, str]]:
    with tenant_context(tenant):
        return sorted(
            (str(g.user_id), g.permission.codename, g.object_pk)
            for g in UserObjectPermission.objects.select_related("permission")
        )


def _restrict(tenant: Organization, entity: Entity, actor: User) -> Entity:
    with tenant_context(tenant):
        return services.entity_update(actor=actor, entity=entity, changes={"restricted": True})


def _grant(tenant: Organization, entity: Entity, actor: User, user_id: uuid.UUID, permission: str) -> None:
    with tenant_context(tenant):
        services.entity_permission_grant(actor=actor, entity=entity, user_id=user_id, permission=permission)


@pytest.fixture
def other_user(db: None) -> User:
    """A second mirrored user of organization A (no role of its own in these tests beyond its token)."""
    user, _ = User.objects.get_or_create(id=OTHER_SUB, defaults={"email": "other@alpha.example.com"})
    return user


@pytest.fixture(autouse=True)
def _seen_on_a(tenant_a: Organization, actor: User, other_user: User) -> None:
    """Both users have made a request on A: only a user of the organization can be granted anything."""
    with tenant_context(tenant_a):
        for user in (actor, other_user):
            member_seen(tenant=tenant_a, user_id=user.id)


@pytest.fixture
def restricted_a(tenant_a: Organization, entity_a: Entity, actor: User) -> Entity:
    return _restrict(tenant_a, entity_a, actor)


class TestGrantEndpoint:
    def test_admin_grants_lists_and_revokes(
        self, admin_client: Client, tenant_a: Organization, restricted_a: Entity, other_user: User
    ) -> None:
        body = {"user_id": str(other_user.id), "permission": "view"}
        response = admin_client.post(permissions_url(restricted_a.id), body, content_type=JSON)

        assert response.status_code == 201, response.content
        assert response.json() == {
            "user_id": str(other_user.id),
            "email": other_user.email,
            "permission": "view",
        }
        listed = admin_client.get(permissions_url(restricted_a.id)).json()
        assert listed == {"items": [response.json()], "count": 1, "count_exact": True, "next": None}

        revoked = admin_client.delete(
            f"{permissions_url(restricted_a.id)}?user_id={other_user.id}&permission=view"
        )

        assert revoked.status_code == 204
        assert _grants(tenant_a) == []
        assert admin_client.get(permissions_url(restricted_a.id)).json() == {
            "items": [],
            "count": 0,
            "count_exact": True,
            "next": None,
        }

    def test_grant_and_revoke_are_audited_on_the_entity(
        self, admin_client: Client, tenant_a: Organization, restricted_a: Entity, other_user: User
    ) -> None:
        body = {"user_id": str(other_user.id), "permission": "change"}
        admin_client.post(permissions_url(restricted_a.id), body, content_type=JSON)
        admin_client.delete(f"{permissions_url(restricted_a.id)}?user_id={other_user.id}&permission=change")

        with tenant_context(tenant_a):
            entries = list(
                AuditEntry.objects.filter(
                    object_pk=str(restricted_a.id), changes__has_key="permission"
                ).order_by("id")
            )
        assert [(e.action, e.changes) for e in entries] == [
            (AuditEntry.Action.CREATE, {"permission": [None, "change"], "user": [None, str(other_user.id)]}),
            (AuditEntry.Action.DELETE, {"permission": ["change", None], "user": [str(other_user.id), None]}),
        ]
        assert all(e.object_type == "entities.entity" and e.actor_id == DEFAULT_SUB for e in entries)

    def test_granting_twice_is_200_and_changes_nothing(
        self, admin_client: Client, tenant_a: Organization, restricted_a: Entity, other_user: User
    ) -> None:
        body = {"user_id": str(other_user.id), "permission": "view"}
        admin_client.post(permissions_url(restricted_a.id), body, content_type=JSON)
        before = _grants(tenant_a)

        response = admin_client.post(permissions_url(restricted_a.id), body, content_type=JSON)

        assert response.status_code == 200
        assert _grants(tenant_a) == before

    @pytest.mark.parametrize("role", ["member", "viewer"])
    def test_only_admins(
        self, client_for: Any, tenant_a: Organization, restricted_a: Entity, other_user: User, role: str
    ) -> None:
        client = client_for(tenant_a, [role])
        body = {"user_id": str(other_user.id), "permission": "view"}

        assert_error(client.get(permissions_url(restricted_a.id)), 403, "role_required")
        assert_error(
            client.post(permissions_url(restricted_a.id), body, content_type=JSON), 403, "role_required"
        )
        url = f"{permissions_url(restricted_a.id)}?user_id={other_user.id}&permission=view"
        assert_error(client.delete(url), 403, "role_required")
        assert _grants(tenant_a) == []


class TestBadInput:
    def test_unknown_user_is_422(
        self, admin_client: Client, tenant_a: Organization, restricted_a: Entity
    ) -> None:
        body = {"user_id": str(uuid.uuid4()), "permission": "view"}

        assert_error(
            admin_client.post(permissions_url(restricted_a.id), body, content_type=JSON), 422, "user_unknown"
        )
        assert _grants(tenant_a) == []

    @pytest.mark.parametrize("permission", ["admin", "view_entity", "", "VIEW", None, 1, ["view"]])
    def test_bad_permission_is_422(
        self,
        admin_client: Client,
        tenant_a: Organization,
        restricted_a: Entity,
        other_user: User,
        permission: Any,
    ) -> None:
        body = {"user_id": str(other_user.id), "permission": permission}

        assert_error(admin_client.post(permissions_url(restricted_a.id), body, content_type=JSON), 422)
        assert _grants(tenant_a) == []

    @pytest.mark.parametrize("user_id", ["nope", "", None, 12])
    def test_malformed_user_id_is_422(
        self, admin_client: Client, tenant_a: Organization, restricted_a: Entity, user_id: Any
    ) -> None:
        body = {"user_id": user_id, "permission": "view"}

        assert_error(admin_client.post(permissions_url(restricted_a.id), body, content_type=JSON), 422)

    def test_unknown_entity_is_404(self, admin_client: Client, other_user: User) -> None:
        body = {"user_id": str(other_user.id), "permission": "view"}

        assert_error(
            admin_client.post(permissions_url(uuid.uuid4()), body, content_type=JSON), 404, "entity_not_found"
        )
        assert_error(admin_client.get(permissions_url(uuid.uuid4())), 404, "entity_not_found")

    def test_revoke_needs_both_query_params(
        self, admin_client: Client, restricted_a: Entity, other_user: User
    ) -> None:
        assert_error(admin_client.delete(f"{permissions_url(restricted_a.id)}?user_id={other_user.id}"), 422)
        assert_error(admin_client.delete(f"{permissions_url(restricted_a.id)}?permission=view"), 422)
        url = f"{permissions_url(restricted_a.id)}?user_id={other_user.id}&permission=own"
        assert_error(admin_client.delete(url), 422)

    def test_revoking_what_is_not_granted_is_404(
        self, admin_client: Client, tenant_a: Organization, restricted_a: Entity, other_user: User
    ) -> None:
        url = f"{permissions_url(restricted_a.id)}?user_id={other_user.id}&permission=view"

        assert_error(admin_client.delete(url), 404, "grant_not_found")
        url = f"{permissions_url(restricted_a.id)}?user_id={uuid.uuid4()}&permission=view"
        assert_error(admin_client.delete(url), 422, "user_unknown")


class TestRestrictedEntity:
    def test_invisible_without_a_grant(
        self, member_client: Client, admin_client: Client, restricted_a: Entity, other_a: Entity
    ) -> None:
        ids = [item["id"] for item in member_client.get(URL).json()["items"]]
        assert ids == [str(other_a.id)]
        assert member_client.get(URL).json()["count"] == 1
        assert_error(member_client.get(detail_url(restricted_a.id)), 404, "entity_not_found")
        assert_error(
            member_client.patch(detail_url(restricted_a.id), {"name": "X"}, content_type=JSON),
            404,
            "entity_not_found",
        )
        assert_error(member_client.delete(detail_url(restricted_a.id)), 404, "entity_not_found")
        assert_error(member_client.get(relations_url(restricted_a.id)), 404, "entity_not_found")
        body = {"target_id": str(other_a.id), "kind": "owns"}
        assert_error(member_client.post(relations_url(restricted_a.id), body, content_type=JSON), 404)

        # Admins see everything.
        assert admin_client.get(detail_url(restricted_a.id)).json()["restricted"] is True
        assert admin_client.get(URL).json()["count"] == 2

    def test_a_miss_on_a_restricted_entity_is_not_audited(
        self, member_client: Client, tenant_a: Organization, restricted_a: Entity
    ) -> None:
        member_client.get(detail_url(restricted_a.id))

        with tenant_context(tenant_a):
            assert not AuditEntry.objects.filter(
                action=AuditEntry.Action.ACCESS, object_pk=str(restricted_a.id)
            ).exists()

    def test_view_grant_reads_but_does_not_write(
        self, member_client: Client, tenant_a: Organization, restricted_a: Entity, actor: User
    ) -> None:
        _grant(tenant_a, restricted_a, actor, DEFAULT_SUB, "view")

        assert member_client.get(detail_url(restricted_a.id)).status_code == 200
        assert [item["id"] for item in member_client.get(URL).json()["items"]] == [str(restricted_a.id)]
        before = tenant_state(tenant_a)
        response = member_client.patch(detail_url(restricted_a.id), {"name": "X"}, content_type=JSON)
        assert_error(response, 403, "entity_permission_required")
        assert_error(member_client.delete(detail_url(restricted_a.id)), 403, "entity_permission_required")
        assert tenant_state(tenant_a) == before

    def test_change_grant_patches_with_the_member_role_only(
        self,
        client_for: Any,
        member_client: Client,
        tenant_a: Organization,
        restricted_a: Entity,
        actor: User,
    ) -> None:
        _grant(tenant_a, restricted_a, actor, DEFAULT_SUB, "change")
        viewer = client_for(tenant_a, ["viewer"])

        assert_error(
            viewer.patch(detail_url(restricted_a.id), {"name": "X"}, content_type=JSON), 403, "role_required"
        )
        response = member_client.patch(detail_url(restricted_a.id), {"name": "Renamed"}, content_type=JSON)
        assert response.status_code == 200
        assert response.json()["name"] == "Renamed"
        assert_error(member_client.delete(detail_url(restricted_a.id)), 403, "entity_permission_required")

    def test_delete_grant_deletes(
        self, member_client: Client, tenant_a: Organization, restricted_a: Entity, actor: User
    ) -> None:
        _grant(tenant_a, restricted_a, actor, DEFAULT_SUB, "delete")

        assert member_client.delete(detail_url(restricted_a.id)).status_code == 204

    def test_a_grant_for_someone_else_gives_nothing(
        self,
        member_client: Client,
        tenant_a: Organization,
        restricted_a: Entity,
        actor: User,
        other_user: User,
    ) -> None:
        _grant(tenant_a, restricted_a, actor, other_user.id, "view")

        assert_error(member_client.get(detail_url(restricted_a.id)), 404)
        assert member_client.get(URL).json()["count"] == 0

    def test_revoke_hides_it_again(
        self,
        admin_client: Client,
        member_client: Client,
        tenant_a: Organization,
        restricted_a: Entity,
        actor: User,
    ) -> None:
        _grant(tenant_a, restricted_a, actor, DEFAULT_SUB, "view")
        assert member_client.get(detail_url(restricted_a.id)).status_code == 200

        admin_client.delete(f"{permissions_url(restricted_a.id)}?user_id={DEFAULT_SUB}&permission=view")

        assert_error(member_client.get(detail_url(restricted_a.id)), 404)

    def test_only_admins_restrict(
        self, admin_client: Client, member_client: Client, tenant_a: Organization, entity_a: Entity
    ) -> None:
        before = tenant_state(tenant_a)
        response = member_client.patch(detail_url(entity_a.id), {"restricted": True}, content_type=JSON)
        assert_error(response, 403, "role_required")
        assert tenant_state(tenant_a) == before
        assert_error(
            admin_client.patch(detail_url(entity_a.id), {"restricted": None}, content_type=JSON), 422
        )

        response = admin_client.patch(detail_url(entity_a.id), {"restricted": True}, content_type=JSON)

        assert response.status_code == 200
        assert response.json()["restricted"] is True
        assert_error(member_client.get(detail_url(entity_a.id)), 404)

    def test_relations_hide_a_restricted_other_end(
        self, member_client: Client, tenant_a: Organization, entity_a: Entity, other_a: Entity, actor: User
    ) -> None:
        with tenant_context(tenant_a):
            services.entity_relation_create(actor=actor, source=entity_a, target_id=other_a.id, kind="owns")
        assert member_client.get(relations_url(entity_a.id)).json()["count"] == 1
        _restrict(tenant_a, other_a, actor)

        assert member_client.get(relations_url(entity_a.id)).json() == {
            "items": [],
            "count": 0,
            "count_exact": True,
            "next": None,
        }
        body = {"target_id": str(other_a.id), "kind": "supplies"}
        assert_error(
            member_client.post(relations_url(entity_a.id), body, content_type=JSON), 404, "target_not_found"
        )


class TestListQueries:
    def test_one_query_whatever_the_number_of_grants(
        self, member_client: Client, tenant_a: Organization, actor: User
    ) -> None:
        def create_restricted_granted(count: int) -> None:
            with tenant_context(tenant_a):
                for number in range(count):
                    entity = services.entity_create(actor=actor, kind="asset", name=f"Asset {number}")
                    services.entity_update(actor=actor, entity=entity, changes={"restricted": True})
                    services.entity_permission_grant(
                        actor=actor, entity=entity, user_id=DEFAULT_SUB, permission="view"
                    )
                # Restricted and not granted: must stay out of the list.
                hidden = services.entity_create(actor=actor, kind="asset", name="Hidden")
                services.entity_update(actor=actor, entity=hidden, changes={"restricted": True})

        def list_queries() -> tuple[int, int]:
            with CaptureQueriesContext(connection) as queries:
                response = member_client.get(f"{URL}?limit=500")
            assert response.status_code == 200
            return len(queries), response.json()["count"]

        member_client.get(URL)  # the caller's mirror row is written on the first request
        create_restricted_granted(3)
        few = list_queries()
        create_restricted_granted(37)
        many = list_queries()

        assert few[1] == 3
        assert many[1] == 40
        assert few[0] == many[0]


class TestCrossTenant:
    def test_b_admin_cannot_touch_a_entity(
        self,
        client_for: Any,
        tenant_a: Organization,
        tenant_b: Organization,
        restricted_a: Entity,
        other_user: User,
        actor: User,
    ) -> None:
        _grant(tenant_a, restricted_a, actor, other_user.id, "view")
        b_admin = client_for(tenant_b, ["admin"], sub=str(uuid.UUID(int=0xB0B)))
        before = (_grants(tenant_a), tenant_state(tenant_a))
        body = {"user_id": str(uuid.UUID(int=0xB0B)), "permission": "view"}

        assert_error(
            b_admin.post(permissions_url(restricted_a.id), body, content_type=JSON), 404, "entity_not_found"
        )
        assert_error(b_admin.get(permissions_url(restricted_a.id)), 404, "entity_not_found")
        url = f"{permissions_url(restricted_a.id)}?user_id={other_user.id}&permission=view"
        assert_error(b_admin.delete(url), 404, "entity_not_found")
        assert (_grants(tenant_a), tenant_state(tenant_a)) == before
        assert _grants(tenant_b) == []

    def test_a_grant_in_a_gives_nothing_in_b(
        self,
        client_for: Any,
        tenant_a: Organization,
        tenant_b: Organization,
        entity_b: Entity,
        b_actor: User,
        actor: User,
        other_a: Entity,
    ) -> None:
        _restrict(tenant_b, entity_b, b_actor)
        # A grant row in A's schema naming B's entity id (as if forged), for the caller below.
        with tenant_context(tenant_a):
            grant, _ = services.entity_permission_grant(
                actor=actor, entity=other_a, user_id=DEFAULT_SUB, permission="view"
            )
            UserObjectPermission.objects.filter(pk=grant.pk).update(object_pk=str(entity_b.id))
        b_member = client_for(tenant_b, ["member"])  # same user (DEFAULT_SUB), now in B

        assert_error(b_member.get(detail_url(entity_b.id)), 404, "entity_not_found")
        assert b_member.get(URL).json()["count"] == 0
        with tenant_context(tenant_b):
            assert UserObjectPermission.objects.count() == 0
