"""Bench-only helper run by ``bench/entities_list.py`` in a subprocess: ``python -m bench.prepare ...``.

It runs with the Hub's own settings (``hub.settings``) against the bench database, and prints one JSON
document on stdout:

* ``tenants SLUG...``: the organization (id, schema) of each slug, or null when it is not provisioned;
* ``seed --slug S --live N --deleted D``: make the organization hold exactly N live and D soft-deleted
  entities (bulk insert, idempotent: nothing is written when the counts already match), then
  ``VACUUM ANALYZE`` its entities table so the planner and the visibility map are settled before the
  measurement, rather than autovacuum waking up in the middle of it.

Writes go through the runtime role, the per-transaction tenant context and row-level security, as the
Hub's own writes do; only the ``VACUUM ANALYZE`` runs as the owner role (it needs to own the table).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

ADJECTIVES = [
    "Acme", "Blue", "Northern", "Golden", "Rapid", "Silver", "Green", "Prime", "Urban", "Coastal",
    "Summit", "Bright", "Pioneer", "Atlas", "Crown", "Delta", "Evergreen", "Harbor", "Liberty", "Nova",
]  # fmt: skip
NOUNS = [
    "Logistics", "Foods", "Systems", "Textiles", "Motors", "Pharma", "Energy", "Builders", "Media",
    "Analytics", "Farms", "Robotics", "Outfitters", "Holdings", "Labs", "Partners", "Works", "Trading",
]  # fmt: skip
SUFFIXES = ["Ltd", "Inc", "GmbH", "SA", "BV", "LLC", "plc", "Co"]
TAGS = ["vip", "eu", "us", "apac", "wholesale", "retail", "priority", "dormant", "partner", "b2b", "new"]
COUNTRIES = ["GB", "FR", "DE", "NL", "US", "ES", "IT", "JP", "BR", "IN"]
SEGMENTS = ["enterprise", "mid-market", "smb", "public-sector"]


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()


def tenants_describe(slugs: list[str]) -> dict[str, Any]:
    from tenants.models import Organization

    found: dict[str, Any] = {}
    for slug in slugs:
        tenant = Organization.objects.filter(slug=slug).first()
        found[slug] = (
            None
            if tenant is None
            else {"organization_id": str(tenant.organization_id), "schema_name": tenant.schema_name}
        )
    return found


@contextmanager
def _timestamps_as_given() -> Iterator[None]:
    """Let ``bulk_create`` keep the ``created_at``/``updated_at`` we set (spread over a year)."""
    from apps.entities.models import Entity

    created = Entity._meta.get_field("created_at")
    updated = Entity._meta.get_field("updated_at")
    saved = (created.auto_now_add, updated.auto_now)
    created.auto_now_add = False
    updated.auto_now = False
    try:
        yield
    finally:
        created.auto_now_add, updated.auto_now = saved


def _entities(slug: str, live: int, deleted: int, kinds: list[str]) -> list[Any]:
    from django.utils import timezone

    from apps.entities.models import Entity

    rng = random.Random(f"hub-bench-{slug}")  # the same data on every machine
    now = timezone.now()
    entities = []
    for index in range(live + deleted):
        created_at = now - timedelta(seconds=rng.randrange(365 * 24 * 3600))
        updated_at = created_at + (now - created_at) * rng.random()
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(SUFFIXES)}"
        domain = name.split()[0].lower() + name.split()[1].lower()
        entities.append(
            Entity(
                kind_id=kinds[index % len(kinds)],
                name=f"{name} #{index}",
                reference=f"{slug.upper()}-{index:06d}",
                email=f"contact{index}@{domain}.example" if rng.random() < 0.8 else "",
                phone=f"+44 20 7946 {rng.randrange(10_000):04d}" if rng.random() < 0.6 else "",
                attributes={
                    "country": rng.choice(COUNTRIES),
                    "segment": rng.choice(SEGMENTS),
                    "employees": rng.randrange(1, 50_000),
                },
                status="active" if rng.random() < 0.9 else "inactive",
                tags=rng.sample(TAGS, rng.randrange(0, 4)),
                created_at=created_at,
                updated_at=updated_at,
                deleted_at=updated_at if index >= live else None,
            )
        )
    return entities


def entities_seed(slug: str, live: int, deleted: int) -> dict[str, Any]:
    from django.db import connections, transaction
    from django_tenants.utils import tenant_context

    from apps.entities.models import Entity, EntityKind, EntityRelation
    from tenants.models import Organization
    from tenants.routers import MIGRATION_ALIAS

    tenant = Organization.objects.get(slug=slug)
    seeded = False
    with tenant_context(tenant), transaction.atomic():
        current_live = Entity.objects.filter(deleted_at__isnull=True).count()
        current_total = Entity.objects.count()
        if (current_live, current_total) != (live, live + deleted):
            EntityRelation.objects.all().delete()
            Entity.objects.all().delete()
            kinds = list(
                EntityKind.objects.filter(builtin=True).order_by("key").values_list("key", flat=True)
            )
            with _timestamps_as_given():
                Entity.objects.bulk_create(_entities(slug, live, deleted, kinds), batch_size=2_000)
            seeded = True
        live_now = Entity.objects.filter(deleted_at__isnull=True).count()
        total_now = Entity.objects.count()

    # VACUUM refuses to run in a transaction block; the owner's raw connection is in autocommit here.
    owner = connections[MIGRATION_ALIAS]
    owner.ensure_connection()
    raw = owner.connection
    raw.autocommit = True
    table = f'"{tenant.schema_name}"."{Entity._meta.db_table}"'
    raw.execute(f"VACUUM ANALYZE {table}")
    return {
        "slug": slug,
        "organization_id": str(tenant.organization_id),
        "schema_name": tenant.schema_name,
        "seeded_now": seeded,
        "live": live_now,
        "total": total_now,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prepare")
    commands = parser.add_subparsers(dest="command", required=True)
    describe = commands.add_parser("tenants")
    describe.add_argument("slugs", nargs="+")
    seed = commands.add_parser("seed")
    seed.add_argument("--slug", required=True)
    seed.add_argument("--live", type=int, required=True)
    seed.add_argument("--deleted", type=int, default=0)
    args = parser.parse_args(argv)

    _django_setup()
    if args.command == "tenants":
        result = tenants_describe(args.slugs)
    else:
        result = entities_seed(args.slug, args.live, args.deleted)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
