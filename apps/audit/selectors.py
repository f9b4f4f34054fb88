"""Reads of the audit trail: the filtered list, and the walk of the hash chain."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from apps.audit.models import AuditEntry

_CHAIN_BATCH = 2000


def audit_entry_list(
    *,
    actor: uuid.UUID | None = None,
    action: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> QuerySet[AuditEntry]:
    """The organization's entries, newest first; ``object_id`` also finds list reads that named it."""
    entries = AuditEntry.objects.all()
    if actor is not None:
        entries = entries.filter(actor_id=actor)
    if action is not None:
        entries = entries.filter(action=action)
    if object_type:
        entries = entries.filter(object_type=object_type)
    if object_id:
        entries = entries.filter(object_pk=object_id) | entries.filter(object_ids__contains=[object_id])
    if since is not None:
        entries = entries.filter(timestamp__gte=since)
    if until is not None:
        entries = entries.filter(timestamp__lt=until)
    return entries.order_by("-sequence")


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking an organization's chain: ``first_broken`` is a sequence number."""

    ok: bool
    entries: int
    first_broken: int | None = None
    reason: str = ""


def audit_chain_verify() -> ChainReport:
    """Walk the current organization's chain in order: every entry's hash must be the digest of its
    fields and the previous hash, link to the previous entry, and follow it without a gap.

    The digest is the database's own (``audit_entry_digest``), the function that made it on insert.
    """
    count, expected_sequence, previous_hash = 0, 1, ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequence, previous_hash, entry_hash, audit_entry_digest(a) "
            "FROM audit_auditentry a ORDER BY sequence"
        )
        while rows := cursor.fetchmany(_CHAIN_BATCH):
            for sequence, linked_hash, entry_hash, digest in rows:
                problem = ""
                if sequence != expected_sequence:
                    problem = f"entry {expected_sequence} is missing"
                elif linked_hash != previous_hash:
                    problem = "its previous_hash does not match the previous entry"
                elif digest != entry_hash:
                    problem = "its content does not match its hash"
                if problem:
                    broken = expected_sequence if sequence != expected_sequence else sequence
                    return ChainReport(ok=False, entries=count, first_broken=broken, reason=problem)
                count += 1
                expected_sequence, previous_hash = sequence + 1, entry_hash
    return ChainReport(ok=True, entries=count)
