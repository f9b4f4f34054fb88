"""``make loadtest``: frontend-like users against the Hub served as in production, with locust.

Settings (environment): ``LOADTEST_USERS`` (default 1000), ``LOADTEST_TENANTS`` (5),
``LOADTEST_DURATION`` (``10m``; ``90s``, ``2m``...), ``LOADTEST_SPAWN_RATE`` (users started per second,
default users / 30, so all are running after ~30 s), ``LOADTEST_ENTITIES`` (live entities per
organization, default 2000). ``bench/README.md`` explains what it does and how to read it. In short:

1. its own database (embedded ``hub_loadtest`` unless ``DATABASE_URL`` is set): migrate, provision the
   ``loadtest1``... organizations when missing and seed their entities (``bench.prepare``);
2. one token per user, shaped as the identity service issues them (no roles: ``tokens``, below, runs
   ``mint_dev_token``'s ``dev_token_mint`` in a Django subprocess), and one admin token per organization;
3. gunicorn as ``make run`` starts it (``platform/gunicorn.conf.py``) on a free loopback port; through
   the API, each user is made a ``member`` and each organization gets accounts and bookable resources;
4. locust, headless (``bench/loadtest/locustfile.py``), for the duration; the server's CPU (gunicorn's
   processes and its PostgreSQL backends, from ``/proc``) is read before and after;
5. a table on stdout and ``bench/results/loadtest.json``; the server is stopped whatever happens.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.entities_list import (
    PYTHON,
    RESULTS_DIR,
    ROOT,
    VENV_BIN,
    BenchError,
    Variant,
    bench_env,
    git_revision,
    gunicorn_server,
    latency_summary,
    log,
    processes_cpu_seconds,
    run,
)

BENCH_DATABASE = "hub_loadtest"
RESULTS_FILE = RESULTS_DIR / "loadtest.json"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
HUB = Variant("loadtest", "the Hub as deployed", "hub.settings")
ACCOUNTS = 10  # per organization
RESOURCES = 3  # per organization, open 07:00-19:00 UTC every day
SETUP_THREADS = 8
USER_NAMESPACE = uuid.UUID("6c1f0d3e-2b1a-4a53-9d55-6c6f61647465")


def duration_seconds(text: str) -> int:
    """``600``, ``90s``, ``10m``, ``1h``, ``1m30s`` -> seconds (locust's own format)."""
    parts = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*", text)
    if not parts or not any(parts.groups()):
        raise BenchError(f"LOADTEST_DURATION={text!r} is not a duration such as 90s, 2m or 10m")
    hours, minutes, seconds = (int(value or 0) for value in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def options_read() -> dict[str, int]:
    users = int(os.environ.get("LOADTEST_USERS", "1000"))
    options = {
        "users": users,
        "tenants": int(os.environ.get("LOADTEST_TENANTS", "5")),
        "seconds": duration_seconds(os.environ.get("LOADTEST_DURATION", "10m")),
        "spawn_rate": int(os.environ.get("LOADTEST_SPAWN_RATE", str(max(users // 30, 1)))),
        "entities": int(os.environ.get("LOADTEST_ENTITIES", "2000")),
    }
    if min(options.values()) < 1 or options["users"] > 5000 or options["seconds"] > 3 * 3600:
        raise BenchError(f"out of bounds (1..5000 users, at most 3 h): {options}")
    return options


def loadtest_env() -> dict[str, str]:
    """``make bench``'s environment (dev settings, JSON logs), on a database of the load test's own."""
    env = bench_env()
    if not env.get("DATABASE_URL"):
        env["HUB_EMBEDDED_DATABASE"] = BENCH_DATABASE
    return env


def database_name(env: dict[str, str]) -> str | None:
    url = env.get("DATABASE_URL")
    return urlsplit(url).path.lstrip("/") or None if url else BENCH_DATABASE


def slugs(count: int) -> list[str]:
    return [f"loadtest{index + 1}" for index in range(count)]


def prepare(env: dict[str, str], options: dict[str, int]) -> None:
    """Migrate; provision and seed the organizations (``bench.prepare``, idempotent)."""
    log("preparing the loadtest database: migrate_schemas ...")
    run([PYTHON, "manage.py", "migrate_schemas"], env, what="migrate_schemas")
    wanted = slugs(options["tenants"])
    existing = json.loads(run([PYTHON, "-m", "bench.prepare", "tenants", *wanted], env, what="tenants"))
    for index, slug in enumerate(wanted):
        if existing.get(slug) is None:
            log(f"provisioning organization {slug} ...")
            provision = [PYTHON, "manage.py", "provision_tenant", "--skip-identity-check"]
            provision += ["--organization-id", str(uuid.uuid5(USER_NAMESPACE, slug)), "--slug", slug]
            provision += ["--name", f"Loadtest {index + 1}"]
            run(provision, env, what=f"provision_tenant {slug}")
        seed = [PYTHON, "-m", "bench.prepare", "seed", "--slug", slug, "--live", str(options["entities"])]
        info = json.loads(run(seed, env, what=f"seeding {slug}"))
        state = "seeded now" if info["seeded_now"] else "already seeded"
        log(f"  {slug}: {info['live']:,} live entities ({state})")


def tokens_mint(env: dict[str, str], options: dict[str, int]) -> dict[str, Any]:
    """This script's ``tokens`` command in a Django subprocess: one admin token per organization and
    one role-less token per user (user ``i`` belongs to organization ``i mod tenants``)."""
    command = [
        PYTHON,
        str(Path(__file__).resolve()),
        "tokens",
        str(options["users"]),
        *slugs(options["tenants"]),
    ]
    return dict(json.loads(run(command, env, what="minting tokens")))


def tokens_command(users: int, tenant_slugs: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    from tenants.management.commands.mint_dev_token import dev_token_mint
    from tenants.models import Organization

    ttl = 6 * 3600
    organizations = {slug: Organization.objects.get(slug=slug).organization_id for slug in tenant_slugs}
    admins = {
        slug: dev_token_mint(
            tenant_id=organization_id,
            roles=["admin"],
            user_id=uuid.uuid5(USER_NAMESPACE, f"admin-{slug}"),
            email=f"admin@{slug}.example",
            ttl_seconds=ttl,
        )
        for slug, organization_id in organizations.items()
    }
    people = []
    for index in range(users):
        slug = tenant_slugs[index % len(tenant_slugs)]
        user_id = uuid.uuid5(USER_NAMESPACE, f"user-{index}")
        token = dev_token_mint(
            tenant_id=organizations[slug],
            roles=[],
            user_id=user_id,
            email=f"user{index}@{slug}.example",
            ttl_seconds=ttl,
        )
        people.append({"tenant": slug, "user_id": str(user_id), "token": token})
    sys.stdout.write(json.dumps({"admins": admins, "users": people}) + "\n")


def _checked(response: httpx.Response, expected: int, what: str) -> Any:
    if response.status_code != expected:
        raise BenchError(f"{what} answered {response.status_code}: {response.text[:300]}")
    return response.json() if response.content else None


def tenant_setup(base_url: str, host: str, admin_token: str, members: list[str]) -> dict[str, Any]:
    """Through the API, as the organization's admin: memberships, accounts, resources; a sample of ids."""
    headers = {"Host": host, "Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:

        def member_put(user_id: str) -> None:
            _checked(client.put(f"/api/v1/members/{user_id}", json={"role": "member"}), 200, "PUT member")

        with ThreadPoolExecutor(SETUP_THREADS) as pool:
            list(pool.map(member_put, members))

        accounts = {
            item["code"]: item["id"]
            for item in _checked(client.get("/api/v1/transactions/accounts?limit=100"), 200, "accounts")[
                "items"
            ]
        }
        for index in range(ACCOUNTS):
            code = f"LT{index}"
            if code not in accounts:
                body = {"code": code, "name": f"Loadtest {index}", "type": "asset", "currency": "EUR"}
                accounts[code] = _checked(
                    client.post("/api/v1/transactions/accounts", json=body), 201, "account"
                )["id"]
        rooms = {
            item["name"]: item["id"]
            for item in _checked(client.get("/api/v1/scheduling/resources?limit=100"), 200, "resources")[
                "items"
            ]
        }
        weekly = [{"weekday": day, "start": "07:00", "end": "19:00"} for day in range(7)]
        for index in range(RESOURCES):
            name = f"Loadtest room {index}"
            if name not in rooms:
                body = {"kind": "room", "name": name, "timezone": "UTC"}
                rooms[name] = _checked(
                    client.post("/api/v1/scheduling/resources", json=body), 201, "resource"
                )["id"]
                availability = client.put(
                    f"/api/v1/scheduling/resources/{rooms[name]}/availability",
                    json={"weekly": weekly, "exceptions": []},
                )
                _checked(availability, 200, "availability")
        entities: list[str] = []
        for offset in (0, 100):
            page = _checked(client.get(f"/api/v1/entities/?limit=100&offset={offset}"), 200, "entities")
            entities += [item["id"] for item in page["items"]]
    return {
        "host": host,
        "accounts": [accounts[f"LT{index}"] for index in range(ACCOUNTS)],
        "resources": [rooms[f"Loadtest room {index}"] for index in range(RESOURCES)],
        "entities": entities,
    }


def summarise(samples: dict[str, list[list[Any]]], seconds: float) -> dict[str, Any]:
    def block(rows: list[list[Any]]) -> dict[str, Any]:
        outcomes: dict[str, int] = {}
        for _, outcome in rows:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        latencies = sorted(float(row[0]) for row in rows)
        errors = {name: count for name, count in outcomes.items() if name not in ("ok", "conflict")}
        return {
            "requests": len(rows),
            "requests_per_second": round(len(rows) / seconds, 1),
            "ok": outcomes.get("ok", 0),
            "conflicts": outcomes.get("conflict", 0),
            "errors": sum(errors.values()),
            "error_kinds": errors,
            "latency_ms": {name: round(value, 1) for name, value in latency_summary(latencies).items()},
        }

    operations = {name: block(rows) for name, rows in sorted(samples.items())}
    overall = block([row for rows in samples.values() for row in rows])
    return {"operations": operations, "overall": overall}


def table_print(report: dict[str, Any]) -> None:
    config = report["config"]
    header = f"{'operation':<16} {'requests':>9} {'req/s':>7}" + "".join(
        f" {title:>8}" for title in ("p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "409")
    )
    print(
        f"\nmake loadtest: {config['users']} users over {config['tenants']} organizations, "
        f"{config['seconds']} s, commit {report['git_revision']}"
    )
    print(header)
    print("-" * len(header))
    rows = [*report["results"]["operations"].items(), ("overall", report["results"]["overall"])]
    for name, row in rows:
        latency = row["latency_ms"]
        figures = [latency[key] for key in ("p50", "p95", "p99", "max")]
        print(
            f"{name:<16} {row['requests']:>9} {row['requests_per_second']:>7.1f}"
            + "".join(f" {value:>8.1f}" for value in figures)
            + f" {row['errors']:>8} {row['conflicts']:>8}"
        )
    cpu = report["server_cpu"]
    print(
        f"\nserver CPU per request: {cpu['gunicorn_ms_per_request']} ms gunicorn + "
        f"{cpu['postgres_ms_per_request']} ms PostgreSQL backends; cores used: gunicorn "
        f"{cpu['gunicorn_cores']}, postgres {cpu['postgres_cores']}, locust {cpu['locust_cores']}"
    )
    errors = report["results"]["overall"]["error_kinds"]
    if errors:
        print(f"errors: {errors}")
    print(f"JSON: {RESULTS_FILE.relative_to(ROOT)}")


def main() -> int:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    env = loadtest_env()
    try:
        options = options_read()
        started_at = datetime.now(UTC)
        revision = git_revision()  # what is measured: the tree as the server starts ("-dirty": edits on top)
        prepare(env, options)
        minted = tokens_mint(env, options)
        keepalive_env = {key: env[key] for key in ("HUB_KEEPALIVE",) if key in env}
        with gunicorn_server(
            Variant(HUB.name, HUB.description, HUB.settings_module, keepalive_env), env
        ) as server:
            base_domain = env.get("HUB_BASE_DOMAIN", "localhost").lower().rstrip(".")
            tenants = {}
            for slug in slugs(options["tenants"]):
                members = [person["user_id"] for person in minted["users"] if person["tenant"] == slug]
                log(f"setting up {slug}: {len(members)} members, accounts, resources ...")
                tenants[slug] = tenant_setup(
                    server.base_url, f"{slug}.{base_domain}", minted["admins"][slug], members
                )
            plan_path = RESULTS_DIR / "loadtest-plan.json"
            samples_path = RESULTS_DIR / "loadtest-samples.json"
            plan_path.write_text(json.dumps({"tenants": tenants, "users": minted["users"]}))
            samples_path.unlink(missing_ok=True)
            command = [
                str(VENV_BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "--only-summary",
                "--users", str(options["users"]), "--spawn-rate", str(options["spawn_rate"]),
                "--run-time", f"{options['seconds']}s", "--stop-timeout", "10",
                "--host", server.base_url, "--loglevel", "WARNING", "--exit-code-on-error", "0",
            ]  # fmt: skip
            locust_env = {**env, "LOADTEST_PLAN": str(plan_path), "LOADTEST_SAMPLES": str(samples_path)}
            database = database_name(env)  # whose PostgreSQL backends are the server's
            users, rate, seconds = options["users"], options["spawn_rate"], options["seconds"]
            log(f"locust: {users} users, spawn rate {rate}/s, {seconds} s ...")
            gunicorn_before, postgres_before = processes_cpu_seconds(server.process.pid, database)
            usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.monotonic()
            completed = subprocess.run(
                command, cwd=ROOT, env=locust_env, capture_output=True, text=True,
                timeout=options["seconds"] + 180, check=False,
            )  # fmt: skip
            wall = time.monotonic() - began
            gunicorn_after, postgres_after = processes_cpu_seconds(server.process.pid, database)
            usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if completed.returncode != 0 or not samples_path.exists():
                raise BenchError(f"locust failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
    except BenchError as exc:
        log(f"loadtest failed: {exc}")
        return 1
    results = summarise(json.loads(samples_path.read_text()), wall)
    requests = results["overall"]["requests"] or 1
    gunicorn_cpu = (gunicorn_after or 0.0) - (gunicorn_before or 0.0)
    postgres_cpu = (postgres_after or 0.0) - (postgres_before or 0.0)
    locust_cpu = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    report = {
        "benchmark": "loadtest",
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_revision": revision,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "config": {
            **options,
            "think_time_seconds": [1, 5],
            "workers": int(env.get("HUB_WORKERS", str((os.cpu_count() or 1) * 2))),
            "threads": int(env.get("HUB_THREADS", "4")),
            "keepalive": env.get("HUB_KEEPALIVE", "gunicorn.conf.py default"),
            "database": "DATABASE_URL (caller's)"
            if env.get("DATABASE_URL")
            else f"embedded {BENCH_DATABASE}",
        },
        "wall_seconds": round(wall, 1),
        "results": results,
        "server_cpu": {
            "gunicorn_seconds": round(gunicorn_cpu, 2),
            "postgres_seconds": round(postgres_cpu, 2),
            "gunicorn_ms_per_request": round(gunicorn_cpu / requests * 1000, 2),
            "postgres_ms_per_request": round(postgres_cpu / requests * 1000, 2),
            "gunicorn_cores": round(gunicorn_cpu / wall, 2),
            "postgres_cores": round(postgres_cpu / wall, 2),
            "locust_cores": round(locust_cpu / wall, 2),
        },
        "locust_summary": completed.stdout[-4000:],
    }
    RESULTS_FILE.write_text(json.dumps(report, indent=2) + "\n")
    table_print(report)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["tokens"]:
        tokens_command(int(sys.argv[2]), sys.argv[3:])
        sys.exit(0)
    sys.exit(main())
