"""Migrate the shared schema, then the tenant schemas behind the code (securing each under RLS), with
progress; see ``tenants.fleet`` for the per-tenant record, workers, canary and the expand/contract rule."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.ddl import public_schema_migrate
from tenants.fleet import fleet_fingerprint, fleet_migrate, fleet_progress, tenants_behind
from tenants.models import Organization
from tenants.routers import MIGRATION_ALIAS
from tenants.template import TEMPLATE_SCHEMA, template_ensure


class Command(BaseCommand):
    help = (
        "Migrate the shared schema and every tenant schema whose recorded migration state is behind the "
        "code (as the owner role), in parallel with --workers, with progress; resumable."
    )
    # The system checks would refuse to start while the tenant template is behind: this command rebuilds it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shared", action="store_true", help="Only the shared (public) schema.")
        parser.add_argument("--tenant", action="store_true", help="Only the tenant schemas.")
        parser.add_argument(
            "--schema", "-s", dest="slug", help="Only this tenant (its slug), even if current."
        )
        parser.add_argument(
            "--all", action="store_true", dest="every", help="Every tenant, even those recorded as current."
        )
        parser.add_argument("--workers", type=int, default=1, help="Tenants migrated at once (processes).")
        parser.add_argument(
            "--canary", type=int, default=0, help="Migrate this many tenants first; stop if any fails."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = int(options["verbosity"])
        only_shared, only_tenant, slug = options["shared"], options["tenant"], options["slug"]
        workers, canary = options["workers"], options["canary"]
        if workers < 1 or canary < 0:
            raise CommandError("--workers must be at least 1 and --canary at least 0.")
        if not only_tenant and not slug:
            self.stdout.write("[shared] migrating public ...")
            shared_started = time.monotonic()
            public_schema_migrate(verbosity=max(verbosity - 1, 0), stdout=self.stdout)
            elapsed = time.monotonic() - shared_started
            self.stdout.write(self.style.SUCCESS(f"[shared] done in {elapsed:.1f}s"))
        if only_shared:
            return
        fingerprint = fleet_fingerprint()
        if slug or options["every"]:
            tenants = list(Organization.objects.using(MIGRATION_ALIAS).order_by("slug"))
            if slug:
                tenants = [tenant for tenant in tenants if tenant.slug == slug]
                if not tenants:
                    raise CommandError(f"No organization has the slug {slug!r}.")
        else:
            tenants = tenants_behind(fingerprint=fingerprint)  # one query: who needs work
        self.stdout.write(f"[tenants] migrating {len(tenants)} tenant schemas ...")
        started = time.monotonic()
        outcomes = []
        batches = [tenants[:canary], tenants[canary:]] if canary else [tenants]
        for number, batch in enumerate(batches):
            if not batch:
                continue
            run = fleet_migrate(
                batch,
                fingerprint=fingerprint,
                workers=workers,
                verbosity=max(verbosity - 1, 0),
                stdout=self.stdout,
            )
            outcomes += fleet_progress(run, total=len(batch), write=self.stdout.write)
            failed = sorted(outcome.slug for outcome in outcomes if not outcome.ok)
            if canary and number == 0 and failed:
                raise CommandError(
                    f"canary failed ({', '.join(failed)}): {len(tenants) - len(batch)} tenant schemas not "
                    "migrated"
                )
        if not slug:  # the template schema provisioning clones, rebuilt when the migrations changed
            state = template_ensure()
            self.stdout.write(f"[template] {TEMPLATE_SCHEMA} {state.status} ({state.expected[:12]})")
        migrated = sum(outcome.ok for outcome in outcomes)
        self.stdout.write(f"[tenants] done in {time.monotonic() - started:.1f}s, at {fingerprint[:12]}")
        self.stdout.write(self.style.SUCCESS(f"{migrated} tenant schemas migrated"))
        failed = sorted(outcome.slug for outcome in outcomes if not outcome.ok)
        if failed:
            raise CommandError(f"{len(failed)} tenant schemas failed: {', '.join(failed)}")
