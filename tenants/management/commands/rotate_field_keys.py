"""Re-wrap every organization's data keys under the first master key and re-encrypt its values."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tenants.key_rotation import field_keys_rotate
from tenants.management.tenant_commands import tenant_argument_add, tenants_progress
from tenants.routers import MIGRATION_ALIAS


class Command(BaseCommand):
    help = (
        "Rotate field-encryption keys: re-wrap each organization's data keys under the first "
        "HUB_FIELD_KEYS key, create a new data key and re-encrypt every sensitive value (safe to re-run)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        tenant_argument_add(parser)
        parser.add_argument(
            "--rewrap-only",
            action="store_true",
            help="Only re-wrap the data keys (after a master-key change); no new data key, no re-encryption.",
        )
        parser.add_argument(
            "--actor",
            type=uuid.UUID,
            help="User id recorded in the platform's audit trail (default: the system).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for tenant, progress in tenants_progress(options["slug"], stdout=self.stdout, using=MIGRATION_ALIAS):
            report = field_keys_rotate(
                tenant=tenant, new_data_key=not options["rewrap_only"], actor=options["actor"]
            )
            self.stdout.write(
                f"{progress}: {report.rewrapped} data keys re-wrapped, data key v{report.data_key_version}"
                f" current, {report.rows} rows re-encrypted"
            )
        self.stdout.write(self.style.SUCCESS("field keys rotated"))
