"""Fixtures of the audit tests: the entities module's actors and entities, and a reader of entries."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.entities.tests.conftest import actor, b_actor, entity_a, entity_b, other_a  # noqa: F401
from tenants.models import Organization

EntriesOf = Callable[..., list[AuditEntry]]


@pytest.fixture
def entries_of() -> EntriesOf:
    """``entries_of(tenant, request_id=None)``: the tenant's entries in chain order (of one request)."""

    def reader(tenant: Organization, request_id: str | None = None) -> list[AuditEntry]:
        with tenant_context(tenant):
            entries = AuditEntry.objects.order_by("sequence")
            if request_id is not None:
                entries = entries.filter(request_id=request_id)
            return list(entries)

    return reader
