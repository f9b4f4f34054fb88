"""Fixtures of the entities tests: actors (mirrored users) and a few entities in each organization."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from apps.entities import services
from apps.entities.models import Entity
from apps.entities.tests.helpers import B_SUB, DEFAULT_SUB
from tenants.models import Organization, User


@pytest.fixture
def actor(db: None) -> User:
    """The mirrored user behind the default tokens (``sub`` = DEFAULT_SUB).

    get_or_create: suites that commit (``committed_db``) may have left this user in the shared table.
    """
    user, _ = User.objects.get_or_create(id=DEFAULT_SUB, defaults={"email": "someone@example.com"})
    return user


@pytest.fixture
def b_actor(db: None) -> User:
    user, _ = User.objects.get_or_create(id=B_SUB, defaults={"email": "bob@beta.example.com"})
    return user


@pytest.fixture
def entity_a(tenant_a: Organization, actor: User) -> Entity:
    """A live customer of organization A."""
    with tenant_context(tenant_a):
        return services.entity_create(
            actor=actor,
            kind="customer",
            name="Acme AG",
            reference="C-1",
            email="billing@acme.example.com",
            phone="+41 44 668 18 00",
            attributes={"tier": "gold"},
            tags=["vip", "eu"],
        )


@pytest.fixture
def other_a(tenant_a: Organization, actor: User) -> Entity:
    """A second live entity of organization A (a supplier)."""
    with tenant_context(tenant_a):
        return services.entity_create(actor=actor, kind="supplier", name="Bolt GmbH", reference="S-1")


@pytest.fixture
def entity_b(tenant_b: Organization, b_actor: User) -> Entity:
    """A live customer of organization B, with the same reference as ``entity_a``."""
    with tenant_context(tenant_b):
        return services.entity_create(actor=b_actor, kind="customer", name="Beta Secret Ltd", reference="C-1")
