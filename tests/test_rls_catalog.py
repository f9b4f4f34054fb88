"""The catalog says every tenant table is behind the organization policy (contract section 6).

Fails the build if any migration ever adds a tenant table that escapes the wall."""

from __future__ import annotations

import pytest
from django.db import connections, transaction

from tenants.models import Organization
from tenants.rls import schema_rls_problems
from tenants.routers import MIGRATION_ALIAS

pytestmark = pytest.mark.django_db(databases=["default", "owner"])


def test_every_tenant_table_has_enabled_forced_rls_and_its_policy():
    tenants = list(Organization.objects.all())
    assert len(tenants) >= 2
    for tenant in tenants:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename <> 'django_migrations'",
                [tenant.schema_name],
            )
            assert cursor.fetchone()[0] >= 5  # entities, guardian and auditlog tables at least
        problems = schema_rls_problems(schema_name=tenant.schema_name, organization_id=tenant.organization_id)
        assert problems == [], "\n".join(map(str, problems))


def test_the_check_catches_a_table_that_escapes_the_wall(tenant_a):
    schema = tenant_a.schema_name
    with transaction.atomic(using=MIGRATION_ALIAS), connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{schema}".forgotten (id int)')
        cursor.execute(f'ALTER TABLE "{schema}".entities_entity NO FORCE ROW LEVEL SECURITY')
        cursor.execute(f'CREATE POLICY open_door ON "{schema}".entities_entitykind USING (true)')
        problems = {
            str(problem)
            for problem in schema_rls_problems(
                schema_name=schema, organization_id=tenant_a.organization_id, using=MIGRATION_ALIAS
            )
        }
        transaction.set_rollback(True, using=MIGRATION_ALIAS)
    assert "forgotten: row-level security is not enabled" in problems
    assert "forgotten: policy organization_isolation is missing" in problems
    assert "forgotten: organization_id is nullable" in problems
    assert "entities_entity: row-level security is not forced" in problems
    assert "entities_entitykind: table has policies other than the organization policy" in problems


def test_the_check_catches_a_policy_pinned_to_another_organization(tenant_a, tenant_b):
    problems = schema_rls_problems(schema_name=tenant_a.schema_name, organization_id=tenant_b.organization_id)
    assert problems
    assert all("does not pin" in problem.problem for problem in problems)
