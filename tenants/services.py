"""Provisioning, renaming, suspending, activating and deleting organizations.

DDL runs as the owner role in one transaction: PostgreSQL's DDL is transactional, so a failure at any
step (schema, migrations, row-level security, domain) leaves no schema, domain or tenant row behind.
"""

from __future__ import annotations

import logging
import re
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction

from tenants import crypto
from tenants.ddl import tenant_schema_create, tenant_schema_drop, tenant_schema_migrate
from tenants.errors import DeleteNotConfirmed, TenantConflict, TenantInvalid
from tenants.identity import identity_organization_exists
from tenants.models import Domain, Organization
from tenants.routers import MIGRATION_ALIAS

logger = logging.getLogger(__name__)

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_SLUGS = frozenset(
    {
        "admin", "api", "app", "assets", "auth", "cdn", "docs", "ftp", "help", "hub", "identity",
        "internal", "login", "mail", "media", "platform", "public", "root", "smtp", "static",
        "status", "support", "system", "www",
    }
)  # fmt: skip
NAME_MAX_LENGTH = 200


def tenant_slug_validate(slug: str) -> str:
    if not SLUG_PATTERN.match(slug):
        raise TenantInvalid(
            "slug must be a DNS label: 1 to 63 lowercase letters, digits or hyphens, "
            "not starting or ending with a hyphen.",
            field="slug",
        )
    if slug in RESERVED_SLUGS or slug.startswith("xn--"):
        raise TenantInvalid(f"slug {slug!r} is reserved.", field="slug")
    return slug


def tenant_name_validate(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise TenantInvalid(f"name must be 1 to {NAME_MAX_LENGTH} characters.", field="name")
    return name


def tenant_provision(
    *, organization_id: uuid.UUID, slug: str, name: str, check_identity: bool = True
) -> Organization:
    """Create the organization's row, schema (migrated and under row-level security) and domain.

    ``check_identity=False`` skips asking the identity service whether the organization exists;
    only outside production.
    """
    slug, name = tenant_slug_validate(slug), tenant_name_validate(name)
    if not check_identity and settings.IS_PROD:
        raise TenantInvalid("skip_identity_check is refused in production.", field="skip_identity_check")
    if Organization.objects.filter(organization_id=organization_id).exists():
        raise TenantConflict("This organization is already provisioned.")
    if Organization.objects.filter(slug=slug).exists():
        raise TenantConflict(f"The slug {slug!r} is taken.")
    if check_identity and not identity_organization_exists(organization_id=organization_id):
        raise TenantInvalid("The identity service does not know this organization.", field="organization_id")

    tenant = Organization(
        organization_id=organization_id,
        slug=slug,
        name=name,
        schema_name=Organization.schema_name_for(organization_id),
    )
    try:
        with transaction.atomic(using=MIGRATION_ALIAS):
            tenant.save(using=MIGRATION_ALIAS)
            crypto.data_key_create(tenant.organization_id, using=MIGRATION_ALIAS)
            tenant_schema_create(tenant=tenant)
            tables = tenant_schema_migrate(tenant=tenant)
            Domain.objects.using(MIGRATION_ALIAS).create(
                domain=tenant.primary_domain, tenant=tenant, is_primary=True
            )
    except IntegrityError as exc:
        raise TenantConflict("The organization, its slug or its domain already exists.") from exc
    logger.info("provisioned organization %s (%s): %d tables secured", organization_id, slug, tables)
    return tenant


def tenant_rename(*, tenant: Organization, name: str) -> Organization:
    tenant.name = tenant_name_validate(name)
    tenant.save(update_fields=["name", "updated_at"])
    return tenant


def tenant_suspend(*, tenant: Organization) -> Organization:
    """Suspend: every request to the organization's host answers 403 ``tenant_suspended``."""
    tenant.status = Organization.Status.SUSPENDED
    tenant.save(update_fields=["status", "updated_at"])
    return tenant


def tenant_activate(*, tenant: Organization) -> Organization:
    tenant.status = Organization.Status.ACTIVE
    tenant.save(update_fields=["status", "updated_at"])
    return tenant


def tenant_delete(*, tenant: Organization, confirm: str | None) -> None:
    """Shred the organization's data keys, drop its schema with all its data, then its domains and row.

    Irreversible: without the data keys, the encrypted fields in any copy of the data (a backup, a
    replica, a dump) can no longer be read.
    """
    if confirm is None or confirm.strip().lower() != str(tenant.organization_id):
        raise DeleteNotConfirmed()
    with transaction.atomic(using=MIGRATION_ALIAS):
        crypto.data_keys_shred(tenant.organization_id, using=MIGRATION_ALIAS)
        tenant_schema_drop(tenant=tenant)
        Domain.objects.using(MIGRATION_ALIAS).filter(tenant_id=tenant.pk).delete()
        Organization.objects.using(MIGRATION_ALIAS).filter(pk=tenant.pk).delete()
    logger.info("deleted organization %s (%s)", tenant.organization_id, tenant.slug)
