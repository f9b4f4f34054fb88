"""Recompute each organization's balances from its postings: exit 0 when all agree, 1 naming each mismatch."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.ledger.selectors import ledger_verify
from tenants.models import Organization


class Command(BaseCommand):
    help = (
        "Verify the ledger of every organization (or of one, --tenant SLUG): maintained balances equal "
        "the sums of their postings, and every transaction sums to zero in its one currency."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", dest="slug", help="Only this organization (its slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Organization.objects.order_by("slug")
        if options["slug"]:
            tenants = tenants.filter(slug=options["slug"])
            if not tenants.exists():
                raise CommandError(f"No organization has the slug {options['slug']!r}.")
        total, broken, started = tenants.count(), [], time.monotonic()
        for index, tenant in enumerate(tenants, start=1):
            with tenant_context(tenant), transaction.atomic():
                report = ledger_verify()
            progress = f"[{index}/{total} {100 * index // max(total, 1)}%] {tenant.slug}"
            summary = f"{report.accounts} accounts, {report.transactions} transactions"
            elapsed = f"{time.monotonic() - started:.1f}s elapsed"
            if report.ok:
                self.stdout.write(f"{progress}: {summary} ok, {elapsed}")
                continue
            broken.append(tenant.slug)
            self.stdout.write(f"{progress}: MISMATCH in {summary}, {elapsed}")
            for problem in [*report.balance_mismatches, *report.unbalanced_transactions]:
                self.stdout.write(f"    {problem}")
        if broken:
            raise CommandError(f"Ledger mismatch in: {', '.join(broken)}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{total} ledgers balanced and matching their postings"))
