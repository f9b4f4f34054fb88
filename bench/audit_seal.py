"""Sealing a large batch of audit entries: 0003's seal (one UPDATE per entry, each checked by a row
trigger) against 0006's (one UPDATE per batch, checked once per statement), side by side (issue 16).

``.venv/bin/python bench/audit_seal.py [--entries 100000]``: its own database (embedded
``hub_bench_audit_seal`` unless ``DATABASE_URL`` is set), migrated; two organizations provisioned, and
in one of them the owner puts 0003's seal back (0006's reverse SQL); ``--entries`` unsealed entries
written in each (INSERT ... SELECT as the runtime role, as a bulk import leaves them), ``VACUUM
ANALYZE``, then what ``audit_seal_pending`` does per batch (``audit_seal_batch`` then
``audit_unsealed_exists``) alternately in one organization and the other, so both see the same load
of the machine. Prints each path's total, the speed-up and that both chains verify; the organizations
are deleted afterwards.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.django_setup import django_setup

BENCH_DATABASE = "hub_bench_audit_seal"

# Entries shaped like an entity import's: a create with its changes, one request per thousand.
INSERT_SQL = """
INSERT INTO audit_auditentry (object_pk, object_repr, action, changes_text, changes, object_type,
    request_id, user_agent, actor_email, "timestamp", content_type_id, remote_addr, additional_data)
SELECT gen_random_uuid()::text, 'Entity ' || g, 0, '',
       jsonb_build_object('name', jsonb_build_array(NULL, 'Entity ' || g),
                          'kind', jsonb_build_array(NULL, 'customer')),
       'entities.entity', 'bench-' || (g / 1000), 'bench', 'bench@example.com', now(), %s, '10.0.0.1',
       '{"import": true}'::jsonb
FROM generate_series(1, %s) g
"""


def _as_owner(tenant: Any, sql: str) -> None:
    """Run ``sql`` in ``tenant``'s schema as the owner role, in a transaction."""
    from django.db import connections, transaction

    from tenants.db import tenant_connection
    from tenants.routers import MIGRATION_ALIAS

    owner = tenant_connection(MIGRATION_ALIAS)
    owner.set_tenant(tenant)
    try:
        with transaction.atomic(using=MIGRATION_ALIAS), connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute(sql)
    finally:
        owner.set_schema_to_public()


def _vacuum(tenant: Any) -> None:
    """``VACUUM ANALYZE`` the trail as its owner: settled before the measurement, rather than autovacuum
    waking up in the middle of it (VACUUM refuses a transaction block: the owner's raw connection, in
    autocommit)."""
    from django.db import connections

    from tenants.routers import MIGRATION_ALIAS

    owner = connections[MIGRATION_ALIAS]
    owner.ensure_connection()
    raw = owner.connection
    raw.autocommit = True
    raw.execute(f'VACUUM ANALYZE "{tenant.schema_name}".audit_auditentry')


def _organization_with_entries(label: str, entries: int, *, old_seal: bool) -> Any:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.entities.models import Entity
    from tenants.services import tenant_provision

    tenant = tenant_provision(
        organization_id=uuid.uuid4(),
        slug=f"seal-{label}-{uuid.uuid4().hex[:6]}",
        name=label,
        check_identity=False,
    )
    if old_seal:
        migration = importlib.import_module("apps.audit.migrations.0006_seal_set_based")
        _as_owner(tenant, migration.REVERSE_SQL)
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute(INSERT_SQL, [ContentType.objects.get_for_model(Entity).pk, entries])
    _vacuum(tenant)
    return tenant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=100_000, help="Unsealed entries per organization.")
    args = parser.parse_args()
    django_setup(BENCH_DATABASE)
    from django.core.management import call_command
    from django_tenants.utils import tenant_context

    from apps.audit.selectors import audit_chain_verify
    from apps.audit.services import audit_seal_batch, audit_unsealed_exists
    from tenants.services import tenant_delete

    call_command("migrate_schemas", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    tenants = {
        "0003 (one UPDATE per entry)": _organization_with_entries("old", args.entries, old_seal=True),
        "0006 (one UPDATE per batch)": _organization_with_entries("new", args.entries, old_seal=False),
    }
    seconds = dict.fromkeys(tenants, 0.0)
    sealing = list(tenants)
    try:
        while sealing:
            for path in list(sealing):
                with tenant_context(tenants[path]):
                    started = time.perf_counter()
                    audit_seal_batch()
                    left = audit_unsealed_exists()
                    seconds[path] += time.perf_counter() - started
                if not left:
                    sealing.remove(path)
        for path, tenant in tenants.items():
            with tenant_context(tenant):
                report = audit_chain_verify()
            verdict = "verifies" if report.ok and report.entries == args.entries else "DOES NOT VERIFY"
            print(f"{path}: {args.entries} entries sealed in {seconds[path]:.2f} s; the chain {verdict}")
        old, new = seconds.values()
        print(f"speed-up: {old / new:.2f}x")
    finally:
        for tenant in tenants.values():
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))


if __name__ == "__main__":
    main()
