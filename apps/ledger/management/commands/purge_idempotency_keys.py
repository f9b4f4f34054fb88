"""Delete idempotency keys past their 24 hours in every organization (a daily cron job)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.ledger.services import IDEMPOTENCY_KEY_TTL, idempotency_keys_purge
from tenants.models import Organization


class Command(BaseCommand):
    help = "Delete ledger idempotency keys older than --hours (at least 24) in every organization."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=int, default=IDEMPOTENCY_KEY_TTL // timedelta(hours=1))

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Organization.objects.order_by("slug")
        total = tenants.count()
        for index, tenant in enumerate(tenants, start=1):
            with tenant_context(tenant), transaction.atomic():
                deleted = idempotency_keys_purge(older_than=timedelta(hours=options["hours"]))
            self.stdout.write(
                f"[{index}/{total} {100 * index // max(total, 1)}%] {tenant.slug}: {deleted} keys deleted"
            )
