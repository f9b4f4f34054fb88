"""The organization and schema are set per transaction, never left in the session (so they hold behind a
transaction-pooling PgBouncer), and survive savepoint rollbacks correctly."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from tenants.db import tenant_connection
from tenants.models import Organization


def _context() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('hub.organization_id', true), current_setting('search_path')")
        organization, search_path = cursor.fetchone()
    return organization or "", search_path


def _session_context() -> tuple[str, str]:
    """What the server session holds outside any transaction, read past Django's wrappers."""
    raw = connection.connection
    assert raw.autocommit
    organization, search_path = raw.execute(
        "SELECT current_setting('hub.organization_id', true), current_setting('search_path')"
    ).fetchone()
    return organization or "", search_path


@pytest.mark.django_db
def test_each_statement_runs_under_the_current_tenant(tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_a):
        assert _context() == (str(tenant_a.organization_id), f'"{tenant_a.schema_name}","public"')
        with in_tenant(tenant_b):
            assert _context() == (str(tenant_b.organization_id), f'"{tenant_b.schema_name}","public"')
        assert _context()[0] == str(tenant_a.organization_id)
    assert _context() == ("", '"public"')


def _fail_inside_savepoint(seen: list[str]) -> None:
    with transaction.atomic():
        seen.append(_context()[0])
        raise RuntimeError("roll the savepoint back")


@pytest.mark.django_db
def test_savepoint_rollback_does_not_leave_a_stale_context(tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_a):
        assert _context()[0] == str(tenant_a.organization_id)
        with in_tenant(tenant_b):
            inside: list[str] = []
            with pytest.raises(RuntimeError):
                _fail_inside_savepoint(inside)
            assert inside == [str(tenant_b.organization_id)]
            # PostgreSQL reverted the settings made inside the savepoint; they must be set again.
            assert _context()[0] == str(tenant_b.organization_id)


def test_autocommit_statements_leave_nothing_in_the_session(committed_db):
    tenant = Organization.objects.get(slug="alpha")
    assert connection.get_autocommit()
    tenant_connection().set_tenant(tenant)
    try:
        assert _context() == (str(tenant.organization_id), f'"{tenant.schema_name}","public"')
        assert _session_context() == ("", '"$user", public')
        with transaction.atomic():
            assert _context()[0] == str(tenant.organization_id)
        assert _session_context() == ("", '"$user", public')
    finally:
        tenant_connection().set_schema_to_public()


def test_a_request_leaves_nothing_in_the_session(committed_db, client_for):
    tenant = Organization.objects.get(slug="alpha")
    response = client_for(tenant, ["viewer"]).get("/api/v1/entities/")
    assert response.status_code == 200
    assert _session_context() == ("", '"$user", public')
    assert tenant_connection().schema_name == "public"
