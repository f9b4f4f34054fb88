"""Profile the per-request cost of the whole stack, in process: ``python -m bench.profile_request``.

Serves GET requests through Django's test client (every middleware: host routing, token verification,
the request transaction, the per-transaction tenant context, row-level security, read auditing) against
an organization of the configured database (``HUB_EMBEDDED_DATABASE=...`` or ``DATABASE_URL``), and
prints for each path (the kinds list, a page of 50 entities, one entity's detail, plus any ``--path``)
the CPU seconds this process spent per request, the wall time per request and
the SQL statements Django sent per request (plus, not counted there, one ``set_config`` per
transaction: the tenant context). With ``--profile`` it
also prints the cProfile of one of them (``--profile-path``, default the detail read), the functions
sorted by cumulative time.

Warm-up requests first (caches, connections), then ``--requests`` measured ones per path.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import time
import uuid
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slug", default="bench", help="The organization's slug (default: bench).")
    parser.add_argument("--requests", type=int, default=300, help="Measured requests per path.")
    parser.add_argument("--profile", action="store_true", help="Print the cProfile of one path's read.")
    parser.add_argument(
        "--profile-path", default="detail", help="Which path --profile profiles (a name; default: detail)."
    )
    parser.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="Another GET path to measure, e.g. resources=/api/v1/scheduling/resources?limit=50.",
    )
    parser.add_argument("--only", default="", help="Comma-separated names: measure only these paths.")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import tenant_context

    from apps.entities.models import Entity
    from tenants.management.commands.mint_dev_token import dev_token_mint
    from tenants.models import Organization

    tenant = Organization.objects.get(slug=args.slug)
    with tenant_context(tenant):
        entity_id = Entity.objects.values_list("id", flat=True).first()
    token = dev_token_mint(
        tenant_id=tenant.organization_id,
        roles=["viewer"],
        user_id=uuid.UUID(int=0xBE),
        email="",
        ttl_seconds=3600,
    )
    client = Client(headers={"Host": tenant.primary_domain, "Authorization": f"Bearer {token}"})
    paths = {
        "kinds": "/api/v1/entities/kinds",
        "list": "/api/v1/entities/?limit=50",
        "detail": f"/api/v1/entities/{entity_id}",
    }
    paths.update(dict(extra.split("=", 1) for extra in args.path))
    if args.only:
        paths = {name: path for name, path in paths.items() if name in args.only.split(",")}
    if args.profile and args.profile_path not in paths:
        parser.error(
            f"--profile-path {args.profile_path!r} is not one of the paths measured: {', '.join(paths)}"
        )

    results: dict[str, Any] = {}
    for name, path in paths.items():
        for _ in range(20):
            assert client.get(path).status_code == 200, path
        statements: list[str] = []

        def statement_log(execute: Any, sql: str, *rest: Any, log: list[str] = statements) -> Any:
            log.append(sql)
            return execute(sql, *rest)

        with connection.execute_wrapper(statement_log):
            client.get(path)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.requests):
            client.get(path)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        results[name] = {
            "path": path,
            "cpu_ms_per_request": round(cpu * 1000 / args.requests, 3),
            "wall_ms_per_request": round(wall * 1000 / args.requests, 3),
            "statements_per_request": len(statements),
            "statements": [sql[:100] for sql in statements],
        }
    print(json.dumps(results, indent=2))
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.requests):
            client.get(paths[args.profile_path])
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
