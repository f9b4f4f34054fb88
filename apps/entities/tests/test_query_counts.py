"""Statements per request of every list and every write of the entities module (issue 12): a list costs
the same for a page of 2 and of 40 (and after a cursor), a write a fixed number, whatever the
organization holds. The counts include the request's fixed machinery (``tests.query_counts``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from guardian.shortcuts import assign_perm

from apps.entities import services
from apps.entities.models import Entity, EntityRelation
from apps.entities.tests.helpers import JSON, KINDS_URL, URL, detail_url, relations_url
from apps.members.models import Member
from tenants.models import Organization, User
from tests.query_counts import assert_list_constant, assert_statements

pytestmark = pytest.mark.django_db

# Route, savepoint, user mirror, membership, release: what every request of these tests sends.
MACHINERY = 5


@pytest.fixture
def many(tenant_a: Organization, actor: User, in_tenant: Any) -> list[Entity]:
    """45 entities, every fifth restricted (a grant to the default user on some), related to the first."""
    with in_tenant(tenant_a):
        entities = [
            services.entity_create(
                actor=actor,
                kind=("customer", "supplier", "contact", "asset")[index % 4],
                name=f"Entity {index:02}",
                email=f"e{index}@example.com",
                phone="+41 44 668 18 00" if index % 2 else "",
                tags=["vip"] if index % 3 else [],
            )
            for index in range(45)
        ]
        Entity.objects.filter(id__in=[e.id for e in entities[::5]]).update(restricted=True)
        for entity in entities[::10]:
            assign_perm("view_entity", actor, entity)
        EntityRelation.objects.bulk_create(
            EntityRelation(source=entities[0], target=target, kind="supplies") for target in entities[1:]
        )
    return entities


@pytest.fixture
def grantees(tenant_a: Organization, many: list[Entity], in_tenant: Any) -> list[User]:
    """45 users of the organization, each granted ``view`` on the first entity."""
    users = [
        User.objects.create(id=uuid.UUID(int=0x6000 + index), email=f"u{index}@example.com")
        for index in range(45)
    ]
    with in_tenant(tenant_a):
        Member.objects.bulk_create(Member(user=user, email=user.email, role="member") for user in users)
        for user in users:
            assign_perm("view_entity", user, many[0])
    return users


@pytest.mark.parametrize("client_fixture", ["viewer_client", "admin_client"])
@pytest.mark.parametrize("params", [{}, {"ordering": "name"}, {"tag": "vip"}, {"q": "Entity"}])
def test_entity_list(
    request: pytest.FixtureRequest, many: list[Entity], client_fixture: str, params: dict[str, Any]
) -> None:
    client: Client = request.getfixturevalue(client_fixture)
    limit = 20 if params.get("tag") else 40
    count = assert_list_constant(lambda query: client.get(URL, query), large=limit, params=params)
    assert count == MACHINERY + 3  # page, count, audit entry


def test_kind_list(admin_client: Client, tenant_a: Organization, in_tenant: Any) -> None:
    for index in range(44):
        assert (
            admin_client.post(
                KINDS_URL, {"key": f"kind-{index:02}", "label": "K"}, content_type=JSON
            ).status_code
            == 201
        )
    assert assert_list_constant(lambda query: admin_client.get(KINDS_URL, query)) == MACHINERY + 3


def test_relation_list(viewer_client: Client, many: list[Entity]) -> None:
    url = relations_url(many[0].id)
    # entity, its read's audit entry buffered with the list's: page, count, one insert
    count = assert_list_constant(lambda query: viewer_client.get(url, query), large=30)
    assert count == MACHINERY + 4


def test_permission_list(admin_client: Client, many: list[Entity], grantees: list[User]) -> None:
    url = f"{detail_url(many[0].id)}/permissions"
    assert assert_list_constant(lambda query: admin_client.get(url, query)) == MACHINERY + 4


def test_entity_writes(member_client: Client, admin_client: Client, many: list[Entity]) -> None:
    body = {"kind": "customer", "name": "New", "email": "new@example.com", "phone": "+41 44 668 18 00"}
    member_client.post(URL, body, content_type=JSON)  # warm
    # kind, four data-key version checks (two values encrypted, two blind indexes), insert, audit entry,
    # the event (apps.notifications: one statement while no rule wants it), and the service's savepoints
    created = assert_statements(
        lambda: member_client.post(URL, body, content_type=JSON), MACHINERY + 12, status=201
    )
    entity_id = created.json()["id"]
    # entity, re-read locked, update, audit entry, the event, savepoints
    assert_statements(
        lambda: member_client.patch(
            detail_url(entity_id), {"name": "Renamed", "tags": ["a"]}, content_type=JSON
        ),
        MACHINERY + 9,
        status=200,
    )
    assert_statements(lambda: member_client.delete(detail_url(entity_id)), MACHINERY + 7, status=204)
    admin_client.post(KINDS_URL, {"key": "partner", "label": "Partner"}, content_type=JSON)  # warm
    assert_statements(
        lambda: admin_client.post(KINDS_URL, {"key": "vendor", "label": "Vendor"}, content_type=JSON),
        MACHINERY + 7,
        status=201,
    )


def test_restricted_entity_writes_check_the_grant_in_one_statement(
    member_client: Client, many: list[Entity], actor: User, tenant_a: Organization, in_tenant: Any
) -> None:
    restricted = many[10]  # restricted, with the default user's view grant
    with in_tenant(tenant_a):
        assign_perm("change_entity", actor, restricted)
    assert_statements(
        lambda: member_client.patch(detail_url(restricted.id), {"name": "Changed"}, content_type=JSON),
        MACHINERY + 10,  # with the event (apps.notifications)
        status=200,
    )


def test_relation_writes(member_client: Client, many: list[Entity]) -> None:
    source, targets = many[1], many[2:5]
    member_client.post(
        relations_url(source.id), {"target_id": str(targets[0].id), "kind": "owns"}, content_type=JSON
    )
    created = assert_statements(
        lambda: member_client.post(
            relations_url(source.id), {"target_id": str(targets[1].id), "kind": "owns"}, content_type=JSON
        ),
        MACHINERY + 8,
        status=201,
    )
    assert_statements(
        lambda: member_client.delete(f"{relations_url(source.id)}/{created.json()['id']}"),
        MACHINERY + 6,
        status=204,
    )


def test_permission_writes(admin_client: Client, many: list[Entity], grantees: list[User]) -> None:
    url = f"{detail_url(many[3].id)}/permissions"
    admin_client.post(url, {"user_id": str(grantees[0].id), "permission": "view"}, content_type=JSON)
    body = {"user_id": str(grantees[1].id), "permission": "change"}
    assert_statements(lambda: admin_client.post(url, body, content_type=JSON), MACHINERY + 13, status=201)
    assert_statements(lambda: admin_client.post(url, body, content_type=JSON), MACHINERY + 9, status=200)
    assert_statements(
        lambda: admin_client.delete(f"{url}?user_id={grantees[1].id}&permission=change"),
        MACHINERY + 8,
        status=204,
    )
