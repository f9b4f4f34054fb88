"""Fixtures of the audit tests: the entities module's actors and entities, a reader of entries, and a
committed organization of its own whose trail can be tampered with as the owner role."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.entities import services
from apps.entities.tests.conftest import actor, b_actor, entity_a, entity_b, other_a  # noqa: F401
from tenants.models import Organization, User
from tenants.services import tenant_provision
from tests.helpers import owner_cursor

GAMMA_ACTOR = uuid.UUID(int=0x6A)

EntriesOf = Callable[..., list[AuditEntry]]


@pytest.fixture
def entries_of() -> EntriesOf:
    """``entries_of(tenant, request_id=None)``: the tenant's entries in chain order, then the unsealed
    ones in writing order (of one request)."""

    def reader(tenant: Organization, request_id: str | None = None) -> list[AuditEntry]:
        with tenant_context(tenant):
            entries = AuditEntry.objects.order_by("sequence", "id")
            if request_id is not None:
                entries = entries.filter(request_id=request_id)
            return list(entries)

    return reader


@pytest.fixture
def gamma(committed_db: None) -> Organization:
    """A committed organization of its own with three audited entities (its chain: entries 1-3)."""
    tenant = tenant_provision(
        organization_id=uuid.uuid4(), slug=f"gamma-{uuid.uuid4().hex[:6]}", name="Gamma", check_identity=False
    )
    creator, _ = User.objects.get_or_create(id=GAMMA_ACTOR, defaults={"email": "g@example.com"})
    with tenant_context(tenant):
        for name in ("One", "Two", "Three"):
            services.entity_create(actor=creator, kind="customer", name=name)
    return tenant


def as_owner(tenant: Organization, sql: str) -> None:
    """Run ``sql`` as the owner role with the append-only triggers off (what only the owner can do)."""
    guards = "TRIGGER audit_entry_append_only, {} TRIGGER audit_entry_no_delete"
    with owner_cursor(tenant) as cursor:
        cursor.execute(f"ALTER TABLE audit_auditentry DISABLE {guards.format('DISABLE')}")
        cursor.execute(sql)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire pending checks before the ALTER
        cursor.execute(f"ALTER TABLE audit_auditentry ENABLE {guards.format('ENABLE')}")
