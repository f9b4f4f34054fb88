"""Fixtures of the analytics tests: a small business in organization A (and one in B, with the same
names and codes) written through the modules' own services, so the rollup triggers run as in production."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import pytest
from django_tenants.utils import tenant_context

from apps.entities.services import entity_create
from apps.ledger import services as ledger
from apps.ledger.models import Account
from apps.scheduling.models import AvailabilityRule, Resource
from apps.scheduling.services.bookings import booking_create
from apps.scheduling.services.resources import resource_create
from tenants.models import Organization, User

ANALYTICS = "/api/v1/analytics/"


@dataclass(frozen=True)
class Business:
    cash: Account
    revenue: Account
    rent: Account
    room: Resource


def actor_get() -> User:
    user, _ = User.objects.get_or_create(id=uuid.UUID(int=0xA11), defaults={"email": "analyst@example.com"})
    return user


def posting(actor: User, debit: Account, credit: Account, amount: str, day: date, **extra: object) -> object:
    return ledger.transaction_create(
        actor=actor,
        description="t",
        currency=debit.currency,
        effective_date=day,
        postings=[
            {"account_id": debit.id, "amount": amount},
            {"account_id": credit.id, "amount": f"-{amount}"},
        ],
        **extra,
    )


def business_create(tenant: Organization) -> Business:
    """Accounts (cash, revenue, rent in EUR), a room open 09:00-17:00 Berlin time on weekdays, March
    2026: income 100 on the 2nd and 50 on the 30th, rent 30 on the 15th, two bookings, two customers."""
    with tenant_context(tenant):
        actor = actor_get()
        cash = ledger.account_create(actor=actor, code="1000", name="Cash", type="asset", currency="EUR")
        revenue = ledger.account_create(
            actor=actor, code="4000", name="Revenue", type="income", currency="EUR"
        )
        rent = ledger.account_create(actor=actor, code="6000", name="Rent", type="expense", currency="EUR")
        posting(actor, cash, revenue, "100.00", date(2026, 3, 2))
        posting(actor, cash, revenue, "50.00", date(2026, 3, 30))
        posting(actor, rent, cash, "30.00", date(2026, 3, 15))
        room = resource_create(kind="room", name="Room", timezone="Europe/Berlin")
        AvailabilityRule.objects.bulk_create(
            AvailabilityRule(resource=room, weekday=day, start=time(9), end=time(17)) for day in range(5)
        )
        # 10:00-12:00 Berlin on Monday 2 March (CET) and 10:00-11:00 on Monday 30 March (CEST).
        booking_create(
            actor=actor,
            resource_id=room.id,
            start=datetime(2026, 3, 2, 9, tzinfo=UTC),
            end=datetime(2026, 3, 2, 11, tzinfo=UTC),
        )
        booking_create(
            actor=actor,
            resource_id=room.id,
            start=datetime(2026, 3, 30, 8, tzinfo=UTC),
            end=datetime(2026, 3, 30, 9, tzinfo=UTC),
        )
        entity_create(actor=actor, kind="customer", name="Acme")
        entity_create(actor=actor, kind="customer", name="Beta", status="inactive")
        return Business(cash=cash, revenue=revenue, rent=rent, room=room)


@pytest.fixture
def business(tenant_a: Organization) -> Business:
    return business_create(tenant_a)


@pytest.fixture
def b_business(tenant_b: Organization) -> Business:
    return business_create(tenant_b)


@pytest.fixture
def berlin(tenant_a: Organization) -> None:
    with tenant_context(tenant_a):
        from apps.analytics.services import analytics_setting_update

        analytics_setting_update(actor=actor_get(), time_zone="Europe/Berlin")
