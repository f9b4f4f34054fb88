"""Reads of the public schema: organizations and routing."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from tenants.errors import TenantNotFound
from tenants.models import Domain, Organization


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
