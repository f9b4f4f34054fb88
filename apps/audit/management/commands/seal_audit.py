"""Seal what a crashed process left unsealed: every organization's committed entries not yet in its chain.

Entries are sealed right after the transaction that wrote them commits (``audit_seal_pending``); a
process that died in between leaves them for the next seal of their organization, or for this command.
It seals in batches of ``--batch-size`` entries, each batch a transaction of its own that holds the
organization's seal lock only while it runs, with a line of progress per batch; interrupted, it just
starts again where the chain ends. An organization whose seal lock is held is sealed by the holder
(it looks for what is left after it releases the lock), and reported so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from apps.audit.services import SEAL_BATCH, audit_seal_pending
from tenants.management.tenant_commands import tenant_argument_add, tenants_progress


class Command(BaseCommand):
    help = "Seal the audit entries left unsealed, for every organization (or for one, --tenant SLUG)."

    def add_arguments(self, parser: CommandParser) -> None:
        tenant_argument_add(parser)
        parser.add_argument(
            "--batch-size",
            type=int,
            default=SEAL_BATCH,
            help=f"Entries sealed per transaction (default {SEAL_BATCH}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch = options["batch_size"]
        if batch < 1:
            raise CommandError("--batch-size must be at least 1.")
        total = 0
        for tenant, progress in tenants_progress(options["slug"], stdout=self.stdout):
            with tenant_context(tenant):
                sealed = audit_seal_pending(batch=batch, on_batch=self._batch_progress(progress))
            if sealed is None:
                self.stdout.write(f"{progress}: another process is sealing it")
                continue
            total += sealed
            self.stdout.write(f"{progress}: {sealed} entries sealed")
        self.stdout.write(self.style.SUCCESS(f"{total} entries sealed"))

    def _batch_progress(self, prefix: str) -> Callable[[int], None]:
        def report(sealed: int) -> None:
            self.stdout.write(f"{prefix}: {sealed} entries sealed so far")

        return report
