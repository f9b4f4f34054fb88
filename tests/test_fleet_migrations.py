"""Fleet migrations (``migrate_schemas``): one query decides who is behind, each tenant is recorded as
its migration commits, a failing tenant is skipped and named, a killed run resumes, ``--canary`` stops
early, ``--workers 2`` does what one worker does.

Failures are staged for real: a tenant's record of a migration it has applied is deleted, so migrating
it re-applies that migration over the objects it already created (a conflicting object in its schema).
A tenant behind for real has its last migration reversed by Django's own ``migrate``.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import connections, transaction
from django.db.migrations import operations
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import quote_schema_name

from tenants.db import tenant_connection
from tenants.fleet import fleet_fingerprint
from tenants.models import Organization, TenantMigrationState
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_provision
from tests.helpers import session_database_url, wait_until

ROOT = Path(__file__).resolve().parent.parent
OLD = "0" * 64
CREATING = (operations.CreateModel, operations.AddField)
WAITING_SQL = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)

pytestmark = pytest.mark.usefixtures("committed_db")


@pytest.fixture
def fleet() -> list[Organization]:
    """Three organizations (cloned, recorded at the head), by slug; deleted after the test."""
    return [
        tenant_provision(
            organization_id=uuid.uuid4(), slug=f"fleet-{letter}", name=letter, check_identity=False
        )
        for letter in "abc"
    ]


def _leaf_migration() -> tuple[str, str, str]:
    """A tenant app's last migration that nothing depends on, reversible, creating a table or a
    column: ``(app, name, parent name)``."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    labels = {config.label for config in apps.get_app_configs() if config.name in settings.TENANT_APPS}
    for app_label, name in sorted(loader.graph.leaf_nodes()):
        node = loader.graph.node_map[(app_label, name)]
        migration = loader.graph.nodes[(app_label, name)]
        parents = [parent.key for parent in node.parents if parent.key[0] == app_label]
        if (
            app_label in labels
            and not node.children
            and len(parents) == 1
            and all(operation.reversible for operation in migration.operations)
            and any(isinstance(op, CREATING) for op in migration.operations)
        ):
            return app_label, name, parents[0][1]
    raise AssertionError("no tenant migration to stage with")


def _break(tenant: Organization) -> None:
    """Forget that ``tenant`` applied the leaf migration: migrating it re-creates what exists."""
    app_label, name, _ = _leaf_migration()
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {quote_schema_name(tenant.schema_name)}.django_migrations"
            " WHERE app = %s AND name = %s",
            [app_label, name],
        )
        assert cursor.rowcount == 1


def _mend(tenant: Organization) -> None:
    app_label, name, _ = _leaf_migration()
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote_schema_name(tenant.schema_name)}.django_migrations (app, name, applied)"
            " VALUES (%s, %s, now())",
            [app_label, name],
        )


def _unapply(tenant: Organization) -> None:
    """Reverse the leaf migration in ``tenant``'s schema (Django's migrate, backwards)."""
    app_label, _, parent = _leaf_migration()
    owner = tenant_connection(MIGRATION_ALIAS)
    try:
        with transaction.atomic(using=MIGRATION_ALIAS):
            owner.set_tenant(tenant)
            call_command(
                MigrateCommand(), app_label, parent, database=MIGRATION_ALIAS, verbosity=0, skip_checks=True
            )
    finally:
        owner.set_schema_to_public()


def _applied(tenant: Organization) -> set[tuple[str, str]]:
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT app, name FROM {quote_schema_name(tenant.schema_name)}.django_migrations")
        return set(cursor.fetchall())


def _behind(*tenants: Organization) -> None:
    TenantMigrationState.objects.using(MIGRATION_ALIAS).filter(organization__in=tenants).update(
        fingerprint=OLD, migrated_at=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    )


def _states() -> dict[str, tuple[str, datetime.datetime]]:
    return {
        state.organization.slug: (state.fingerprint, state.migrated_at)
        for state in TenantMigrationState.objects.using(MIGRATION_ALIAS).select_related("organization")
    }


def _current(states: dict[str, tuple[str, datetime.datetime]]) -> set[str]:
    return {slug for slug, (fingerprint, _) in states.items() if fingerprint == fleet_fingerprint()}


def _run(**options: object) -> str:
    out = StringIO()
    call_command("migrate_schemas", tenant=True, stdout=out, **options)
    return out.getvalue()


def test_provisioning_records_the_head(fleet: list[Organization]) -> None:
    states = _states()
    assert {tenant.slug for tenant in fleet} | {"alpha", "beta"} <= _current(states)


def test_a_noop_run_is_one_query_and_touches_no_tenant(fleet: list[Organization]) -> None:
    before = _states()
    with CaptureQueriesContext(connections[MIGRATION_ALIAS]) as queries:
        text = _run()
    assert "[tenants] migrating 0 tenant schemas ..." in text
    assert "0 tenant schemas migrated" in text
    state_queries = [q for q in queries if TenantMigrationState._meta.db_table in q["sql"]]
    assert len(state_queries) == 1
    assert not [q for q in queries if "org_" in q["sql"]]
    assert _states() == before  # no tenant touched


def test_tenants_behind_are_migrated_and_recorded(fleet: list[Organization]) -> None:
    app_label, name, _ = _leaf_migration()
    _unapply(fleet[1])
    assert (app_label, name) not in _applied(fleet[1])
    TenantMigrationState.objects.using(MIGRATION_ALIAS).filter(organization=fleet[1]).delete()
    _behind(fleet[2])
    before = _states()

    text = _run()

    assert "[tenants] migrating 2 tenant schemas ..." in text
    assert "fleet-b ok" in text
    assert "fleet-c ok" in text
    assert "fleet-a" not in text
    assert (app_label, name) in _applied(fleet[1])  # really migrated
    after = _states()
    assert {"fleet-b", "fleet-c"} <= _current(after)
    assert {slug for slug in after if after[slug] != before.get(slug)} == {"fleet-b", "fleet-c"}


def test_a_failing_tenant_is_named_and_the_others_go_on(fleet: list[Organization]) -> None:
    _break(fleet[1])
    _behind(*fleet)

    with pytest.raises(CommandError, match=r"1 tenant schemas failed: fleet-b$"):
        _run()

    states = _states()
    assert {"fleet-a", "fleet-c"} <= _current(states)
    assert states["fleet-b"][0] == OLD  # rolled back, still behind: the next run tries it again
    with pytest.raises(CommandError, match="fleet-b"):
        _run()
    _mend(fleet[1])
    assert "fleet-b ok" in _run()
    assert "fleet-b" in _current(_states())


def _environment() -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("DATABASE_", "HUB_DB_"))
    }
    environment.update(
        HUB_ENV="test",
        HUB_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        DATABASE_URL=session_database_url("default"),
        DATABASE_OWNER_URL=session_database_url(MIGRATION_ALIAS),
    )
    return environment


def test_a_killed_run_resumes_with_the_remaining_tenants(fleet: list[Organization]) -> None:
    _behind(*fleet)
    # The second tenant's migration history is locked: the run migrates and records one, then waits there.
    with psycopg.connect(session_database_url(MIGRATION_ALIAS)) as blocker:
        blocker.execute(f"LOCK TABLE {quote_schema_name(fleet[1].schema_name)}.django_migrations")
        run = subprocess.Popen(
            [sys.executable, "manage.py", "migrate_schemas", "--tenant"],
            cwd=ROOT,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:

            def waiting() -> (
                bool
            ):  # the run's backend (the owner role's, as the blocker is) waits on the lock
                blocker.execute("SELECT pg_stat_clear_snapshot()")
                row = blocker.execute(WAITING_SQL).fetchone()
                return bool(row and row[0]) or run.poll() is not None

            if not wait_until(waiting, seconds=60) or run.poll() is not None:
                run.kill()
                pytest.fail("the run never reached fleet-b: " + run.communicate(timeout=30)[0].decode())
            run.send_signal(signal.SIGKILL)  # a crash mid-way
            output = run.communicate(timeout=30)[0].decode()
            blocker.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        finally:
            if run.poll() is None:
                run.kill()
        blocker.rollback()
    assert "fleet-a ok" in output, output
    assert "fleet-b" not in output, output
    states = _states()
    assert "fleet-a" in _current(states)
    assert states["fleet-b"][0] == OLD
    assert states["fleet-c"][0] == OLD

    text = _run()

    assert "[tenants] migrating 2 tenant schemas ..." in text
    assert "[1/2 50%] fleet-b ok" in text
    assert "[2/2 100%] fleet-c ok" in text
    assert {tenant.slug for tenant in fleet} <= _current(_states())


def test_a_failing_canary_stops_the_run(fleet: list[Organization]) -> None:
    _break(fleet[0])
    _behind(*fleet)

    with pytest.raises(CommandError, match=r"canary failed \(fleet-a\): 2 tenant schemas not migrated"):
        _run(canary=1)
    assert not {tenant.slug for tenant in fleet} & _current(_states())

    _mend(fleet[0])
    text = _run(canary=2)
    assert "3 tenant schemas migrated" in text
    assert {tenant.slug for tenant in fleet} <= _current(_states())


@pytest.fixture
def staged_fleet(fleet: list[Organization]) -> list[Organization]:
    _break(fleet[1])
    return fleet


def test_two_workers_do_what_one_does(staged_fleet: list[Organization]) -> None:
    results = []
    for workers in (1, 2):
        _behind(*staged_fleet)
        with pytest.raises(CommandError) as failure:
            _run(workers=workers)
        states = _states()
        results.append((str(failure.value), _current(states) & {tenant.slug for tenant in staged_fleet}))
    assert results[0] == results[1] == ("1 tenant schemas failed: fleet-b", {"fleet-a", "fleet-c"})


def test_bad_options_are_refused() -> None:
    with pytest.raises(CommandError, match="--workers"):
        _run(workers=0)
    with pytest.raises(CommandError, match="nope"):
        call_command("migrate_schemas", slug="nope", stdout=StringIO())
