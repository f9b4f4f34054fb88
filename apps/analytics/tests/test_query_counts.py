"""Statements per request of the analytics reads: the same for a small and a ten times larger
organization (the rollups are read, never the base tables). The counts include the request's fixed
machinery (``tests.query_counts``)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.analytics.tests.conftest import ANALYTICS, actor_get, business_create, posting
from apps.ledger.models import Account
from apps.scheduling.models import Resource
from tenants.models import Organization
from tests.query_counts import statements

pytestmark = pytest.mark.django_db

READS = [
    ("dashboard", {"from": "2026-03-01", "to": "2026-03-31"}),
    ("timeseries", {"metric": "bookings.count", "interval": "day", "from": "2025-04-01", "to": "2026-03-31"}),
    (
        "timeseries",
        {
            "metric": "ledger.income",
            "currency": "EUR",
            "interval": "week",
            "from": "2026-01-01",
            "to": "2026-03-31",
        },
    ),
    (
        "timeseries",
        {"metric": "entities.created", "interval": "month", "from": "2026-01-01", "to": "2026-12-31"},
    ),
]


def _grow(tenant: Organization, times: int) -> None:
    """Ten times the business: more accounts' postings, resources, bookings and entities."""
    for _ in range(times):
        with tenant_context(tenant):
            cash, revenue = Account.objects.get(code="1000"), Account.objects.get(code="4000")
            for day in range(1, 28):
                posting(actor_get(), cash, revenue, "1.00", date(2026, 3, day))


@pytest.mark.parametrize(("path", "params"), READS)
def test_reads_cost_the_same_whatever_the_size(
    viewer_client: Client, tenant_a: Organization, path: str, params: dict[str, Any]
) -> None:
    business_create(tenant_a)
    viewer_client.get(ANALYTICS + path, params)  # first request: content-type cache warmed, not measured
    _, small = statements(lambda: viewer_client.get(ANALYTICS + path, params))
    _grow(tenant_a, 3)
    with tenant_context(tenant_a):
        Resource.objects.bulk_create(Resource(kind="room", name=f"R{i}", timezone="UTC") for i in range(20))
    response, large = statements(lambda: viewer_client.get(ANALYTICS + path, params))
    assert response.status_code == 200
    assert len(small) == len(large), "\n".join(q[:100] for q in [*small, "----", *large])
    # Route, savepoint, user mirror, membership, release; the setting; the audit entry; the reads.
    assert len(large) <= 20
