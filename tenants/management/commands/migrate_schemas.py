"""Migrate the shared schema, then every tenant schema (securing each under RLS), with progress."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from tenants.ddl import public_schema_migrate, tenant_schema_migrate
from tenants.management.tenant_commands import tenants_progress
from tenants.models import Organization
from tenants.routers import MIGRATION_ALIAS
from tenants.template import TEMPLATE_SCHEMA, template_ensure


class Command(BaseCommand):
    help = "Migrate the shared schema and every tenant schema (as the owner role), with progress."
    # The system checks would refuse to start while the tenant template is behind: this command rebuilds it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shared", action="store_true", help="Only the shared (public) schema.")
        parser.add_argument("--tenant", action="store_true", help="Only the tenant schemas.")
        parser.add_argument("--schema", "-s", dest="slug", help="Only this tenant (its slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = int(options["verbosity"])
        only_shared, only_tenant, slug = options["shared"], options["tenant"], options["slug"]
        if not only_tenant and not slug:
            self.stdout.write("[shared] migrating public ...")
            shared_started = time.monotonic()
            public_schema_migrate(verbosity=max(verbosity - 1, 0), stdout=self.stdout)
            elapsed = time.monotonic() - shared_started
            self.stdout.write(self.style.SUCCESS(f"[shared] done in {elapsed:.1f}s"))
        if only_shared:
            return
        if not slug:
            count = Organization.objects.using(MIGRATION_ALIAS).count()
            self.stdout.write(f"[tenants] migrating {count} tenant schemas ...")
        started = time.monotonic()
        migrated = 0
        for tenant, progress in tenants_progress(slug, stdout=self.stdout, using=MIGRATION_ALIAS):
            with transaction.atomic(using=MIGRATION_ALIAS):
                tables = tenant_schema_migrate(
                    tenant=tenant, verbosity=max(verbosity - 1, 0), stdout=self.stdout
                )
            migrated += 1
            self.stdout.write(
                f"{progress} ({tenant.schema_name}): {tables} tables under RLS, "
                f"{time.monotonic() - started:.1f}s elapsed"
            )
        if not slug:  # the template schema provisioning clones, rebuilt when the migrations changed
            state = template_ensure()
            self.stdout.write(f"[template] {TEMPLATE_SCHEMA} {state.status} ({state.expected[:12]})")
        self.stdout.write(self.style.SUCCESS(f"{migrated} tenant schemas migrated"))
