"""Recompute the analytics rollups from the base tables, a committed batch at a time (resumable)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from apps.analytics.recompute import ROLLUPS
from apps.analytics.services import rollups_rebuild
from tenants.models import Organization


class Command(BaseCommand):
    help = (
        "Rebuild the analytics rollups of every organization (or of one, --tenant SLUG) from the ledger, "
        "bookings and entities: --batch-size keys (accounts, resources, entity kinds) per committed batch. "
        "Each batch can run again; --after TABLE:KEY (printed with every batch) resumes an interrupted run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", dest="slug", help="Only this organization (its slug).")
        parser.add_argument(
            "--batch-size", type=int, default=100, help="Keys per committed batch (default 100)."
        )
        parser.add_argument("--after", help="Resume after this batch key (TABLE:KEY, with --tenant).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        after = _after(options["after"], slug=options["slug"])
        tenants = Organization.objects.order_by("slug")
        if options["slug"]:
            tenants = tenants.filter(slug=options["slug"])
            if not tenants.exists():
                raise CommandError(f"No organization has the slug {options['slug']!r}.")
        started = time.monotonic()
        for tenant in tenants:
            with tenant_context(tenant):
                for done in rollups_rebuild(batch_size=options["batch_size"], after=after):
                    self.stdout.write(
                        f"{tenant.slug} {done.table} batch {done.number}/{done.batches}: {done.rows} rows, "
                        f"{time.monotonic() - started:.1f}s (resume: --tenant {tenant.slug} "
                        f"--after {done.table}:{done.last_key})"
                    )
            self.stdout.write(self.style.SUCCESS(f"{tenant.slug}: rollups rebuilt"))


def _after(value: str | None, *, slug: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    table, _, key = value.partition(":")
    if not slug or table not in {rollup.table for rollup in ROLLUPS} or not key:
        raise CommandError("--after takes TABLE:KEY as a rebuild printed it, with --tenant.")
    return table, key
