"""Fixtures of the ledger tests: actors (mirrored users) and a small chart of accounts per organization."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django_tenants.utils import tenant_context

from apps.entities.models import Entity
from apps.entities.services import entity_create
from apps.ledger import services
from apps.ledger.models import Account
from apps.ledger.tests.helpers import B_SUB, DEFAULT_SUB
from tenants.models import Organization, User
from tenants.services import tenant_provision


@pytest.fixture
def actor(db: None) -> User:
    """The mirrored user behind the default tokens; get_or_create as committed suites may have left it."""
    user, _ = User.objects.get_or_create(id=DEFAULT_SUB, defaults={"email": "someone@example.com"})
    return user


@pytest.fixture
def b_actor(db: None) -> User:
    user, _ = User.objects.get_or_create(id=B_SUB, defaults={"email": "bob@beta.example.com"})
    return user


@dataclass(frozen=True)
class Chart:
    cash: Account
    bank: Account
    revenue: Account
    dollars: Account  # in USD
    yen: Account  # in JPY (no minor units)


def chart_create(tenant: Organization, actor: User) -> Chart:
    with tenant_context(tenant):
        return Chart(
            cash=services.account_create(actor=actor, code="1000", name="Cash", type="asset", currency="EUR"),
            bank=services.account_create(actor=actor, code="1100", name="Bank", type="asset", currency="EUR"),
            revenue=services.account_create(
                actor=actor, code="4000", name="Revenue", type="income", currency="EUR"
            ),
            dollars=services.account_create(
                actor=actor, code="1200", name="Bank USD", type="asset", currency="USD"
            ),
            yen=services.account_create(
                actor=actor, code="1300", name="Bank JPY", type="asset", currency="JPY"
            ),
        )


@pytest.fixture
def chart(tenant_a: Organization, actor: User) -> Chart:
    """Organization A's accounts: cash, bank and revenue in EUR, one in USD, one in JPY."""
    return chart_create(tenant_a, actor)


@pytest.fixture
def b_chart(tenant_b: Organization, b_actor: User) -> Chart:
    return chart_create(tenant_b, b_actor)


@pytest.fixture
def entity_a(tenant_a: Organization, actor: User) -> Entity:
    """A live customer of organization A."""
    with tenant_context(tenant_a):
        return entity_create(actor=actor, kind="customer", name="Acme AG")


@pytest.fixture
def gamma(committed_db: None) -> Organization:
    """A committed organization of its own (threads with their own connections see its rows), dropped
    with its schema after the test by ``committed_db``."""
    return tenant_provision(
        organization_id=uuid.uuid4(), slug=f"gamma-{uuid.uuid4().hex[:6]}", name="Gamma", check_identity=False
    )


@pytest.fixture
def gamma_actor(committed_db: None) -> User:
    user, _ = User.objects.get_or_create(id=DEFAULT_SUB, defaults={"email": "someone@example.com"})
    return user


@pytest.fixture
def gamma_chart(gamma: Organization, gamma_actor: User) -> Chart:
    return chart_create(gamma, gamma_actor)
