"""The row-level-security wall on its own: raw SQL with organization A's context cannot see or touch
organization B's rows, even aimed straight at B's schema; and the runtime role cannot lower the wall."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from apps.entities.models import Entity
from apps.entities.services import entity_create
from tenants.db import tenant_connection
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def b_entity(tenant_b: Organization, in_tenant) -> Entity:
    actor = User.objects.create_user(id=uuid.uuid4(), email="b@example.com")
    with in_tenant(tenant_b):
        return entity_create(actor=actor, kind="customer", name="Beta secret", reference="B-1")


def _refused(sql: str, params: list | None = None) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_context_reads_nothing_of_b_schema(tenant_a, tenant_b, b_entity, in_tenant):
    b_table = f'"{tenant_b.schema_name}".entities_entity'
    with in_tenant(tenant_a), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {b_table}")
        assert cursor.fetchone()[0] == 0
        cursor.execute(f'SELECT count(*) FROM "{tenant_b.schema_name}".entities_entitykind')
        assert cursor.fetchone()[0] == 0
        cursor.execute(f"SELECT count(*) FROM {b_table} WHERE id = %s", [b_entity.id])
        assert cursor.fetchone()[0] == 0
    with in_tenant(tenant_b), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {b_table}")
        assert cursor.fetchone()[0] == 1


def test_a_context_cannot_update_or_delete_b_rows(tenant_a, tenant_b, b_entity, in_tenant):
    b_table = f'"{tenant_b.schema_name}".entities_entity'
    with in_tenant(tenant_a), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {b_table} SET name = 'pwned'")
        assert cursor.rowcount == 0
        cursor.execute(f"DELETE FROM {b_table}")
        assert cursor.rowcount == 0
        cursor.execute(f"UPDATE {b_table} SET organization_id = %s", [tenant_a.organization_id])
        assert cursor.rowcount == 0
    with in_tenant(tenant_b):
        assert Entity.objects.get(id=b_entity.id).name == "Beta secret"


def test_a_context_cannot_insert_into_b_schema(tenant_a, tenant_b, b_entity, in_tenant):
    b_kinds = f'"{tenant_b.schema_name}".entities_entitykind'
    with in_tenant(tenant_a):
        # The default organization_id is A's: B's policy refuses it.
        _refused(f"INSERT INTO {b_kinds} (key, label, builtin, created_at) VALUES ('x', 'X', false, now())")
        # Claiming to be B does not help: the transaction's organization is A.
        _refused(
            f"INSERT INTO {b_kinds} (key, label, builtin, created_at, organization_id) "
            "VALUES ('y', 'Y', false, now(), %s)",
            [tenant_b.organization_id],
        )
    with in_tenant(tenant_b):
        assert not Entity.objects.exclude(id=b_entity.id).exists()


def test_without_an_organization_nothing_is_visible(tenant_a, b_entity, tenant_b):
    tenant_connection().set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{tenant_b.schema_name}".entities_entity')
        assert cursor.fetchone()[0] == 0
    _refused(
        f'INSERT INTO "{tenant_b.schema_name}".entities_entitykind (key, label, builtin, created_at) '
        "VALUES ('z', 'Z', false, now())"
    )


def test_runtime_role_cannot_lower_the_wall(tenant_a, tenant_b, b_entity, in_tenant):
    b_table = f'"{tenant_b.schema_name}".entities_entity'
    with in_tenant(tenant_a):
        _refused(f"ALTER TABLE {b_table} DISABLE ROW LEVEL SECURITY")
        _refused(f"ALTER TABLE {b_table} NO FORCE ROW LEVEL SECURITY")
        _refused(f"DROP POLICY organization_isolation ON {b_table}")
        _refused(f"TRUNCATE {b_table}")
        _refused(f'CREATE TABLE "{tenant_b.schema_name}".escape (id int)')
        # row_security=off does not bypass the policy for a role without BYPASSRLS: it errors.
        _refused(f"SET LOCAL row_security = off; SELECT * FROM {b_table}")
    with in_tenant(tenant_b):
        assert Entity.objects.filter(id=b_entity.id).exists()


def test_runtime_role_is_neither_superuser_nor_bypassrls_nor_owner():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)
        cursor.execute(
            """
            SELECT count(*) FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
            WHERE ns.nspname LIKE 'org\\_%%'
              AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
            """
        )
        assert cursor.fetchone()[0] == 0
