"""The table list Django's migrations ask for (``MigrationRecorder.has_table``) comes from the schema's
own relations (``tenants.db.backend.introspection``), not from a visibility test of every relation of
every organization: the same list, at a cost independent of the organizations present."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, connections, transaction
from django_tenants.postgresql_backend.introspection import DatabaseSchemaIntrospection
from django_tenants.utils import tenant_context

from tenants.db import tenant_connection
from tenants.db.backend.introspection import HubSchemaIntrospection
from tenants.models import Organization
from tenants.routers import MIGRATION_ALIAS
from tests.helpers import owner_cursor


def _both(cursor: Any, using: Any = connection) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """(ours, django-tenants' over Django's query), for the connection's current schema."""
    ours = HubSchemaIntrospection(using).get_table_list(cursor)
    theirs = DatabaseSchemaIntrospection(using).get_table_list(cursor)
    return {tuple(info) for info in ours}, {tuple(info) for info in theirs}


@pytest.mark.django_db(databases=["default", MIGRATION_ALIAS])
def test_a_tenant_schema_lists_as_django_lists_it(tenant_a: Organization, tenant_b: Organization) -> None:
    """A view and a table's comment added by the owner (rolled back after) are listed as Django lists
    them; another organization's schema does not list them."""
    owner = connections[MIGRATION_ALIAS]
    with owner_cursor(tenant_a) as cursor:
        cursor.execute("CREATE VIEW entities_visible_probe AS SELECT 1 AS one")
        cursor.execute("COMMENT ON TABLE entities_entity IS 'probe comment'")
        ours, theirs = _both(cursor, owner)
        transaction.set_rollback(True, using=MIGRATION_ALIAS)
    assert ours == theirs
    assert ("entities_entity", "t", "probe comment") in ours
    assert ("entities_visible_probe", "v", None) in ours
    assert "django_migrations" in {name for name, _, _ in ours}
    assert isinstance(owner.introspection, HubSchemaIntrospection)
    with tenant_context(tenant_b), connection.cursor() as cursor:
        other, theirs_b = _both(cursor)
    assert other == theirs_b
    assert "entities_entity" in {name for name, _, _ in other}
    assert "entities_visible_probe" not in {name for name, _, _ in other}


@pytest.mark.django_db
def test_the_public_schema_lists_as_django_lists_it() -> None:
    tenant_connection().set_schema_to_public()
    with connection.cursor() as cursor:
        ours, theirs = _both(cursor)
    assert ours == theirs
    assert "tenants_organization" in {name for name, _, _ in ours}


@pytest.mark.django_db
def test_a_schema_not_created_yet_lists_nothing() -> None:
    tenant_connection().set_schema("org_not_created_yet", include_public=False)
    try:
        with connection.cursor() as cursor:
            ours, theirs = _both(cursor)
    finally:
        tenant_connection().set_schema_to_public()
    assert ours == theirs == set()
