"""Walk each organization's audit chain: exit 0 when complete and unaltered, 1 naming the first break."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.audit.selectors import audit_chain_verify
from tenants.models import Organization


class Command(BaseCommand):
    help = "Verify the hash-chained audit trail of every organization (or of one, --tenant SLUG)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", dest="slug", help="Only this organization (its slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Organization.objects.order_by("slug")
        if options["slug"]:
            tenants = tenants.filter(slug=options["slug"])
            if not tenants.exists():
                raise CommandError(f"No organization has the slug {options['slug']!r}.")
        total, broken = tenants.count(), []
        for index, tenant in enumerate(tenants, start=1):
            with tenant_context(tenant), transaction.atomic():
                report = audit_chain_verify()
            if report.ok:
                self.stdout.write(f"[{index}/{total}] {tenant.slug}: {report.entries} entries ok")
            else:
                broken.append(tenant.slug)
                self.stdout.write(
                    f"[{index}/{total}] {tenant.slug}: BROKEN at entry {report.first_broken} "
                    f"({report.reason}); {report.entries} entries before it ok"
                )
        if broken:
            raise CommandError(f"Audit trail broken in: {', '.join(broken)}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{total} audit trails complete and unaltered"))
