"""Rebuild or check the tenant template schema that provisioning clones (tenants/template.py)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.template import TEMPLATE_SCHEMA, template_rebuild, template_state


class Command(BaseCommand):
    help = "Rebuild (--rebuild) or check (--check) the tenant template schema that provisioning clones."
    # The system checks refuse to start while the template is behind: this command is the way out.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--rebuild", action="store_true", help="Drop and rebuild it from the migrations.")
        action.add_argument("--check", action="store_true", help="Exit 1 unless it is at the migration head.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rebuild"]:
            started = time.monotonic()
            state = template_rebuild()
            elapsed = time.monotonic() - started
            self.stdout.write(
                self.style.SUCCESS(f"{TEMPLATE_SCHEMA} rebuilt in {elapsed:.1f}s ({state.expected[:12]})")
            )
            return
        state = template_state()
        if not state.current:
            missing = ", ".join(state.missing_migrations) or "migration files changed since it was built"
            detail = (
                "does not exist" if state.fingerprint is None and not state.missing_migrations else missing
            )
            raise CommandError(
                f"{TEMPLATE_SCHEMA} is {state.status}: {detail}. Run tenant_template --rebuild."
            )
        self.stdout.write(self.style.SUCCESS(f"{TEMPLATE_SCHEMA} is current ({state.expected[:12]})"))
