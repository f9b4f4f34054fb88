"""Provisioning by cloning the template schema (tenants/template.py): a cloned schema and a migrated one
have identical catalogs; a cloned organization works end to end behind its RLS wall; without a current
template, provisioning falls back to migrations; ``check`` and ``tenant_template`` see a stale template."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections, transaction
from django.test import Client, override_settings

from conftest import ALPHA_ID, ClientFactory
from tenants.models import Organization
from tenants.rls import runtime_role
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tenants.template import (
    TEMPLATE_ORGANIZATION_ID,
    TEMPLATE_SCHEMA,
    TemplateStatus,
    template_check,
    template_state,
)

CLONED_ID = uuid.UUID("c1c1c1c1-0000-4000-8000-0000000000c1")
MIGRATED_ID = uuid.UUID("a1a1a1a1-0000-4000-8000-0000000000a1")
FALLBACK_ID = uuid.UUID("f1f1f1f1-0000-4000-8000-0000000000f1")
JSON = "application/json"


Catalog = dict[str, list[tuple[Any, ...]]]
_catalogs: dict[str, Catalog] = {}


@pytest.fixture(scope="module")
def provisioned(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[Organization, Organization]]:
    """One organization provisioned by clone (the test session built the template), one by migrations;
    their catalogs read at once (the other tests' writes move sequences, which no rollback undoes)."""
    with django_db_blocker.unblock():
        assert template_state().current, "the test session must build the template (conftest.py)"
        cloned = tenant_provision(
            organization_id=CLONED_ID, slug="tpl-cloned", name="Cloned", check_identity=False
        )
        with override_settings(HUB_TENANT_TEMPLATE=False):
            migrated = tenant_provision(
                organization_id=MIGRATED_ID, slug="tpl-migrated", name="Migrated", check_identity=False
            )
        _catalogs["cloned"] = catalog(cloned.schema_name, cloned.organization_id)
        _catalogs["migrated"] = catalog(migrated.schema_name, migrated.organization_id)
        yield cloned, migrated
        for tenant in (cloned, migrated):
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))


# --- The catalog of a schema, named so two schemas compare ------------------------------------------

_CATALOG = {
    "columns": """
        SELECT c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
               a.attidentity, a.attgenerated, a.attcollation::regcollation::text, a.attacl::text
          FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
         WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind = 'r'""",
    "relations": """
        SELECT relname, relkind, relowner::regrole::text, relacl::text, relrowsecurity, relforcerowsecurity,
               relpersistence, reloptions::text, relreplident
          FROM pg_class WHERE relnamespace = %(schema)s::regnamespace""",
    "constraints": """
        SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid), con.condeferrable,
               con.condeferred, con.convalidated
          FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
         WHERE c.relnamespace = %(schema)s::regnamespace""",
    "indexes": """
        SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisprimary, i.indisunique
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE c.relnamespace = %(schema)s::regnamespace""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace = %(schema)s::regnamespace AND NOT t.tgisinternal""",
    "policies": """
        SELECT c.relname, p.polname, p.polcmd, p.polpermissive, p.polroles::regrole[]::text,
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
          FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
         WHERE c.relnamespace = %(schema)s::regnamespace""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, min_value, max_value, increment_by, cycle,
               cache_size, last_value, sequenceowner
          FROM pg_sequences WHERE schemaname = %(schema)s""",
    "sequence_owners": """
        SELECT s.relname, t.relname, a.attname, d.deptype
          FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
          JOIN pg_class t ON t.oid = d.refobjid
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass AND s.relnamespace = %(schema)s::regnamespace""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid),
               l.lanname, p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof, p.proparallel,
               p.procost, p.prorows, p.proconfig::text, p.prosrc, p.proowner::regrole::text, p.proacl::text
          FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.pronamespace = %(schema)s::regnamespace""",
    "types": "SELECT typname, typtype FROM pg_type WHERE typnamespace = %(schema)s::regnamespace",
    "schema": """
        SELECT nspowner::regrole::text, nspacl::text FROM pg_namespace WHERE nspname = %(schema)s""",
}


def _normalized(value: Any, schema: str, organization_id: uuid.UUID) -> Any:
    if isinstance(value, str):
        return value.replace(schema, "<schema>").replace(str(organization_id), "<organization>")
    return value


def catalog(schema: str, organization_id: uuid.UUID) -> Catalog:
    """Every part of the schema's catalog the contract cares about, with its own name and organization
    replaced by placeholders (rendered with the schema alone on the search path, as a migration sees it)."""
    found: Catalog = {}
    with transaction.atomic(using=MIGRATION_ALIAS), connections[MIGRATION_ALIAS].cursor() as cursor:
        raw = cursor.cursor
        raw.execute("SELECT set_config('search_path', %s, true)", [f'"{schema}"'])
        for part, query in _CATALOG.items():
            raw.execute(query, {"schema": schema})
            found[part] = sorted(
                tuple(_normalized(value, schema, organization_id) for value in row) for row in raw.fetchall()
            )
        found["rows"] = _rows(raw, schema, organization_id)
        raw.execute(
            "SELECT set_config('search_path', 'public', true), set_config('hub.organization_id', '', true)"
        )
    return found


def _rows(raw: Any, schema: str, organization_id: uuid.UUID) -> list[tuple[Any, ...]]:
    """Every row the schema starts with (read as its organization), but the times they were written."""
    raw.execute("SELECT set_config('hub.organization_id', %s, true)", [str(organization_id)])
    raw.execute(
        """SELECT c.relname,
                  array_agg(a.attname ORDER BY a.attnum) FILTER (WHERE a.atttypid <> 'timestamptz'::regtype)
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r' GROUP BY c.relname""",
        [schema],
    )
    rows: list[tuple[Any, ...]] = []
    for table, columns in raw.fetchall():
        selected = ", ".join(f'"{column}"::text' for column in columns)
        raw.execute(f'SELECT {selected} FROM "{schema}"."{table}"')
        rows += [(table, *(_normalized(v, schema, organization_id) for v in row)) for row in raw.fetchall()]
    return sorted(rows, key=repr)


def test_a_cloned_schema_has_the_catalog_of_a_migrated_one(
    provisioned: tuple[Organization, Organization],
) -> None:
    by_clone, by_migrations = _catalogs["cloned"], _catalogs["migrated"]
    # Not vacuous: the schemas hold what the migrations make.
    assert len(by_clone["relations"]) > 100
    assert len(by_clone["functions"]) > 10
    assert len(by_clone["triggers"]) > 10
    assert len(by_clone["policies"]) > 20
    assert any(row[2] == "x" for row in by_clone["constraints"])  # the bookings' exclusion constraint
    assert any(row[0] == "entities_entitykind" for row in by_clone["rows"])  # the built-in kinds
    assert all("<organization>" in row[5] for row in by_clone["policies"])  # bound to its organization
    for part in by_migrations:
        assert by_clone[part] == by_migrations[part], f"{part} differ between a clone and a migrated schema"


def test_the_cloned_schema_was_cloned_not_migrated(
    provisioned: tuple[Organization, Organization], django_db_blocker: Any
) -> None:
    """Its django_migrations rows are the template's, times included (a migrated schema's are its own)."""
    cloned, migrated = provisioned

    def applied(schema: str) -> list[tuple[Any, ...]]:
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute(f'SELECT app, name, applied FROM "{schema}".django_migrations ORDER BY id')
            return list(cursor.fetchall())

    with django_db_blocker.unblock():
        template = applied(TEMPLATE_SCHEMA)
        assert applied(cloned.schema_name) == template
        assert applied(migrated.schema_name) != template
        assert [row[:2] for row in applied(migrated.schema_name)] == [row[:2] for row in template]


@pytest.mark.django_db
def test_the_cloned_schema_keeps_its_rls_wall(provisioned: tuple[Organization, Organization]) -> None:
    """As the runtime role: another organization's setting sees and writes nothing of the clone's."""
    cloned, _ = provisioned
    with connections["default"].cursor() as cursor:
        raw = cursor.cursor
        raw.execute(
            "SELECT set_config('search_path', %s, true), set_config('hub.organization_id', %s, true)",
            [f'"{cloned.schema_name}"', str(ALPHA_ID)],
        )
        raw.execute("SELECT count(*) FROM entities_entitykind")
        assert raw.fetchone()[0] == 0
        raw.execute("SAVEPOINT wall")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            raw.execute(
                "INSERT INTO entities_entitykind (key, label, builtin, created_at)"
                " VALUES ('x', 'X', false, now())"
            )
        raw.execute("ROLLBACK TO SAVEPOINT wall")
        raw.execute("SELECT set_config('hub.organization_id', %s, true)", [str(cloned.organization_id)])
        raw.execute("SELECT count(*) FROM entities_entitykind")
        assert raw.fetchone()[0] == 4
        raw.execute(
            "SELECT set_config('search_path', 'public', true), set_config('hub.organization_id', '', true)"
        )


@pytest.mark.django_db
def test_a_cloned_organization_works_end_to_end(
    provisioned: tuple[Organization, Organization], client_for: ClientFactory
) -> None:
    cloned, _ = provisioned
    admin: Client = client_for(cloned, ["admin"])
    entity = admin.post("/api/v1/entities/", {"kind": "customer", "name": "Acme"}, content_type=JSON)
    assert entity.status_code == 201, entity.content
    accounts = [
        admin.post(
            "/api/v1/transactions/accounts",
            {"code": code, "name": code, "type": "asset", "currency": "EUR"},
            content_type=JSON,
        )
        for code in ("1000", "1100")
    ]
    assert [account.status_code for account in accounts] == [201, 201], accounts[0].content
    source, target = (account.json()["id"] for account in accounts)
    posted = admin.post(
        "/api/v1/transactions/",
        {
            "description": "Transfer",
            "currency": "EUR",
            "postings": [
                {"account_id": target, "amount": "10.00"},
                {"account_id": source, "amount": "-10.00"},
            ],
        },
        content_type=JSON,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert posted.status_code == 201, posted.content
    resource = admin.post(
        "/api/v1/scheduling/resources", {"kind": "room", "name": "Room", "timezone": "UTC"}, content_type=JSON
    )
    assert resource.status_code == 201, resource.content
    booking = {
        "resource_id": resource.json()["id"],
        "start": "2030-01-07T10:00:00Z",
        "end": "2030-01-07T11:00:00Z",
    }
    assert admin.post("/api/v1/scheduling/bookings", booking, content_type=JSON).status_code == 201
    # The same booking again: the exclusion constraint the clone reproduced refuses the overlap.
    assert admin.post("/api/v1/scheduling/bookings", booking, content_type=JSON).status_code == 409
    # Another organization cannot see the clone's entity.
    other = client_for(Organization.objects.get(organization_id=ALPHA_ID), ["admin"])
    assert other.get(f"/api/v1/entities/{entity.json()['id']}").status_code == 404


@contextmanager
def _rolled_back() -> Iterator[None]:
    """An owner transaction undone after the block: the session's template stays as it was."""
    with transaction.atomic(using=MIGRATION_ALIAS):
        yield
        transaction.set_rollback(True, using=MIGRATION_ALIAS)


def test_without_a_template_provisioning_runs_the_migrations(
    django_db_setup: None, django_db_blocker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The template renamed away (inside a transaction rolled back after): provisioning migrates."""
    with django_db_blocker.unblock(), caplog.at_level(logging.WARNING, logger="tenants.template"):
        with _rolled_back():
            with connections[MIGRATION_ALIAS].cursor() as cursor:
                cursor.execute(f'ALTER SCHEMA "{TEMPLATE_SCHEMA}" RENAME TO tenant_template_away')
            assert template_state().status is TemplateStatus.MISSING
            assert [message.id for message in template_check()] == ["tenants.W001"]
            tenant = tenant_provision(
                organization_id=FALLBACK_ID, slug="tpl-fallback", name="Fallback", check_identity=False
            )
            with connections[MIGRATION_ALIAS].cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_class WHERE relnamespace = %s::regnamespace",
                    [tenant.schema_name],
                )
                assert cursor.fetchone()[0] > 100
        assert template_state().current
    assert "tenant template is missing" in caplog.text


def test_a_template_behind_the_migrations_fails_the_check_and_is_not_cloned(
    django_db_setup: None, django_db_blocker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with django_db_blocker.unblock(), caplog.at_level(logging.WARNING, logger="tenants.template"):
        assert template_check() == []
        call_command("tenant_template", "--check")
        with _rolled_back():
            with connections[MIGRATION_ALIAS].cursor() as cursor:
                table = f'"{TEMPLATE_SCHEMA}".django_migrations'
                cursor.execute(f"DELETE FROM {table} WHERE id = (SELECT max(id) FROM {table})")
            state = template_state()
            assert state.status is TemplateStatus.BEHIND
            assert len(state.missing_migrations) == 1
            assert [message.id for message in template_check()] == ["tenants.E001"]
            with pytest.raises(CommandError, match="behind"):
                call_command("tenant_template", "--check")
            tenant_provision(
                organization_id=FALLBACK_ID, slug="tpl-behind", name="Behind", check_identity=False
            )
        assert "tenant template is behind" in caplog.text
        # A migration file changed in place (same names): the fingerprint says so.
        with _rolled_back():
            with connections[MIGRATION_ALIAS].cursor() as cursor:
                cursor.execute(f"COMMENT ON SCHEMA \"{TEMPLATE_SCHEMA}\" IS 'hub tenant template 0000'")
            assert template_state().status is TemplateStatus.BEHIND
            assert [message.id for message in template_check()] == ["tenants.E001"]
        assert template_state().current


def test_rebuild_builds_the_template_from_the_migrations(
    django_db_setup: None, django_db_blocker: Any
) -> None:
    """``tenant_template --rebuild`` (in a transaction rolled back after: the session's template stays)."""
    with django_db_blocker.unblock(), _rolled_back():
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{TEMPLATE_SCHEMA}" CASCADE')
        assert template_state().status is TemplateStatus.MISSING
        call_command("tenant_template", "--rebuild", stdout=open("/dev/null", "w"))  # noqa: SIM115
        state = template_state()
        assert state.current
        assert state.fingerprint == state.expected
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            # The runtime role cannot reach the template.
            cursor.execute("SELECT has_schema_privilege(%s, %s, 'USAGE')", [runtime_role(), TEMPLATE_SCHEMA])
            assert cursor.fetchone()[0] is False
            # No data key is left for the template's organization (it does not exist).
            cursor.execute(
                "SELECT count(*) FROM tenants_datakey WHERE organization_id = %s",
                [TEMPLATE_ORGANIZATION_ID],
            )
            assert cursor.fetchone()[0] == 0
            cursor.execute(
                "SELECT count(*) FROM tenants_organization WHERE schema_name = %s", [TEMPLATE_SCHEMA]
            )
            assert cursor.fetchone()[0] == 0
