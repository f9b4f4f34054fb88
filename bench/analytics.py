"""Latency of the analytics reads (issue 15): the dashboard and one-year daily time series of an
organization with 1,000,000 ledger postings and 100,000 bookings, over HTTP, as in production.

``make bench-analytics`` (or ``.venv/bin/python bench/analytics.py --help``):

1. a database of its own (embedded ``hub_bench_an`` unless ``DATABASE_URL`` is set): migrate, provision
   ``anbench``, seed it once through the runtime role and row-level security, in batches of
   ``INSERT ... SELECT generate_series`` (the rollup triggers run as for any write), then time
   ``rebuild_rollups`` and ``check_rollups`` on it;
2. gunicorn as ``make run`` starts it (``platform/gunicorn.conf.py``), one answer of each read checked,
   then 1, 8 and 32 keep-alive clients per read (wrk, or
   the Python load generator of ``bench/entities_list.py`` where wrk is not installed);
3. a table of p50/p95 and requests per second, written to ``bench/results/analytics.json`` too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.entities_list import (  # noqa: E402 - the project root first
    PYTHON,
    RESULTS_DIR,
    BenchError,
    Variant,
    gunicorn_server,
    load_generator_choose,
    log,
    run,
    token_mint,
)

DATABASE = "hub_bench_an"
SLUG = "anbench"
ORGANIZATION_ID = uuid.UUID("00000000-0000-4000-8000-0000000a0001")
TRANSACTIONS = 500_000  # two postings each
BOOKINGS_PER_RESOURCE = 2_000
RESOURCES = 50
BATCH = 50_000
LEVELS = (1, 8, 32)
TARGET_P95_MS = 50.0
READS = {
    "dashboard": "/api/v1/analytics/dashboard?from=2025-06-01&to=2025-06-30",
    "ledger.income daily, 1 year": (
        "/api/v1/analytics/timeseries?metric=ledger.income&currency=EUR&interval=day&from=2025-01-01&to=2025-12-31"
    ),
    "bookings.count daily, 1 year": (
        "/api/v1/analytics/timeseries?metric=bookings.count&interval=day&from=2025-01-01&to=2025-12-31"
    ),
}

ACCOUNTS_SQL = """
INSERT INTO ledger_account (id, code, name, type, currency, archived, balance, pending_balance,
                            created_at, updated_at)
SELECT gen_random_uuid(), 'A' || lpad(i::text, 2, '0'), 'Account ' || i,
       CASE WHEN i <= 20 THEN 'asset' WHEN i <= 35 THEN 'income' ELSE 'expense' END, 'EUR', false, 0, 0,
       now(), now()
FROM generate_series(1, 50) AS i
"""
TRANSACTIONS_SQL = """
INSERT INTO ledger_transaction (id, description, currency, effective_date, state, created_at, updated_at)
SELECT md5('t' || n)::uuid, 'bench', 'EUR', date '2025-01-01' + (n %% 730), 'posted', now(), now()
FROM generate_series(%(lo)s, %(hi)s) AS n
"""
# Asset account n %% 20 against income (n %% 30 < 15: money in) or expense (money out).
POSTINGS_SQL = """
WITH acc AS (
    SELECT array_agg(id ORDER BY code) FILTER (WHERE type = 'asset') AS assets,
           array_agg(id ORDER BY code) FILTER (WHERE type <> 'asset') AS others
    FROM ledger_account
)
INSERT INTO ledger_posting (transaction_id, account_id, amount)
SELECT md5('t' || n)::uuid, leg.account, leg.amount
FROM acc, generate_series(%(lo)s, %(hi)s) AS n,
LATERAL (SELECT ((n %% 1000) + 1)::numeric / 100 AS amount, n %% 30 < 15 AS income) AS a,
LATERAL (VALUES (acc.assets[1 + n %% 20], CASE WHEN a.income THEN a.amount ELSE -a.amount END),
                (acc.others[1 + n %% 30], CASE WHEN a.income THEN -a.amount ELSE a.amount END))
     AS leg(account, amount)
"""
BALANCES_SQL = """
UPDATE ledger_account a SET balance = s.total, pending_balance = s.total
FROM (SELECT account_id, sum(amount) AS total FROM ledger_posting GROUP BY account_id) s
WHERE a.id = s.account_id
"""
RESOURCES_SQL = """
INSERT INTO scheduling_resource (id, kind, name, timezone, capacity, created_at, updated_at)
SELECT gen_random_uuid(), 'room', 'Room ' || i, 'Europe/Berlin', 1, now(), now()
FROM generate_series(1, %(n)s) AS i;
INSERT INTO scheduling_availabilityrule (resource_id, weekday, start, "end")
SELECT r.id, d, time '08:00', time '20:00' FROM scheduling_resource r, generate_series(0, 4) AS d
"""
# One hour every eight, each resource shifted by five minutes per rank: no two overlap on one resource.
BOOKINGS_SQL = """
INSERT INTO scheduling_booking (id, resource_id, resource_key, exclusive, start_at, end_at, status, notes,
                                created_at, updated_at)
SELECT gen_random_uuid(), r.id, r.key, true, t.start_at, t.start_at + interval '1 hour', 'confirmed', '',
       now(), now()
FROM (SELECT id, key, row_number() OVER (ORDER BY id) AS rank FROM scheduling_resource) r,
     generate_series(%(lo)s, %(hi)s) AS k,
     LATERAL (SELECT timestamptz '2025-01-01 06:00Z' + k * interval '8 hours' + r.rank * interval '5 minutes'
              AS start_at) t
"""


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env["HUB_ENV"] = "dev"
    if not env.get("DATABASE_URL"):
        env["HUB_EMBEDDED_DATABASE"] = DATABASE
    env.setdefault("HUB_LOG_FORMAT", "json")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def seed() -> dict[str, Any]:
    """In the bench organization, through the runtime role: its data unless already there (JSON out)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    from django.db import connection, connections, transaction
    from django_tenants.utils import tenant_context

    from tenants.models import Organization
    from tenants.routers import MIGRATION_ALIAS

    timings: dict[str, Any] = {"seeded_now": False}

    def _exists(sql: str, params: dict[str, Any] | None = None) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() is not None

    with tenant_context(Organization.objects.get(slug=SLUG)):
        # Each step is skipped when done, so an interrupted seeding resumes where it stopped.
        started = time.monotonic()
        if not _exists("SELECT 1 FROM ledger_account"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(ACCOUNTS_SQL)
        for lo in range(1, TRANSACTIONS + 1, BATCH):
            bounds = {"lo": lo, "hi": min(lo + BATCH - 1, TRANSACTIONS)}
            if _exists("SELECT 1 FROM ledger_transaction WHERE id = md5('t' || %(hi)s)::uuid", bounds):
                continue
            timings["seeded_now"] = True
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(TRANSACTIONS_SQL, bounds)
                cursor.execute(POSTINGS_SQL, bounds)
                cursor.execute(BALANCES_SQL)
            print(f"  postings {2 * bounds['hi']:,}", file=sys.stderr, flush=True)
        timings["ledger_seconds"] = time.monotonic() - started
        started = time.monotonic()
        if not _exists("SELECT 1 FROM scheduling_resource"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(RESOURCES_SQL, {"n": RESOURCES})
        if not _exists("SELECT 1 FROM scheduling_booking"):
            timings["seeded_now"] = True
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(BOOKINGS_SQL, {"lo": 0, "hi": BOOKINGS_PER_RESOURCE - 1})
        timings["bookings_seconds"] = time.monotonic() - started
        # What autovacuum would do after such a load; as the owner (the runtime role owns no table).
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute("ANALYZE")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM ledger_posting), (SELECT count(*) FROM scheduling_booking)"
            )
            postings, bookings = cursor.fetchone()
    return {"postings": postings, "bookings": bookings, **timings}


def prepare(env: dict[str, str]) -> dict[str, Any]:
    log("preparing the bench database: migrate_schemas ...")
    run([PYTHON, "manage.py", "migrate_schemas"], env, what="migrate_schemas", timeout=1800)
    listing = json.loads(run([PYTHON, "-m", "bench.prepare", "tenants", SLUG], env, what="listing tenants"))
    if listing.get(SLUG) is None:
        log(f"provisioning organization {SLUG} ...")
        run(
            [
                *(PYTHON, "manage.py", "provision_tenant", "--skip-identity-check"),
                *("--organization-id", str(ORGANIZATION_ID), "--slug", SLUG, "--name", "Analytics bench"),
            ],
            env,
            what="provision_tenant",
        )
    log("seeding (once): 1,000,000 postings and 100,000 bookings ...")
    seeded = json.loads(run([PYTHON, "bench/analytics.py", "seed"], env, what="seeding", timeout=3600))
    log(f"  {seeded}")
    timings: dict[str, Any] = {"seed": seeded}
    for command in (["rebuild_rollups", "--batch-size", "10"], ["check_rollups"]):
        started = time.monotonic()
        run([PYTHON, "manage.py", *command, "--tenant", SLUG], env, what=command[0], timeout=3600)
        timings[command[0] + "_seconds"] = round(time.monotonic() - started, 1)
        log(f"  {command[0]}: {timings[command[0] + '_seconds']}s")
    return timings


def load(generator: Any, url: str, headers: dict[str, str], *, clients: int, seconds: int) -> dict[str, Any]:
    """One level: ``clients`` keep-alive clients for ``seconds`` (wrk, or Python threads without it)."""
    raw = generator.run(url, headers, clients, seconds)
    return {
        "clients": clients,
        "requests": raw.completed,
        "rps": round(raw.completed / raw.seconds, 1),
        "non200": raw.non200,
        **{f"{p}_ms": round(raw.latency_ms[p], 1) for p in ("p50", "p95", "p99")},
    }


def measure(env: dict[str, str], *, seconds: int, levels: tuple[int, ...]) -> list[dict[str, Any]]:
    import httpx

    token = token_mint(env, SLUG, "viewer")
    headers = {
        "Host": f"{SLUG}.{env.get('HUB_BASE_DOMAIN', 'localhost')}",
        "Authorization": f"Bearer {token}",
    }
    rows = []
    generator = load_generator_choose("auto")
    log(f"load generator: {generator.description}")
    with gunicorn_server(Variant("hub", "the Hub as in production", "hub.settings"), env) as server:
        for name, path in READS.items():
            answer = httpx.get(server.base_url + path, headers=headers, timeout=30)
            if answer.status_code != 200:
                raise BenchError(f"{name}: {answer.status_code} {answer.text[:300]}")
            for _ in range(20):  # warm-up: imports, connections, plans
                httpx.get(server.base_url + path, headers=headers, timeout=30)
            for clients in levels:
                row = {
                    "read": name,
                    **load(generator, server.base_url + path, headers, clients=clients, seconds=seconds),
                }
                log(
                    f"  {name:32} c={clients:3} p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
                    f"{row['rps']:8.1f} req/s  non-200 {row['non200']}"
                )
                rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", choices=["run", "seed"], default="run")
    parser.add_argument(
        "--seconds", type=int, default=10, help="wrk duration per read and level (default 10)"
    )
    parser.add_argument(
        "--levels", default=",".join(map(str, LEVELS)), help="concurrent clients (default 1,8,32)"
    )
    args = parser.parse_args()
    if args.command == "seed":
        print(json.dumps(seed()))
        return 0
    env = bench_env()
    prepared = prepare(env)
    rows = measure(env, seconds=args.seconds, levels=tuple(int(x) for x in args.levels.split(",")))
    RESULTS_DIR.mkdir(exist_ok=True)
    result = {
        "prepared": prepared,
        "rows": rows,
        "load_generator": "wrk" if shutil.which("wrk") else "python-httpx",
        "target_p95_ms": TARGET_P95_MS,
        "cpus": os.cpu_count(),
    }
    (RESULTS_DIR / "analytics.json").write_text(json.dumps(result, indent=2))
    worst = max(row["p95_ms"] for row in rows)
    log(f"worst p95 {worst} ms (target {TARGET_P95_MS} ms); written to bench/results/analytics.json")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        log(f"bench failed: {error}")
        sys.exit(1)
