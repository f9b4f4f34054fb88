"""Fixtures of the deliveries' tests: two organizations of this package's own (provisioned once per
package), a real fake receiver (``apps.deliveries.fake_receiver``) the settings point at, and a queue
emptied around each test, with the deliveries it made deleted after (the data is committed: a worker
on other connections must see it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections, transaction
from django_tenants.utils import tenant_context

from apps.deliveries.fake_receiver import FakeReceiver
from apps.deliveries.models import Delivery
from apps.deliveries.services import delivery_enqueue
from tenants.models import Organization
from tenants.services import tenant_delete, tenant_provision
from tests.jobs import jobs_clear


@pytest.fixture(scope="package")
def orgs(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[Organization, Organization]]:
    """Two organizations of these tests (committed), provisioned once for the package, deleted at its end."""
    with django_db_blocker.unblock():
        connections.close_all()  # an earlier module may have restarted the database under them
        made = tuple(
            tenant_provision(
                organization_id=uuid.uuid4(),
                slug=f"deliv-{name}-{uuid.uuid4().hex[:6]}",
                name=f"Deliveries {name}",
                check_identity=False,
            )
            for name in ("a", "b")
        )
    yield made[0], made[1]
    with django_db_blocker.unblock():
        for tenant in Organization.objects.filter(pk__in=[tenant.pk for tenant in made]):
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))


@pytest.fixture
def org_a(orgs: tuple[Organization, Organization]) -> Organization:
    return orgs[0]


@pytest.fixture
def org_b(orgs: tuple[Organization, Organization]) -> Organization:
    return orgs[1]


@pytest.fixture
def delivery_queue(orgs: tuple[Organization, Organization], django_db_blocker: Any) -> Iterator[None]:
    """Committed database access, an empty queue before and after, and none of the module's deliveries
    left after the test."""
    with django_db_blocker.unblock():
        jobs_clear()
        yield
        jobs_clear()
        for tenant in orgs:
            with tenant_context(tenant):
                Delivery.objects.all().delete()


@pytest.fixture
def receiver(settings: Any) -> Iterator[FakeReceiver]:
    """The communication and workflow services, one real local HTTP server; retries due at once."""
    fake = FakeReceiver().start()
    settings.COMMUNICATION_SERVICE_URL = fake.url
    settings.WORKFLOW_SERVICE_URL = fake.url
    settings.HUB_DELIVERY_RETRY_BASE_SECONDS = 0
    yield fake
    fake.stop()


Enqueue = Callable[..., Delivery]


@pytest.fixture
def enqueue() -> Enqueue:
    """``enqueue(tenant, **fields)``: one committed email delivery (or what ``fields`` say)."""

    def make(tenant: Organization, **fields: Any) -> Delivery:
        values: dict[str, Any] = {
            "target": "communication",
            "channel": "email",
            "recipient_user_id": uuid.uuid4(),
            "to": "ada@example.com",
            "subject": "Big payment",
            "message": "A payment of 12,000 EUR was posted.",
            "variables": {"amount": "12000.00"},
            **fields,
        }
        with tenant_context(tenant), transaction.atomic():
            return delivery_enqueue(**values)

    return make
