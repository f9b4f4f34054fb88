"""Reads of the public schema: organizations, routing, and the platform's audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db.models import QuerySet

from apps.audit.selectors import CHAIN_BATCH, ChainHead, ChainReport, ChainSource, audit_chain_verify
from tenants.errors import TenantNotFound
from tenants.models import Domain, Organization, PlatformAuditEntry

# The platform trail for ``audit_chain_verify``: its table, and the digest its trigger computes
# (tenants migration 0005).
PLATFORM_CHAIN = ChainSource(
    table="public.tenants_platformauditentry", digest="public.platform_audit_entry_digest"
)


def tenant_list() -> QuerySet[Organization]:
    return Organization.objects.order_by("slug")


def tenant_get(*, organization_id: uuid.UUID) -> Organization:
    try:
        return Organization.objects.get(organization_id=organization_id)
    except Organization.DoesNotExist:
        raise TenantNotFound("No organization has this id.") from None


def tenant_for_host(*, host: str) -> Organization | None:
    """The organization served at ``host`` (already lower-cased, without port), if any."""
    domain = Domain.objects.select_related("tenant").filter(domain=host).first()
    return domain.tenant if domain else None


def platform_audit_list(
    *, organization_id: uuid.UUID | None = None, action: str | None = None, before: int | None = None
) -> QuerySet[PlatformAuditEntry]:
    """The platform's audit entries, newest first, optionally of one organization or one action, and
    only those numbered below ``before`` (the keyset cursor of a page)."""
    entries = PlatformAuditEntry.objects.all()
    if before is not None:
        entries = entries.filter(sequence__lt=before)
    if organization_id is not None:
        entries = entries.filter(organization_id=organization_id)
    if action is not None:
        entries = entries.filter(action=action)
    return entries.order_by("-sequence")


def platform_audit_verify(
    anchor: ChainHead | None = None,
    *,
    batch: int = CHAIN_BATCH,
    on_batch: Callable[[int, int], None] | None = None,
) -> ChainReport:
    """Walk the platform's audit chain as the tenant trail's is walked (``audit_chain_verify``: in
    batches of ``batch`` entries, ``on_batch`` after each)."""
    return audit_chain_verify(anchor, chain=PLATFORM_CHAIN, batch=batch, on_batch=on_batch)
