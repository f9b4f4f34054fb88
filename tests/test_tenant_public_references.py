"""Tenant tables reference shared (public) tables by id only, without foreign key constraints (issue 17).

A foreign key from a tenant schema into ``public`` puts RI triggers on the public table for every
organization: thousands on ``tenants_user``, added under a lock at each provisioning (which then
serialize), checked at each user update, and refused by Citus' schema-based sharding. So: no
constraint of a tenant schema (or of the template) names a table outside it, every model reference from
a tenant app to a shared app says ``db_constraint=False``, and provisioning adds no trigger in public.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connections, models, transaction
from django.test import override_settings

from tenants.models import Organization
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tenants.template import TEMPLATE_SCHEMA

CLONED_ID = uuid.UUID("d1d1d1d1-0000-4000-8000-0000000000d1")
MIGRATED_ID = uuid.UUID("d2d2d2d2-0000-4000-8000-0000000000d2")

_OUTWARD_REFERENCES = """
    SELECT referencing.relname, constraint_.conname, constraint_.confrelid::regclass::text
      FROM pg_constraint constraint_
      JOIN pg_class referencing ON referencing.oid = constraint_.conrelid
      JOIN pg_class referenced ON referenced.oid = constraint_.confrelid
     WHERE constraint_.contype = 'f'
       AND referencing.relnamespace = %(schema)s::regnamespace
       AND referenced.relnamespace <> referencing.relnamespace
     ORDER BY 1, 2"""

_PUBLIC_TRIGGERS = """
    SELECT count(*) FILTER (WHERE c.relname = 'tenants_user'), count(*)
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'public'::regnamespace"""


def _outward_references(cursor: Any, schema: str) -> list[tuple[str, str, str]]:
    cursor.execute(_OUTWARD_REFERENCES, {"schema": schema})
    return list(cursor.fetchall())


def _public_triggers() -> tuple[int, int]:
    """Triggers on ``tenants_user`` and on every table of ``public``."""
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(_PUBLIC_TRIGGERS)
        on_users, in_public = cursor.fetchone()
    return on_users, in_public


def _tenant_schemas() -> list[str]:
    schemas = list(Organization.objects.values_list("schema_name", flat=True))
    return [TEMPLATE_SCHEMA, *schemas]


@pytest.mark.django_db(databases=["default", MIGRATION_ALIAS])
def test_no_tenant_constraint_references_another_schema() -> None:
    schemas = _tenant_schemas()
    assert len(schemas) >= 3  # the template and the session's two organizations
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        for schema in schemas:
            assert _outward_references(cursor, schema) == [], schema


@pytest.mark.django_db(databases=["default", MIGRATION_ALIAS])
def test_the_check_sees_a_constraint_into_public() -> None:
    """The catalog query above finds such a constraint when there is one (added here, rolled back)."""
    schema = Organization.objects.exclude(schema_name="public").values_list("schema_name", flat=True)[0]
    with transaction.atomic(using=MIGRATION_ALIAS), connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            f'ALTER TABLE "{schema}".members_member ADD CONSTRAINT probe_fk '
            "FOREIGN KEY (user_id) REFERENCES public.tenants_user (id)"
        )
        assert _outward_references(cursor, schema) == [("members_member", "probe_fk", "tenants_user")]
        transaction.set_rollback(True, using=MIGRATION_ALIAS)
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        assert _outward_references(cursor, schema) == []


def test_tenant_models_reference_shared_models_without_constraint() -> None:
    """Every relation from a tenant app's model to another app's model (users, content types,
    permissions, groups) is declared without a database constraint: a new one fails here first."""
    tenant_labels = {config.label for config in apps.get_app_configs() if config.name in settings.TENANT_APPS}
    constrained: list[str] = []
    unconstrained: list[str] = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in tenant_labels:
            continue
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.ForeignKey):  # OneToOneField included
                continue
            related = field.remote_field.model
            assert not isinstance(related, str)  # resolved once the app registry is ready
            if related._meta.app_label in tenant_labels:
                continue
            name = f"{model._meta.label}.{field.name}"
            db_constraint: bool = field.db_constraint  # type: ignore[attr-defined]  # not in the stubs
            (constrained if db_constraint else unconstrained).append(name)
    third_party = {  # their constraints are dropped by apps/audit/migrations/0005 instead
        "guardian.UserObjectPermission.permission",
        "guardian.UserObjectPermission.content_type",
        "guardian.UserObjectPermission.user",
        "guardian.GroupObjectPermission.permission",
        "guardian.GroupObjectPermission.content_type",
        "guardian.GroupObjectPermission.group",
    }
    assert set(constrained) == third_party
    assert "members.Member.user" in unconstrained
    assert "audit.AuditEntry.actor" in unconstrained


@pytest.fixture
def provisioned_twice(committed_db: None) -> Iterator[list[tuple[int, int]]]:
    """The public triggers counted before and after provisioning by clone, then by migrations."""
    made: list[Organization] = []
    counts = [_public_triggers()]
    try:
        cloned = tenant_provision(
            organization_id=CLONED_ID, slug="ref-cloned", name="Cloned", check_identity=False
        )
        made.append(cloned)
        counts.append(_public_triggers())
        with override_settings(HUB_TENANT_TEMPLATE=False):
            made.append(
                tenant_provision(
                    organization_id=MIGRATED_ID, slug="ref-migrated", name="Migrated", check_identity=False
                )
            )
        counts.append(_public_triggers())
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            for tenant in made:
                assert _outward_references(cursor, tenant.schema_name) == [], tenant.schema_name
        yield counts
    finally:
        for tenant in made:
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))


def test_provisioning_adds_no_trigger_in_public(provisioned_twice: list[tuple[int, int]]) -> None:
    before, after_clone, after_migrations = provisioned_twice
    assert after_clone == before
    assert after_migrations == before
