"""Fixtures of the notifications tests: members of each role in organization A (the caller, a viewer,
among them), a user of B, and rules made through the service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from apps.members.models import MemberRole
from apps.members.services import member_role_set
from apps.notifications import services
from apps.notifications.models import AlertRule
from apps.notifications.tests.helpers import ADMIN, B_CALLER, CALLER, MEMBER, OUTSIDER
from tenants.models import Organization, User


@pytest.fixture
def people(tenant_a: Organization, tenant_b: Organization) -> dict[str, User]:
    """A's admin, member and the token's caller (a viewer); B's caller and a user of B only."""
    found: dict[str, User] = {}
    for name, user_id, email in (
        ("admin", ADMIN, "admin@alpha.example.com"),
        ("member", MEMBER, "member@alpha.example.com"),
        ("caller", CALLER, "someone@example.com"),
        ("b_caller", B_CALLER, "bob@beta.example.com"),
        ("outsider", OUTSIDER, "out@beta.example.com"),
    ):
        found[name], _ = User.objects.get_or_create(id=user_id, defaults={"email": email})
    with tenant_context(tenant_a):
        member_role_set(actor=None, user_id=ADMIN, role=MemberRole.ADMIN, email="admin@alpha.example.com")
        member_role_set(actor=None, user_id=MEMBER, role=MemberRole.MEMBER, email="member@alpha.example.com")
        member_role_set(actor=None, user_id=CALLER, role=MemberRole.VIEWER, email="someone@example.com")
    with tenant_context(tenant_b):
        member_role_set(actor=None, user_id=B_CALLER, role=MemberRole.ADMIN, email="bob@beta.example.com")
        member_role_set(actor=None, user_id=OUTSIDER, role=MemberRole.MEMBER, email="out@beta.example.com")
    return found


RuleFactory = Callable[..., AlertRule]


@pytest.fixture
def make_rule(people: dict[str, User]) -> RuleFactory:
    """``make_rule(tenant, **fields)``: a rule made by the service (in_app to A's caller by default)."""

    def factory(tenant: Organization, **fields: Any) -> AlertRule:
        values: dict[str, Any] = {
            "name": "Watch",
            "event_type": "entity.created",
            "recipients": {"user_ids": [str(CALLER)]},
            "channels": ["in_app"],
        }
        values.update(fields)
        with tenant_context(tenant):
            return services.rule_create(actor=people["admin"], **values)

    return factory
