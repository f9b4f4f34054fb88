"""Walk each organization's audit chain: exit 0 when complete and unaltered, 1 naming the first break."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.audit.selectors import audit_chain_verify
from tenants.management.tenant_commands import tenant_argument_add, tenants_progress


class Command(BaseCommand):
    help = "Verify the hash-chained audit trail of every organization (or of one, --tenant SLUG)."

    def add_arguments(self, parser: CommandParser) -> None:
        tenant_argument_add(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        broken, checked = [], 0
        for tenant, progress in tenants_progress(options["slug"], stdout=self.stdout):
            with tenant_context(tenant), transaction.atomic():
                report = audit_chain_verify()
            checked += 1
            if report.ok:
                self.stdout.write(f"{progress}: {report.entries} entries ok")
            else:
                broken.append(tenant.slug)
                self.stdout.write(
                    f"{progress}: BROKEN at entry {report.first_broken} "
                    f"({report.reason}); {report.entries} entries before it ok"
                )
        if broken:
            raise CommandError(f"Audit trail broken in: {', '.join(broken)}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{checked} audit trails complete and unaltered"))
