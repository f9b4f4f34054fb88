"""Creating, migrating and dropping schemas: always as the owner role (the ``owner`` alias)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.management import call_command
from django.core.management.commands.migrate import Command as MigrateCommand
from django_tenants.utils import quote_schema_name

from tenants.db import tenant_connection
from tenants.rls import database_grants_ensure, runtime_read_only_ensure, tenant_schema_secure
from tenants.routers import MIGRATION_ALIAS

if TYPE_CHECKING:
    from tenants.models import Organization


def public_schema_migrate(*, verbosity: int = 0, stdout: Any = None) -> None:
    """Apply the shared apps' migrations to ``public``."""
    connection = tenant_connection(MIGRATION_ALIAS)
    connection.set_schema_to_public()
    database_grants_ensure()
    _migrate(verbosity=verbosity, stdout=stdout)
    runtime_read_only_ensure()


def tenant_schema_create(*, tenant: Organization) -> None:
    with tenant_connection(MIGRATION_ALIAS).cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {quote_schema_name(tenant.schema_name)}")


def tenant_schema_drop(*, tenant: Organization) -> None:
    with tenant_connection(MIGRATION_ALIAS).cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {quote_schema_name(tenant.schema_name)} CASCADE")


def tenant_schema_migrate(*, tenant: Organization, verbosity: int = 0, stdout: Any = None) -> int:
    """Apply the tenant apps' migrations to the tenant's schema, then secure every table in it.

    Returns the number of tables under the organization policy.
    """
    connection = tenant_connection(MIGRATION_ALIAS)
    try:
        # The migration recorder must create django_migrations in the tenant schema, not find public's.
        connection.set_schema(tenant.schema_name, include_public=False)
        from django.db.migrations.recorder import MigrationRecorder

        MigrationRecorder(connection).ensure_schema()
        connection.set_tenant(tenant)
        with connection.cursor() as cursor:
            # The path as PostgreSQL's SET writes it (``org_x, public``, as SHOW prints it), for the
            # rest of the caller's transaction: a function created ``SET search_path FROM CURRENT``
            # keeps that text, as a clone of the template renders it (the per-transaction setting
            # keeps the quoted text it is given).
            cursor.execute(f"SET LOCAL search_path = {connection.tenant_context_values()[0]}")
        _migrate(verbosity=verbosity, stdout=stdout)
        return tenant_schema_secure(schema_name=tenant.schema_name, organization_id=tenant.organization_id)
    finally:
        connection.set_schema_to_public()


def _migrate(*, verbosity: int, stdout: Any = None) -> None:
    call_command(
        MigrateCommand(),
        database=MIGRATION_ALIAS,
        interactive=False,
        verbosity=verbosity,
        skip_checks=True,
        stdout=stdout,
    )
