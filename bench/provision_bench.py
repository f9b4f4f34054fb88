"""Provisioning time: by cloning the template schema vs by running every migration (issue 17).

``make bench-provision`` (or ``.venv/bin/python bench/provision_bench.py [--runs N] [--keep]``):

1. prepare a database of its own (embedded ``hub_bench_provision`` unless ``DATABASE_URL`` is set):
   ``migrate_schemas`` (which builds the template schema when it is missing or behind);
2. provision N organizations by clone (``HUB_TENANT_TEMPLATE`` on) and N by migrations (off),
   interleaved, each through ``tenants.services.tenant_provision`` as the platform API does (row, data
   key, schema, RLS, domain, audit entry: one owner transaction), timing each call;
3. delete them again (unless ``--keep``: then they stay, and the next run measures with more present;
   ``--present N`` first clones organizations until N exist, and keeps those),
   print p50/p95/max per path and the organizations present, and write
   ``bench/results/provision.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.django_setup import ROOT, django_setup, percentile

RESULTS_FILE = ROOT / "bench" / "results" / "provision.json"
BENCH_DATABASE = "hub_bench_provision"


def _summary(seconds: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 1),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
        "runs": len(seconds),
    }


def _provision_timed(*, by_clone: bool) -> tuple[Any, float]:
    from django.test import override_settings

    from tenants.services import tenant_provision

    organization_id = uuid.uuid4()
    with override_settings(HUB_TENANT_TEMPLATE=by_clone):
        started = time.perf_counter()
        tenant = tenant_provision(
            organization_id=organization_id,
            slug=f"bench-{'c' if by_clone else 'm'}-{organization_id.hex[:10]}",
            name="Bench",
            check_identity=False,
        )
        return tenant, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20, help="Organizations per path (default 20).")
    parser.add_argument("--keep", action="store_true", help="Keep the organizations made.")
    parser.add_argument(
        "--present", type=int, default=0, help="First clone organizations until this many exist (kept)."
    )
    args = parser.parse_args()
    django_setup(BENCH_DATABASE)
    from django.core.management import call_command

    from tenants.models import Organization
    from tenants.services import tenant_delete
    from tenants.template import template_state

    call_command("migrate_schemas", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert template_state().current, "migrate_schemas should have built the template"
    while Organization.objects.count() < args.present:
        _provision_timed(by_clone=True)
    present = Organization.objects.count()
    made: list[Any] = []
    timings: dict[str, list[float]] = {"clone": [], "migrations": []}
    for _ in range(args.runs):
        for path, by_clone in (("clone", True), ("migrations", False)):
            tenant, seconds = _provision_timed(by_clone=by_clone)
            made.append(tenant)
            timings[path].append(seconds)
    if not args.keep:
        for tenant in made:
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))
    results = {
        "organizations_present_before": present,
        **{path: _summary(seconds) for path, seconds in timings.items()},
    }
    for path in ("clone", "migrations"):
        row = results[path]
        p50, p95, slowest = row["p50_ms"], row["p95_ms"], row["max_ms"]
        print(f"{path:>10}: p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   max {slowest:8.1f} ms")
    print(f"organizations present before: {present}")
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
