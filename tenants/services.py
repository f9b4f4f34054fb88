"""Provisioning, renaming, suspending, activating and deleting organizations.

DDL runs as the owner role in one transaction: PostgreSQL's DDL is transactional, so a failure at any
step (schema, migrations, row-level security, domain) leaves no schema, domain or tenant row behind.

Every change is recorded in the platform's audit trail (``PlatformAuditEntry``) in the transaction that
makes it, on the connection that makes it: the owner's for provisioning and deletion, the runtime
role's for the rest. So a failed change leaves no entry, and a committed one always has its entry.
``actor`` is the platform admin's user id; ``None`` is the system (a command run without ``--actor``).
"""

from __future__ import annotations

import logging
import re
import uuid
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import MASK
from apps.members.services import Owner, member_owner_create
from hub.errors import UNIQUE_VIOLATION, violated_sqlstate
from hub.files import files_delete_organization
from hub.text import CONTROL_CHARACTERS
from tenants import crypto
from tenants.db import tenant_connection
from tenants.ddl import tenant_schema_create, tenant_schema_drop
from tenants.errors import (
    DeleteNotConfirmed,
    TenantConflict,
    TenantErrorCode,
    TenantInvalid,
    TenantNotFound,
)
from tenants.fleet import fleet_fingerprint, tenant_state_record
from tenants.identity import (
    IdentityMisconfigured,
    IdentityUnavailable,
    OrganizationStatus,
    identity_organization_status,
)
from tenants.models import Domain, Organization, PlatformAuditEntry
from tenants.routers import MIGRATION_ALIAS
from tenants.selectors import tenant_routes_forget
from tenants.template import tenant_schema_build

logger = logging.getLogger(__name__)

# Matched with ``fullmatch``: ``$`` would also accept a trailing newline.
SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
RESERVED_SLUGS = frozenset(
    {
        "admin", "api", "app", "assets", "auth", "cdn", "docs", "ftp", "help", "hub", "identity",
        "internal", "login", "mail", "media", "platform", "public", "root", "smtp", "static",
        "status", "support", "system", "www",
    }
)  # fmt: skip
NAME_MAX_LENGTH = 200


def tenant_slug_validate(slug: str) -> str:
    if not SLUG_PATTERN.fullmatch(slug):
        raise TenantInvalid(
            "slug must be a DNS label: 1 to 63 lowercase letters, digits or hyphens, "
            "not starting or ending with a hyphen.",
            field="slug",
        )
    if slug in RESERVED_SLUGS or slug.startswith("xn--"):
        raise TenantInvalid(f"slug {slug!r} is reserved.", field="slug")
    return slug


def tenant_name_validate(name: str) -> str:
    name = name.strip(" ")
    if not name or len(name) > NAME_MAX_LENGTH or CONTROL_CHARACTERS.search(name):
        raise TenantInvalid(f"name must be 1 to {NAME_MAX_LENGTH} printable characters.", field="name")
    return name


def platform_audit_record(
    *,
    action: PlatformAuditEntry.Action,
    organization_id: uuid.UUID,
    actor: uuid.UUID | None,
    changes: dict[str, list[Any]],
    using: str,
) -> None:
    """Append the change to the platform's trail, in the caller's transaction on ``using``.

    The organization's name is recorded only as changed (``MASK``), never its value.
    """
    PlatformAuditEntry.objects.using(using).create(
        timestamp=timezone.now(),
        actor_id=actor,
        action=action,
        organization_id=organization_id,
        changes=changes,
    )


def _routes_forget(*, using: str) -> None:
    """The hosts' routes changed: forget the cached ones now and again once the change commits (a
    request of another thread may have cached the old row meanwhile)."""
    tenant_routes_forget()
    transaction.on_commit(tenant_routes_forget, using=using)


def _tenant_lock(*, tenant: Organization, using: str = DEFAULT_DB_ALIAS) -> Organization:
    """Re-read the organization under its row lock (inside the caller's transaction)."""
    try:
        return Organization.objects.using(using).select_for_update().get(pk=tenant.pk)
    except Organization.DoesNotExist:
        raise TenantNotFound("No organization has this id.") from None


def tenant_provision(
    *,
    organization_id: uuid.UUID,
    slug: str,
    name: str,
    check_identity: bool = True,
    identity_bearer: str | None = None,
    actor: uuid.UUID | None = None,
    owner: Owner | None = None,
) -> Organization:
    """Create the organization's row, schema (migrated and under row-level security) and domain, and
    make ``owner`` (when named) its first admin, all in one transaction.

    First the identity service must confirm the organization (``IDENTITY_ORGANIZATION_CHECK``), asked
    with ``IDENTITY_SERVICE_TOKEN`` or else ``identity_bearer`` (the calling platform admin's token),
    before any transaction opens. ``check_identity=False`` skips that; only outside production.
    """
    slug, name = tenant_slug_validate(slug), tenant_name_validate(name)
    if not check_identity and settings.IS_PROD:
        raise TenantInvalid("skip_identity_check is refused in production.", field="skip_identity_check")
    if Organization.objects.filter(organization_id=organization_id).exists():
        raise TenantConflict("This organization is already provisioned.")
    if Organization.objects.filter(slug=slug).exists():
        raise TenantConflict(f"The slug {slug!r} is taken.")
    if check_identity:
        _organization_confirm(organization_id=organization_id, bearer=identity_bearer)

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
            tables = tenant_schema_build(tenant=tenant)  # a clone of the template, or migrations
            tenant_state_record(tenant=tenant, fingerprint=fleet_fingerprint())  # at the head either way
            Domain.objects.using(MIGRATION_ALIAS).create(
                domain=tenant.primary_domain, tenant=tenant, is_primary=True
            )
            _routes_forget(using=MIGRATION_ALIAS)
            if owner is not None:
                _owner_create(tenant=tenant, owner=owner, actor=actor)
            # Last: the trail's lock (one chain for the platform) is held only until the commit.
            platform_audit_record(
                action=PlatformAuditEntry.Action.PROVISION,
                organization_id=organization_id,
                actor=actor,
                changes={"slug": [None, slug], "name": [None, MASK], "status": [None, tenant.status]},
                using=MIGRATION_ALIAS,
            )
    except IntegrityError as exc:
        if violated_sqlstate(exc) != UNIQUE_VIOLATION:
            raise
        raise TenantConflict("The organization, its slug or its domain already exists.") from exc
    logger.info("provisioned organization %s (%s): %d tables secured", organization_id, slug, tables)
    return tenant


def _owner_create(*, tenant: Organization, owner: Owner, actor: uuid.UUID | None) -> None:
    owner_connection = tenant_connection(MIGRATION_ALIAS)
    owner_connection.set_tenant(tenant)
    try:
        member_owner_create(owner=owner, actor=actor, using=MIGRATION_ALIAS)
    finally:
        owner_connection.set_schema_to_public()


# Appended, outside production, to the 503 of an identity service that cannot confirm an organization.
SKIP_IDENTITY_CHECK_HINT = (
    'Outside production, provisioning can skip this check: send "skip_identity_check": true to '
    "POST /api/platform/v1/tenants, or pass --skip-identity-check to manage.py provision_tenant "
    "(or set IDENTITY_ORGANIZATION_CHECK=off)."
)


def _organization_confirm(*, organization_id: uuid.UUID, bearer: str | None) -> None:
    if settings.IDENTITY_ORGANIZATION_CHECK == "off":
        return
    try:
        status = identity_organization_status(organization_id=organization_id, bearer=bearer)
    except (IdentityUnavailable, IdentityMisconfigured) as exc:
        if not settings.IS_PROD:  # a dev machine often runs no identity service: say how to go on
            exc.detail = f"{exc.detail} {SKIP_IDENTITY_CHECK_HINT}"
        raise
    if status is OrganizationStatus.UNKNOWN:
        raise TenantInvalid("The identity service does not know this organization.", field="organization_id")
    if status is OrganizationStatus.NOT_CONFIRMED:
        raise TenantInvalid(
            "The identity service does not confirm this organization to this caller.",
            field="organization_id",
            code=TenantErrorCode.ORGANIZATION_NOT_CONFIRMED,
        )


def tenant_rename(*, tenant: Organization, name: str, actor: uuid.UUID | None = None) -> Organization:
    """Rename the organization (its display name; the slug and domain stay)."""
    name = tenant_name_validate(name)
    with transaction.atomic():
        tenant = _tenant_lock(tenant=tenant)
        if tenant.name != name:
            tenant.name = name
            tenant.save(update_fields=["name", "updated_at"])
            _routes_forget(using=DEFAULT_DB_ALIAS)
            platform_audit_record(
                action=PlatformAuditEntry.Action.RENAME,
                organization_id=tenant.organization_id,
                actor=actor,
                changes={"name": [MASK, MASK]},
                using=DEFAULT_DB_ALIAS,
            )
    return tenant


# The lifecycle action each status is reached by.
_STATUS_ACTIONS = {
    Organization.Status.SUSPENDED: PlatformAuditEntry.Action.SUSPEND,
    Organization.Status.ACTIVE: PlatformAuditEntry.Action.ACTIVATE,
}


def _tenant_status_set(
    *, tenant: Organization, status: Organization.Status, actor: uuid.UUID | None
) -> Organization:
    with transaction.atomic():
        tenant = _tenant_lock(tenant=tenant)
        if tenant.status != status:
            before, tenant.status = tenant.status, status
            tenant.save(update_fields=["status", "updated_at"])
            _routes_forget(using=DEFAULT_DB_ALIAS)
            platform_audit_record(
                action=_STATUS_ACTIONS[status],
                organization_id=tenant.organization_id,
                actor=actor,
                changes={"status": [before, status]},
                using=DEFAULT_DB_ALIAS,
            )
    return tenant


def tenant_suspend(*, tenant: Organization, actor: uuid.UUID | None = None) -> Organization:
    """Suspend: every request to the organization's host answers 403 ``tenant_suspended``."""
    return _tenant_status_set(tenant=tenant, status=Organization.Status.SUSPENDED, actor=actor)


def tenant_activate(*, tenant: Organization, actor: uuid.UUID | None = None) -> Organization:
    """Serve the organization again."""
    return _tenant_status_set(tenant=tenant, status=Organization.Status.ACTIVE, actor=actor)


def tenant_delete(*, tenant: Organization, confirm: str | None, actor: uuid.UUID | None = None) -> None:
    """Shred the organization's data keys, drop its schema with all its data, then its domains and row.

    Irreversible: without the data keys, the encrypted fields in any copy of the data (a backup, a
    replica, a dump) can no longer be read.
    """
    if confirm is None or confirm.strip().lower() != str(tenant.organization_id):
        raise DeleteNotConfirmed()
    with transaction.atomic(using=MIGRATION_ALIAS):
        tenant = _tenant_lock(tenant=tenant, using=MIGRATION_ALIAS)
        crypto.data_keys_shred(tenant.organization_id, using=MIGRATION_ALIAS)
        tenant_schema_drop(tenant=tenant)
        Domain.objects.using(MIGRATION_ALIAS).filter(tenant_id=tenant.pk).delete()
        Organization.objects.using(MIGRATION_ALIAS).filter(pk=tenant.pk).delete()
        _routes_forget(using=MIGRATION_ALIAS)
        # Its kept files (imports, exports, archives) go once the deletion has committed.
        transaction.on_commit(
            partial(files_delete_organization, tenant.organization_id), using=MIGRATION_ALIAS
        )
        platform_audit_record(
            action=PlatformAuditEntry.Action.DELETE,
            organization_id=tenant.organization_id,
            actor=actor,
            changes={"slug": [tenant.slug, None], "name": [MASK, None], "status": [tenant.status, None]},
            using=MIGRATION_ALIAS,
        )
    logger.info("deleted organization %s (%s)", tenant.organization_id, tenant.slug)
