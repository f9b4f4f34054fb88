"""Grants name users of this organization only: another organization's user is exactly an unknown one
(issue 10, item 1: granting to a user id of organization B answered 201 with B's email, an unknown id
422, an oracle over every user of the platform)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context
from guardian.models import UserObjectPermission

from apps.entities.models import Entity
from apps.entities.tests.helpers import JSON, URL, assert_error
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db

B_USER = uuid.UUID(int=0xB0B5EC)
B_EMAIL = "secret-person@beta.example.com"


def _url(entity: Entity, query: str = "") -> str:
    return f"{URL}{entity.id}/permissions{query}"


@pytest.fixture
def b_user(client_for: Any, tenant_b: Organization) -> uuid.UUID:
    """A real user of organization B: mirrored in the shared table, seen on B only."""
    response = client_for(tenant_b, ["member"], sub=str(B_USER), email=B_EMAIL).get(URL)
    assert response.status_code == 200
    assert User.objects.get(id=B_USER).email == B_EMAIL
    return B_USER


def _answer(response: Any) -> tuple[int, Any]:
    return response.status_code, response.json()


def _counted(call: Any) -> tuple[tuple[int, Any], int, bytes]:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    return _answer(response), len(queries), response.content


class TestAnotherOrganizationsUser:
    def test_grant_answers_exactly_as_for_an_unknown_id(
        self, admin_client: Client, tenant_a: Organization, entity_a: Entity, b_user: uuid.UUID
    ) -> None:
        admin_client.get(URL)  # the admin's own first request (mirror rows) out of the way
        answers = []
        for user_id in (b_user, uuid.uuid4()):
            body = {"user_id": str(user_id), "permission": "view"}
            answers.append(
                _counted(lambda body=body: admin_client.post(_url(entity_a), body, content_type=JSON))
            )

        (b_answer, b_queries, b_content), (random_answer, random_queries, _) = answers
        assert b_answer == random_answer
        assert b_answer[0] == 422
        assert b_answer[1]["code"] == "user_unknown"
        assert b_queries == random_queries
        assert B_EMAIL.encode() not in b_content
        with tenant_context(tenant_a):
            assert not UserObjectPermission.objects.filter(user_id=b_user).exists()

    def test_revoke_answers_exactly_as_for_an_unknown_id(
        self, admin_client: Client, entity_a: Entity, b_user: uuid.UUID
    ) -> None:
        admin_client.get(URL)
        answers = [
            _counted(
                lambda user_id=user_id: admin_client.delete(
                    _url(entity_a, f"?user_id={user_id}&permission=view")
                ),
            )
            for user_id in (b_user, uuid.uuid4())
        ]

        assert answers[0][:2] == answers[1][:2]
        assert_error(
            admin_client.delete(_url(entity_a, f"?user_id={b_user}&permission=view")), 422, "user_unknown"
        )

    def test_a_grant_row_naming_them_is_never_listed(
        self, admin_client: Client, tenant_a: Organization, entity_a: Entity, b_user: uuid.UUID
    ) -> None:
        # A row left from before the fix (or forged): guardian's table in A's schema naming B's user.
        with tenant_context(tenant_a):
            UserObjectPermission.objects.assign_perm("view_entity", User.objects.get(id=b_user), entity_a)

        response = admin_client.get(_url(entity_a))

        assert response.status_code == 200
        assert response.json() == {"items": [], "count": 0, "count_exact": True, "next": None}
        assert B_EMAIL.encode() not in response.content
        assert str(b_user).encode() not in response.content

    def test_a_user_of_this_organization_is_granted_with_their_email(
        self, admin_client: Client, client_for: Any, tenant_a: Organization, entity_a: Entity
    ) -> None:
        colleague, email = uuid.uuid4(), "colleague@alpha.example.com"
        assert client_for(tenant_a, ["viewer"], sub=str(colleague), email=email).get(URL).status_code == 200
        body = {"user_id": str(colleague), "permission": "view"}

        granted = admin_client.post(_url(entity_a), body, content_type=JSON)

        assert _answer(granted) == (201, {"user_id": str(colleague), "email": email, "permission": "view"})
        assert admin_client.get(_url(entity_a)).json()["items"] == [granted.json()]
        assert admin_client.delete(_url(entity_a, f"?user_id={colleague}&permission=view")).status_code == 204
