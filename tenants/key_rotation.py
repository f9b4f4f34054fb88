"""Rotation of field-encryption keys: re-wrap data keys under the first master key, re-encrypt values.

One organization at a time, in one owner transaction: its data keys are re-wrapped under the first
``HUB_FIELD_KEYS`` key, a new data-key version is created, and every encrypted value and blind index in
its schema is rewritten under that version. Old data-key versions are kept (re-wrapped), so a value
written meanwhile by a process still using the previous version stays readable; running the rotation
again re-encrypts it. Safe to re-run at any point.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import models, transaction

from tenants import crypto
from tenants.db import tenant_connection
from tenants.fields import BlindIndexField, EncryptedTextField, blind_index_compute
from tenants.models import Organization, PlatformAuditEntry
from tenants.routers import MIGRATION_ALIAS
from tenants.services import platform_audit_record

_BATCH = 500


@dataclass(frozen=True)
class RotationReport:
    rewrapped: int
    data_key_version: int
    rows: int


def encrypted_models() -> Iterator[tuple[type[models.Model], list[str], list[BlindIndexField]]]:
    """Every tenant model with encrypted fields: the model, those fields' names, its blind indexes."""
    tenant_apps = set(settings.TENANT_APPS) - set(settings.SHARED_APPS)
    for model in apps.get_models():
        if model._meta.app_config is None or model._meta.app_config.name not in tenant_apps:
            continue
        encrypted = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if encrypted:
            indexes = [f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)]
            yield model, encrypted, indexes


def _reencrypt(
    model: type[models.Model], encrypted: list[str], indexes: list[BlindIndexField], *, batch_size: int
) -> int:
    """Rewrite every row of ``model`` holding an encrypted value under the current data key."""
    rows = 0
    batch: list[models.Model] = []
    update = [*encrypted, *(index.name for index in indexes)]
    queryset = model._default_manager.using(MIGRATION_ALIAS).only("pk", *encrypted).order_by("pk")
    for instance in queryset.iterator(chunk_size=batch_size):
        if not any(getattr(instance, name) for name in encrypted):
            continue
        for index in indexes:
            setattr(
                instance, index.attname, blind_index_compute(instance, index.source, using=MIGRATION_ALIAS)
            )
        batch.append(instance)
        if len(batch) == batch_size:
            rows += model._default_manager.using(MIGRATION_ALIAS).bulk_update(batch, update)
            batch = []
    if batch:
        rows += model._default_manager.using(MIGRATION_ALIAS).bulk_update(batch, update)
    return rows


def field_keys_rotate(
    *,
    tenant: Organization,
    new_data_key: bool = True,
    batch_size: int = _BATCH,
    actor: uuid.UUID | None = None,
) -> RotationReport:
    """Rotate one organization's keys (see the module docstring); all or nothing, recorded in the
    platform's audit trail in the same transaction (``actor`` ``None``: the system)."""
    connection = tenant_connection(MIGRATION_ALIAS)
    try:
        with transaction.atomic(using=MIGRATION_ALIAS):
            connection.set_tenant(tenant)
            before = crypto.data_keys(tenant.organization_id, using=MIGRATION_ALIAS).current
            rewrapped = crypto.data_keys_rewrap(tenant.organization_id, using=MIGRATION_ALIAS)
            if new_data_key:
                crypto.data_key_create(tenant.organization_id, using=MIGRATION_ALIAS)
            version = crypto.data_keys(tenant.organization_id, using=MIGRATION_ALIAS).current
            rows = (
                sum(_reencrypt(*spec, batch_size=batch_size) for spec in encrypted_models())
                if new_data_key
                else 0
            )
            platform_audit_record(
                action=PlatformAuditEntry.Action.ROTATE_KEYS,
                organization_id=tenant.organization_id,
                actor=actor,
                changes={
                    "data_key_version": [before, version],
                    "rewrapped_keys": [None, rewrapped],
                    "reencrypted_rows": [None, rows],
                },
                using=MIGRATION_ALIAS,
            )
    finally:
        # The keys this process read inside the transaction may not have been committed.
        crypto.data_keys_forget(tenant.organization_id)
        connection.set_schema_to_public()
    return RotationReport(rewrapped=rewrapped, data_key_version=version, rows=rows)
