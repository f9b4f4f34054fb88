"""Purge every organization's soft-deleted rows older than its retention policies, with progress."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django_tenants.utils import tenant_context

from apps.privacy.services import retention_apply
from tenants.management.tenant_commands import tenant_argument_add, tenants_progress


class Command(BaseCommand):
    help = (
        "Apply the retention policies of every organization (or of one, --tenant SLUG): purge the "
        "soft-deleted rows older than the policy. Safe to re-run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        tenant_argument_add(parser)
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be purged; purge nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verb = "would purge" if options["dry_run"] else "purged"
        purged = 0
        for tenant, progress in tenants_progress(options["slug"], stdout=self.stdout):
            with tenant_context(tenant):
                results = retention_apply(dry_run=options["dry_run"])
            if not results:
                self.stdout.write(f"{progress}: no retention policy")
            for result in results:
                purged += result.purged
                kept = f", {len(result.kept)} kept (still referenced)" if result.kept else ""
                self.stdout.write(
                    f"{progress}: {result.model} ({result.days} days): {result.purged} {verb}{kept}"
                )
        self.stdout.write(self.style.SUCCESS(f"{purged} rows {verb} in all"))
