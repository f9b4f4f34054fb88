"""Posted transfers per second: ``POST /api/v1/transactions/`` over HTTP, and the service layer alone.

``make bench-ledger`` (or ``.venv/bin/python bench/ledger_post.py --help``):

1. prepare a database of its own (embedded ``hub_ledger_bench`` unless ``DATABASE_URL`` is set):
   migrate, provision the ``ledgerbench`` organization when missing;
2. HTTP: start gunicorn as ``make run`` does (``platform/gunicorn.conf.py``, audit on), open
   ``--accounts`` accounts, then for each concurrency level (1 and 16 by default) keep that many
   keep-alive clients posting transfers (2 postings each, a unique ``Idempotency-Key`` per request)
   for ``--seconds``;
3. service: the same transfers through ``apps.ledger.services.transaction_create_idempotent`` in
   ``--service-levels`` threads of one process (each its own connection, its own pool of
   ``--accounts`` accounts opened for the run), without HTTP;
4. print a table and write ``bench/results/ledger_post.json`` (throughput, p50/p95/p99 latency).

Client ``i`` (an HTTP client, or a thread of the service run) moves money between accounts ``2i`` and
``2i+1`` of a pool of ``--accounts`` (default 32, so 16 clients never wait for each other's account
locks). ``--accounts 2`` is the worst case: every
transfer then locks the same two rows until it commits, and the ledger serializes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.entities_list import (
    PYTHON,
    RESULTS_DIR,
    BenchError,
    Variant,
    gunicorn_server,
    latency_summary,
    log,
    run,
    token_mint,
)

BENCH_DATABASE = "hub_ledger_bench"
TENANT_SLUG = "ledgerbench"
TENANT_ID = uuid.UUID("00000000-0000-4000-8000-00000000be05")
RESULTS_FILE = RESULTS_DIR / "ledger_post.json"
HUB = Variant("hub", "the Hub as deployed (audit on)", "hub.settings")


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env["HUB_ENV"] = "dev"
    if not env.get("DATABASE_URL"):
        env["HUB_EMBEDDED_DATABASE"] = BENCH_DATABASE
    env.setdefault("HUB_LOG_FORMAT", "json")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def prepare(env: dict[str, str]) -> None:
    log("preparing the bench database: migrate_schemas ...")
    run([PYTHON, "manage.py", "migrate_schemas"], env, what="migrate_schemas")
    existing = json.loads(run([PYTHON, "-m", "bench.prepare", "tenants", TENANT_SLUG], env, what="tenants"))
    if existing.get(TENANT_SLUG) is None:
        provision = [PYTHON, "manage.py", "provision_tenant", "--skip-identity-check"]
        provision += ["--organization-id", str(TENANT_ID), "--slug", TENANT_SLUG, "--name", "Ledger bench"]
        run(provision, env, what="provision_tenant")


def transfer_body(accounts: list[Any], client: int) -> dict[str, Any]:
    """Client ``client``'s transfer: 1.25 from one account of its pair to the other."""
    source, target = accounts[(2 * client) % len(accounts)], accounts[(2 * client + 1) % len(accounts)]
    return {
        "description": "Bench transfer",
        "currency": "EUR",
        "postings": [{"account_id": target, "amount": "1.25"}, {"account_id": source, "amount": "-1.25"}],
    }


def summary(latencies_ms: list[float], errors: int, seconds: float, clients: int) -> dict[str, Any]:
    latencies_ms.sort()
    return {
        "clients": clients,
        "seconds": round(seconds, 2),
        "transfers": len(latencies_ms),
        "errors": errors,
        "transfers_per_second": round(len(latencies_ms) / seconds, 1),
        "latency_ms": {name: round(value, 2) for name, value in latency_summary(latencies_ms).items()},
    }


def load(post_one: Any, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` threads calling ``post_one(client_index)`` (True on success) for ``seconds``."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(index: int) -> None:
        start.wait()
        mine: list[float] = []
        failed = 0
        while time.monotonic() < deadline[0]:
            began = time.perf_counter()
            ok = post_one(index)
            if ok:
                mine.append((time.perf_counter() - began) * 1000)
            else:
                failed += 1
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    began = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join()
    return summary(latencies, errors[0], time.monotonic() - began, clients)


def http_measure(
    env: dict[str, str], levels: list[int], seconds: float, pool_size: int
) -> list[dict[str, Any]]:
    token = token_mint(env, TENANT_SLUG, "member")
    host = f"{TENANT_SLUG}.{env.get('HUB_BASE_DOMAIN', 'localhost')}"
    headers = {"Authorization": f"Bearer {token}", "Host": host}
    results = []
    with gunicorn_server(HUB, env) as server:
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as setup:
            suffix = uuid.uuid4().hex[:8]
            accounts = []
            for index in range(pool_size):
                body = {"code": f"{index}-{suffix}", "name": "Bench", "type": "asset", "currency": "EUR"}
                response = setup.post("/api/v1/transactions/accounts", json=body)
                if response.status_code != 201:
                    raise BenchError(f"opening an account answered {response.status_code}: {response.text}")
                accounts.append(response.json()["id"])
            body = transfer_body(accounts, 0)
            check = setup.post(
                "/api/v1/transactions/", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            if check.status_code != 201:
                raise BenchError(f"a transfer answered {check.status_code}: {check.text}")
            for _ in range(20):  # warm-up: every worker's first request pays for imports and connections
                setup.post("/api/v1/transactions/", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        for clients in levels:
            pool = [
                httpx.Client(base_url=server.base_url, headers=headers, timeout=30) for _ in range(clients)
            ]

            def post_one(index: int, pool: list[httpx.Client] = pool) -> bool:
                key = {"Idempotency-Key": uuid.uuid4().hex}
                response = pool[index].post(
                    "/api/v1/transactions/", json=transfer_body(accounts, index), headers=key
                )
                return response.status_code == 201

            log(f"HTTP, {clients} client(s), {seconds:.0f}s ...")
            results.append(load(post_one, clients, seconds))
            for client in pool:
                client.close()
    return results


def service_measure(env: dict[str, str], threads: int, seconds: float, pool_size: int) -> dict[str, Any]:
    """``service-run`` in a subprocess of its own (Django set up there, not in this load generator)."""
    args = [PYTHON, "bench/ledger_post.py", "service-run", "--threads", str(threads)]
    args += ["--seconds", str(seconds), "--accounts", str(pool_size)]
    return dict(json.loads(run(args, env, what="service-run", timeout=seconds + 300)))


def service_run(threads: int, seconds: float, pool_size: int) -> dict[str, Any]:
    """In-process: Django set up, the same transfers through the service, each thread its connection."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    from django.db import connections
    from django_tenants.utils import tenant_context

    from apps.ledger import services
    from tenants.models import Organization, User

    tenant = Organization.objects.get(slug=TENANT_SLUG)
    actor, _ = User.objects.get_or_create(id=uuid.UUID(int=0xBE05), defaults={"email": "bench@example.com"})
    suffix = uuid.uuid4().hex[:8]
    with tenant_context(tenant):
        accounts = [
            services.account_create(
                actor=actor, code=f"{index}-svc-{suffix}", name="Bench", type="asset", currency="EUR"
            ).id
            for index in range(pool_size)
        ]
    # Thread i moves money between accounts 2i and 2i+1 of the pool, as HTTP client i does.
    requests = [transfer_body(accounts, index) for index in range(threads)]

    def render(txn: Any, *_postings: Any) -> dict[str, Any]:  # (txn) before issue 12, (txn, postings) after
        return {"id": str(txn.id), "state": txn.state}

    local = threading.local()

    def post_one(index: int) -> bool:
        if not getattr(local, "entered", False):
            local.context = tenant_context(tenant)
            local.context.__enter__()
            local.entered = True
        services.transaction_create_idempotent(
            actor=actor, key=uuid.uuid4().hex, request=requests[index], render=render
        )
        return True

    result = load(post_one, threads, seconds)
    connections.close_all()
    return result


def table_print(report: dict[str, Any]) -> None:
    header = ("path", "clients", "transfers/s", "p50 ms", "p95 ms", "p99 ms", "errors")
    print(f"{header[0]:<10} " + " ".join(f"{name:>11}" for name in header[1:]))
    for path, rows in (("http", report["http"]), ("service", report["service"])):
        for row in rows:
            latency = row["latency_ms"]
            figures = (row["transfers_per_second"], latency["p50"], latency["p95"], latency["p99"])
            print(
                f"{path:<10} {row['clients']:>11} "
                + " ".join(f"{value:>11.1f}" for value in figures)
                + f" {row['errors']:>11}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="all", choices=["all", "service-run"])
    parser.add_argument("--levels", default="1,16", help="HTTP concurrency levels (default 1,16)")
    parser.add_argument("--seconds", type=float, default=15.0, help="per level (default 15)")
    parser.add_argument("--threads", type=int, default=0, help="service-run: threads")
    parser.add_argument("--service-levels", default="1,16", help="service-layer threads (default 1,16)")
    parser.add_argument("--accounts", type=int, default=32, help="account pool (default 32; 2: one hot pair)")
    options = parser.parse_args(argv)
    if options.mode == "service-run":
        print(json.dumps(service_run(options.threads, options.seconds, options.accounts)))
        return 0
    env = bench_env()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    try:
        prepare(env)
        levels = [int(level) for level in options.levels.split(",")]
        report: dict[str, Any] = {
            "http": http_measure(env, levels, options.seconds, options.accounts),
            "service": [],
        }
        for threads in (int(level) for level in options.service_levels.split(",")):
            log(f"service layer, {threads} thread(s), {options.seconds:.0f}s ...")
            report["service"].append(service_measure(env, threads, options.seconds, options.accounts))
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 2
    report["machine_cores"] = os.cpu_count()
    report["accounts"] = options.accounts
    RESULTS_FILE.write_text(json.dumps(report, indent=2) + "\n")
    table_print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
