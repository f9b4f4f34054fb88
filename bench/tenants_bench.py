"""Ten thousand organizations on one database: provisioning, routing, fleet migrations, catalog and
backend memory at that scale (issue 17).

``make bench-tenants`` (or ``.venv/bin/python bench/tenants_bench.py [--tenants N] [--workers W]
[--fill-only | --skip-fill]``):

1. prepare a database of its own (embedded ``hub_bench_tenants`` unless ``DATABASE_URL`` is set):
   ``migrate_schemas`` (which builds the template schema);
2. fill it to N organizations (``BENCH_TENANTS``, default 10,000) by clone, each with a little data
   (three entities, one ledger account), in W processes (default 2), each organization committed on
   its own: an interrupted fill resumes where it stopped (the organizations present are counted, only
   the rest is made), printing progress and an estimate of the time left;
3. measure, with N present: provisioning p50/p95 of ``--runs`` more organizations through
   ``tenants.services.tenant_provision`` (then deleted); routing (``tenant_for_host``, the host ->
   organization lookup of ``TenantRoutingMiddleware``) with its cache cold and warm; the wall time of
   a no-op ``migrate_schemas``; the catalog's size; a backend's private memory after touching 1,000
   tenant schemas (``bench/backend_memory.py``'s measure);
4. print the figures and write ``bench/results/tenants.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.django_setup import ROOT, django_setup, percentile

RESULTS_FILE = ROOT / "bench" / "results" / "tenants.json"
BENCH_DATABASE = "hub_bench_tenants"
SLUG_PREFIX = "bt-"
ROUTING_LOOKUPS = 2_000
MEMORY_SCHEMAS = 1_000


def _summary(seconds: list[float], *, unit: float = 1000.0, suffix: str = "ms") -> dict[str, float]:
    return {
        f"p50_{suffix}": round(statistics.median(seconds) * unit, 3),
        f"p95_{suffix}": round(percentile(seconds, 0.95) * unit, 3),
        f"max_{suffix}": round(max(seconds) * unit, 3),
        "runs": len(seconds),
    }


def _provision(*, slug_prefix: str) -> Any:
    from tenants.services import tenant_provision

    organization_id = uuid.uuid4()
    return tenant_provision(
        organization_id=organization_id,
        slug=f"{slug_prefix}{organization_id.hex[:12]}",
        name="Bench",
        check_identity=False,
    )


def _data_add(tenant: Any) -> None:
    """A little data, as an organization that has just started: three entities, one ledger account."""
    from django.db import transaction
    from django_tenants.utils import tenant_context

    from apps.entities.models import Entity, EntityKind
    from apps.ledger.models import Account

    with tenant_context(tenant), transaction.atomic():
        kind = EntityKind.objects.filter(builtin=True).order_by("key").values_list("key", flat=True)[0]
        Entity.objects.bulk_create(
            Entity(kind_id=kind, name=f"Customer {index}", reference=f"C-{index:04d}") for index in range(3)
        )
        Account.objects.create(code="1000", name="Cash", type=Account.Type.ASSET, currency="EUR")


def _fill_worker(count: int) -> None:
    for _ in range(count):
        _data_add(_provision(slug_prefix=SLUG_PREFIX))


def _fill(target: int, workers: int) -> dict[str, Any]:
    """Bring the organizations present to ``target``, in ``workers`` processes; resumable."""
    from tenants.models import Organization

    present = Organization.objects.count()
    missing = max(0, target - present)
    if not missing:
        return {"present_before": present, "made": 0, "seconds": 0.0}
    shares = [missing // workers + (1 if index < missing % workers else 0) for index in range(workers)]
    command = [sys.executable, str(Path(__file__).resolve()), "--fill-worker"]
    processes = [subprocess.Popen([*command, str(share)]) for share in shares if share]
    started, made = time.monotonic(), 0
    print(f"filling {present} -> {target} organizations in {len(processes)} processes", flush=True)
    while any(process.poll() is None for process in processes):
        time.sleep(15)
        made = Organization.objects.count() - present
        elapsed = time.monotonic() - started
        rate = made / elapsed if elapsed else 0.0
        eta = (missing - made) / rate if rate else float("inf")
        print(
            f"  {present + made}/{target} organizations, {rate:.2f}/s, about {eta / 60:.0f} min left",
            flush=True,
        )
    failed = [process.returncode for process in processes if process.returncode]
    if failed:
        raise SystemExit(f"a fill process failed ({failed}): run again to resume")
    seconds = time.monotonic() - started
    return {"present_before": present, "made": missing, "seconds": round(seconds, 1)}


def _provisioning(runs: int) -> dict[str, Any]:
    from tenants.services import tenant_delete

    timings, made = [], []
    for _ in range(runs):
        started = time.perf_counter()
        made.append(_provision(slug_prefix="bench-p-"))
        timings.append(time.perf_counter() - started)
    for tenant in made:
        tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))
    return _summary(timings)


def _routing() -> dict[str, Any]:
    """``tenant_for_host`` on random hosts among those present: cold (the routes forgotten before each
    lookup: one query) and warm (the same host again: the process's cache)."""
    from tenants.models import Domain
    from tenants.selectors import tenant_for_host, tenant_routes_forget

    hosts = list(Domain.objects.values_list("domain", flat=True))
    picked = random.Random(17).choices(hosts, k=ROUTING_LOOKUPS)
    cold, warm = [], []
    for host in picked:
        tenant_routes_forget()
        started = time.perf_counter()
        assert tenant_for_host(host=host) is not None
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        tenant_for_host(host=host)
        warm.append(time.perf_counter() - started)
    return {
        "cold": _summary(cold, unit=1e6, suffix="us"),
        "warm": _summary(warm, unit=1e6, suffix="us"),
    }


def _migrate_noop() -> dict[str, Any]:
    """``migrate_schemas`` with every organization at the head, in a process of its own (as run)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate_schemas", "-v0"],
        check=True,
        stdout=subprocess.DEVNULL,
        env=os.environ,
    )
    return {"seconds": round(time.perf_counter() - started, 1)}


_CATALOG_SQL = """
SELECT (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'org\\_%%'),
       (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_attribute),
       (SELECT count(*) FROM pg_depend), pg_database_size(current_database()),
       (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
         WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'r')
"""


def _catalog() -> dict[str, Any]:
    from django.db import connections

    from tenants.routers import MIGRATION_ALIAS

    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(_CATALOG_SQL)
        schemas, classes, attributes, depends, database, catalog = cursor.fetchone()
        cursor.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
            " WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'r' ORDER BY 2 DESC LIMIT 6"
        )
        largest = {name: round(int(size) / 2**20, 1) for name, size in cursor.fetchall()}
    return {
        "tenant_schemas": schemas,
        "pg_class_rows": classes,
        "pg_attribute_rows": attributes,
        "pg_depend_rows": depends,
        "database_mib": round(int(database) / 2**20, 1),
        "catalog_mib": round(int(catalog) / 2**20, 1),
        "largest_catalog_tables_mib": largest,
    }


def _backend_memory() -> dict[str, Any]:
    """A fresh owner connection reads three tables of each of 1,000 tenant schemas (as
    ``bench/backend_memory.py``): its backend's private memory before and after."""
    import psycopg
    from django.db import connections
    from psycopg import sql

    from bench.backend_memory import TABLES, private_kib
    from tenants.routers import MIGRATION_ALIAS

    params = connections[MIGRATION_ALIAS].get_connection_params()
    params = {key: value for key, value in params.items() if key not in ("cursor_factory", "context")}
    with psycopg.connect(**params, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pid = row[0]
        schemas = [
            name
            for (name,) in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'org\\_%%' ORDER BY 1 LIMIT %s",
                [MEMORY_SCHEMAS],
            )
        ]
        before = private_kib(pid)
        started = time.perf_counter()
        for schema in schemas:
            for table in TABLES:
                conn.execute(
                    sql.SQL("SELECT 1 FROM {}.{} WHERE false").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )
        elapsed = time.perf_counter() - started
        after = private_kib(pid)
    return {
        "schemas_touched": len(schemas),
        "before_mib": round(before / 1024, 1),
        "after_mib": round(after / 1024, 1),
        "kib_per_schema": round((after - before) / len(schemas)),
        "ms_per_schema": round(elapsed * 1000 / len(schemas), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tenants", type=int, default=10_000, help="Organizations present (10,000).")
    parser.add_argument("--workers", type=int, default=2, help="Fill processes (default 2).")
    parser.add_argument("--runs", type=int, default=20, help="Organizations provisioned and timed (20).")
    parser.add_argument("--fill-only", action="store_true", help="Fill, measure nothing.")
    parser.add_argument("--skip-fill", action="store_true", help="Measure with what is present.")
    parser.add_argument("--fill-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    django_setup(BENCH_DATABASE)
    if args.fill_worker is not None:
        _fill_worker(args.fill_worker)
        return
    from django.core.management import call_command

    from tenants.models import Organization
    from tenants.template import template_state

    call_command("migrate_schemas", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert template_state().current, "migrate_schemas should have built the template"
    fill = None if args.skip_fill else _fill(args.tenants, args.workers)
    if args.fill_only:
        return
    results: dict[str, Any] = {"organizations_present": Organization.objects.count(), "fill": fill}
    results["provisioning"] = _provisioning(args.runs)
    results["routing"] = _routing()
    results["migrate_schemas_noop"] = _migrate_noop()
    results["catalog"] = _catalog()
    results["backend_memory"] = _backend_memory()
    print(json.dumps(results, indent=2))
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
