"""Walk each organization's audit chain: exit 0 when complete and unaltered, 1 naming the first break.

``--anchors FILE`` checks each chain against the heads recorded in FILE by an earlier run
(``--record-anchors FILE``): a chain cut short at its end is otherwise still a valid chain. Keep that
file away from the database (object storage with retention, another host): whoever can rewrite the
database must not be able to rewrite the anchors too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.audit.selectors import ChainHead, audit_chain_verify
from tenants.management.tenant_commands import tenant_argument_add, tenants_progress


def _anchors_read(path: str) -> dict[str, ChainHead]:
    try:
        raw = json.loads(Path(path).read_text())
        return {
            slug: ChainHead(sequence=int(head["sequence"]), hash=str(head["hash"]))
            for slug, head in raw.items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CommandError(f"Cannot read the anchors in {path}: {exc}") from None


class Command(BaseCommand):
    help = "Verify the hash-chained audit trail of every organization (or of one, --tenant SLUG)."

    def add_arguments(self, parser: CommandParser) -> None:
        tenant_argument_add(parser)
        parser.add_argument(
            "--anchors", help="JSON file of heads recorded earlier: each chain must still hold its head."
        )
        parser.add_argument("--record-anchors", help="Write every verified chain's head to this JSON file.")

    def handle(self, *args: Any, **options: Any) -> None:
        anchors = _anchors_read(options["anchors"]) if options["anchors"] else {}
        broken, heads, checked = [], {}, 0
        for tenant, progress in tenants_progress(options["slug"], stdout=self.stdout):
            with tenant_context(tenant), transaction.atomic():
                report = audit_chain_verify(anchors.get(tenant.slug))
            checked += 1
            if report.ok:
                if report.head is not None:
                    heads[tenant.slug] = {"sequence": report.head.sequence, "hash": report.head.hash}
                self.stdout.write(f"{progress}: {report.entries} entries ok")
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
