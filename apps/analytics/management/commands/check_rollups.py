"""Compare the analytics rollups with a recomputation from the base tables: exit 1 naming the first
difference."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.analytics.services import rollups_first_difference
from tenants.models import Organization


class Command(BaseCommand):
    help = (
        "Check the analytics rollups of every organization (or of one, --tenant SLUG) against a "
        "recomputation from the ledger, bookings and entities; exit 1 naming the first difference."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", dest="slug", help="Only this organization (its slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Organization.objects.order_by("slug")
        if options["slug"]:
            tenants = tenants.filter(slug=options["slug"])
            if not tenants.exists():
                raise CommandError(f"No organization has the slug {options['slug']!r}.")
        broken = []
        for tenant in tenants:
            # Each rollup is compared with its base tables in one statement, so in one snapshot.
            with tenant_context(tenant), transaction.atomic():
                difference = rollups_first_difference()
            if difference is None:
                self.stdout.write(f"{tenant.slug}: rollups match the base tables")
                continue
            broken.append(tenant.slug)
            self.stdout.write(f"{tenant.slug}: DIFFERENCE {difference}")
        if broken:
            raise CommandError(f"Rollups differ from the base tables in: {', '.join(broken)}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{tenants.count()} organizations' rollups match"))
