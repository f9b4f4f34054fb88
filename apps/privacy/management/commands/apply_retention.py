"""Purge every organization's soft-deleted rows older than its retention policies, with progress."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django_tenants.utils import tenant_context

from apps.privacy.services import PURGE_BATCH, PurgeResult, retention_apply
from tenants.management.tenant_commands import tenant_argument_add, tenants_progress


def _positive(value: str) -> int:
    number = int(value) if value.isdigit() else 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {value!r}")
    return number


class Command(BaseCommand):
    help = (
        "Apply the retention policies of every organization (or of one, --tenant SLUG): purge the "
        "soft-deleted rows older than the policy, one committed batch at a time. Safe to interrupt "
        "and re-run: it goes on with what is left."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        tenant_argument_add(parser)
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be purged; purge nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=PURGE_BATCH,
            help=f"Rows purged per transaction (default {PURGE_BATCH}): requests of the organization "
            "wait at most one batch for the audit trail.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verb = "would purge" if options["dry_run"] else "purged"
        purged = 0
        for tenant, progress in tenants_progress(options["slug"], stdout=self.stdout):

            def batch_done(result: PurgeResult, progress: str = progress) -> None:
                self.stdout.write(
                    f"{progress}: {result.model} batch {result.batches}: {result.purged} purged so far"
                )

            with tenant_context(tenant):
                results = retention_apply(
                    dry_run=options["dry_run"], batch_size=options["batch_size"], on_batch=batch_done
                )
            if not results:
                self.stdout.write(f"{progress}: no retention policy")
            for result in results:
                purged += result.purged
                kept = f", {len(result.kept)} kept (still referenced)" if result.kept else ""
                self.stdout.write(
                    f"{progress}: {result.model} ({result.days} days): {result.purged} {verb}{kept}"
                )
        self.stdout.write(self.style.SUCCESS(f"{purged} rows {verb} in all"))
