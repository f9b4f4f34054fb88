"""Statements per request of the members module's list and writes (issue 12): the list costs the same for
a page of 2 and of 40 (and after a cursor), a write a fixed number whatever the organization holds. The
counts include the request's fixed machinery (``tests.query_counts``)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.members.models import MemberRole
from apps.members.services import member_role_set
from tenants.models import Organization
from tests.query_counts import assert_list_constant, assert_statements

pytestmark = pytest.mark.django_db

MEMBERS = "/api/v1/members/"
JSON = "application/json"
# Route, savepoint, user mirror, membership, release: what every request of these tests sends.
MACHINERY = 5


@pytest.fixture
def members(tenant_a: Organization) -> list[uuid.UUID]:
    """45 members of organization A, of every role (five admins)."""
    users = [uuid.UUID(int=0x7000 + index) for index in range(45)]
    with tenant_context(tenant_a):
        for index, user_id in enumerate(users):
            role = (MemberRole.ADMIN, MemberRole.MEMBER, MemberRole.VIEWER)[
                index % 3 if index < 15 else 1 + index % 2
            ]
            member_role_set(actor=None, user_id=user_id, role=role, email=f"m{index}@example.com")
    return users


@pytest.mark.parametrize("params", [{}, {"role": "member"}])
def test_member_list(admin_client: Client, members: list[uuid.UUID], params: dict[str, str]) -> None:
    large = 40 if not params else 15
    count = assert_list_constant(lambda query: admin_client.get(MEMBERS, query), large=large, params=params)
    assert count == MACHINERY + 3  # page, count, audit entry


def test_member_writes(admin_client: Client, members: list[uuid.UUID]) -> None:
    admin_client.put(f"{MEMBERS}{uuid.UUID(int=0x8000)}", {"role": "viewer"}, content_type=JSON)  # warm
    newcomer = uuid.UUID(int=0x8001)
    # admins locked (one statement for all of them), the user's row and membership, write, audit entry
    assert_statements(
        lambda: admin_client.put(
            f"{MEMBERS}{newcomer}", {"role": "member", "email": "n@example.com"}, content_type=JSON
        ),
        MACHINERY + 8,
        status=200,
    )
    assert_statements(
        lambda: admin_client.put(f"{MEMBERS}{members[3]}", {"role": "admin"}, content_type=JSON),
        MACHINERY + 6,
        status=200,
    )
    assert_statements(lambda: admin_client.delete(f"{MEMBERS}{members[0]}"), MACHINERY + 6, status=204)
    assert_statements(lambda: admin_client.get(f"{MEMBERS}{members[4]}"), MACHINERY + 2, status=200)
