"""Walk each organization's audit chain: exit 0 when complete and unaltered, 1 naming the first break.

Every chain is read in batches (keyset on ``sequence``, ``CHAIN_BATCH`` rows a query): memory stays
bounded whatever its length, and a line of progress is written per full batch.

Entries are sealed into the chain right after their transaction commits: one still unsealed
``HUB_AUDIT_SEAL_BOUND_SECONDS`` (default 60) after it was written is a failure, named by id (its sealer
died; ``manage.py seal_audit`` seals it); younger unsealed entries are in flight, reported as a count.

``--platform`` walks the platform's trail instead (organization lifecycle, ``tenants.PlatformAuditEntry``);
its head is recorded in the anchors file under ``platform`` (a reserved slug, so never an organization's).

``--anchors FILE`` checks each chain against the heads recorded in FILE by an earlier run
(``--record-anchors FILE``): a chain cut short at its end is otherwise still a valid chain. Keep that
file away from the database (object storage with retention, another host): whoever can rewrite the
database must not be able to rewrite the anchors too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.audit.selectors import CHAIN_BATCH, ChainHead, SealBacklog, audit_chain_verify, audit_seal_backlog
from tenants.management.tenant_commands import tenant_argument_add, tenants_progress
from tenants.selectors import platform_audit_verify

PLATFORM_ANCHOR = "platform"


def _anchors_read(path: str) -> dict[str, ChainHead]:
    try:
        raw = json.loads(Path(path).read_text())
        return {
            slug: ChainHead(sequence=int(head["sequence"]), hash=str(head["hash"]))
            for slug, head in raw.items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CommandError(f"Cannot read the anchors in {path}: {exc}") from None


def _in_flight(backlog: SealBacklog, bound: int) -> str:
    if not backlog.pending:
        return ""
    return f"; {backlog.pending} entries written in the last {bound} s not sealed yet"


def _overdue(backlog: SealBacklog, bound: int) -> str:
    ids = ", ".join(str(entry_id) for entry_id in backlog.overdue_ids)
    more = (
        f" and {backlog.overdue - len(backlog.overdue_ids)} more"
        if backlog.overdue > len(backlog.overdue_ids)
        else ""
    )
    return (
        f"UNSEALED: {backlog.overdue} entries left unsealed for more than {bound} s "
        f"(ids {ids}{more}): run seal_audit"
    )


class Command(BaseCommand):
    help = "Verify the hash-chained audit trail of every organization (or of one, --tenant SLUG)."

    def add_arguments(self, parser: CommandParser) -> None:
        tenant_argument_add(parser)
        parser.add_argument(
            "--platform", action="store_true", help="Verify the platform's trail (organization lifecycle)."
        )
        parser.add_argument(
            "--anchors", help="JSON file of heads recorded earlier: each chain must still hold its head."
        )
        parser.add_argument("--record-anchors", help="Write every verified chain's head to this JSON file.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=CHAIN_BATCH,
            help=f"Entries read per query (default {CHAIN_BATCH}): what is held in memory at once.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        anchors = _anchors_read(options["anchors"]) if options["anchors"] else {}
        self.batch = options["batch_size"]
        if self.batch < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["platform"]:
            self._platform_verify(anchors, record=options["record_anchors"], slug=options["slug"])
            return
        broken, heads, checked = [], {}, 0
        bound = settings.HUB_AUDIT_SEAL_BOUND_SECONDS
        for tenant, progress in tenants_progress(options["slug"], stdout=self.stdout):
            with tenant_context(tenant), transaction.atomic():
                report = audit_chain_verify(
                    anchors.get(tenant.slug), batch=self.batch, on_batch=self._batch_progress(progress)
                )
                backlog = audit_seal_backlog(bound_seconds=bound)
            checked += 1
            if report.ok and not backlog.overdue:
                if report.head is not None:
                    heads[tenant.slug] = {"sequence": report.head.sequence, "hash": report.head.hash}
                self.stdout.write(f"{progress}: {report.entries} entries ok{_in_flight(backlog, bound)}")
            elif report.ok:
                broken.append(tenant.slug)
                self.stdout.write(f"{progress}: {report.entries} entries ok, but {_overdue(backlog, bound)}")
            else:
                broken.append(tenant.slug)
                self.stdout.write(
                    f"{progress}: BROKEN at entry {report.first_broken} "
                    f"({report.reason}); {report.entries} entries before it ok"
                )
        if options["record_anchors"] and not broken:
            Path(options["record_anchors"]).write_text(json.dumps(heads, indent=2, sort_keys=True) + "\n")
            self.stdout.write(f"{len(heads)} heads recorded in {options['record_anchors']}")
        if broken:
            raise CommandError(f"Audit trail broken in: {', '.join(broken)}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{checked} audit trails complete and unaltered"))

    def _batch_progress(self, prefix: str) -> Callable[[int, int], None]:
        """Report a long walk as it goes: a line per full batch read (more may follow)."""

        def report(entries: int, last_sequence: int) -> None:
            if entries % self.batch == 0:
                self.stdout.write(f"{prefix}: {entries} entries checked (up to entry {last_sequence})")

        return report

    def _platform_verify(
        self, anchors: dict[str, ChainHead], *, record: str | None, slug: str | None
    ) -> None:
        if slug:
            raise CommandError("--platform and --tenant exclude each other.")
        with transaction.atomic():
            report = platform_audit_verify(
                anchors.get(PLATFORM_ANCHOR), batch=self.batch, on_batch=self._batch_progress("platform")
            )
        if not report.ok:
            self.stdout.write(
                f"platform: BROKEN at entry {report.first_broken} ({report.reason}); "
                f"{report.entries} entries before it ok"
            )
            raise CommandError("The platform's audit trail is broken.", returncode=1)
        if record and report.head is not None:
            head = {"sequence": report.head.sequence, "hash": report.head.hash}
            Path(record).write_text(json.dumps({PLATFORM_ANCHOR: head}, indent=2, sort_keys=True) + "\n")
            self.stdout.write(f"platform head recorded in {record}")
        self.stdout.write(self.style.SUCCESS(f"platform: {report.entries} entries complete and unaltered"))
