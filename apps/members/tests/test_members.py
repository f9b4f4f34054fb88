"""The users seen on an organization: recorded by authenticated requests, the only door to the shared
user mirror from tenant code (``organization_user_get``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.entities.models import Entity
from apps.entities.services import entity_create
from apps.members.errors import MemberNotFound
from apps.members.models import Member
from apps.members.selectors import organization_user_email, organization_user_get, organization_users
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db

A_USER = uuid.UUID(int=0x1234)  # conftest.make_token's default ``sub``
B_USER = uuid.UUID(int=0xB0B)
ENTITIES = "/api/v1/entities/"


def _members(tenant: Organization) -> set[uuid.UUID]:
    with tenant_context(tenant):
        return set(Member.objects.values_list("user_id", flat=True))


def test_a_request_records_the_caller_on_its_own_organization_only(
    client_for: Any, tenant_a: Organization, tenant_b: Organization
) -> None:
    assert client_for(tenant_a, ["viewer"]).get(ENTITIES).status_code == 200
    assert client_for(tenant_b, ["viewer"], sub=str(B_USER)).get(ENTITIES).status_code == 200

    assert A_USER in _members(tenant_a)
    assert B_USER not in _members(tenant_a)
    assert B_USER in _members(tenant_b)
    assert A_USER not in _members(tenant_b)
    with tenant_context(tenant_a):
        member = Member.objects.get(user_id=A_USER)
        assert member.first_seen_at <= member.last_seen_at


def test_a_refused_request_records_nothing(client_for: Any, tenant_a: Organization) -> None:
    # Authenticated but short of the role: no sighting (and nothing for a token of another org).
    assert (
        client_for(tenant_a, ["viewer"]).post(ENTITIES, {}, content_type="application/json").status_code
        == 403
    )
    assert client_for(tenant_a, ["admin"], tenant_id=str(uuid.uuid4())).get(ENTITIES).status_code == 403

    assert _members(tenant_a) == set()


def test_sightings_are_cached_not_written_per_request(
    client_for: Any, tenant_a: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for(tenant_a, ["viewer"])
    with django_capture_on_commit_callbacks(execute=True):
        client.get(ENTITIES)
    with CaptureQueriesContext(connection) as queries:
        client.get(ENTITIES)

    assert not [query for query in queries if "members_member" in query["sql"]]


def test_a_second_sighting_keeps_first_seen_and_moves_last_seen(
    client_for: Any, tenant_a: Organization
) -> None:
    client = client_for(tenant_a, ["viewer"])
    client.get(ENTITIES)
    with tenant_context(tenant_a):
        first = Member.objects.get(user_id=A_USER)
    client.get(ENTITIES)  # no commit in this test: the cache does not remember the first one

    with tenant_context(tenant_a):
        second = Member.objects.get(user_id=A_USER)
    assert (second.id, second.first_seen_at) == (first.id, first.first_seen_at)
    assert second.last_seen_at >= first.last_seen_at


class TestOrganizationUserGet:
    @pytest.fixture
    def seen(self, client_for: Any, tenant_a: Organization, tenant_b: Organization) -> None:
        client_for(tenant_a, ["viewer"]).get(ENTITIES)
        client_for(tenant_b, ["viewer"], sub=str(B_USER), email="secret@beta.example.com").get(ENTITIES)

    def test_finds_a_user_of_this_organization(self, seen: None, tenant_a: Organization) -> None:
        with tenant_context(tenant_a):
            assert organization_user_get(user_id=A_USER).id == A_USER
            assert list(organization_users().values_list("id", flat=True)) == [A_USER]

    def test_another_organizations_user_is_exactly_a_missing_one(
        self, seen: None, tenant_a: Organization
    ) -> None:
        assert User.objects.filter(id=B_USER).exists()  # in the shared mirror, seen on B
        answers = []
        for user_id in (B_USER, uuid.uuid4()):
            with (
                tenant_context(tenant_a),
                CaptureQueriesContext(connection) as queries,
                pytest.raises(MemberNotFound) as raised,
            ):
                organization_user_get(user_id=user_id)
            answers.append((raised.value.payload(), raised.value.status, len(queries)))

        assert answers[0] == answers[1]
        assert answers[0][2] == 1  # one query, whatever the id


def test_a_user_column_shows_only_emails_of_this_organizations_users(
    client_for: Any, tenant_a: Organization, tenant_b: Organization
) -> None:
    client_for(tenant_a, ["member"], email="alice@alpha.example.com").get(ENTITIES)
    client_for(tenant_b, ["viewer"], sub=str(B_USER), email="secret@beta.example.com").get(ENTITIES)

    with tenant_context(tenant_a):
        # Rows of A naming a user: one by A's member, one (forged) by B's user.
        for actor in (A_USER, B_USER):
            entity_create(actor=User.objects.get(id=actor), kind="customer", name=f"By {actor}")
        emails = Entity.objects.annotate(creator=organization_user_email("created_by_id")).values_list(
            "created_by_id", "creator"
        )

        assert dict(emails) == {A_USER: "alice@alpha.example.com", B_USER: None}
