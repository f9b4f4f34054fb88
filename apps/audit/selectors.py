"""Reads of the audit trail: the filtered list, and the walk of the hash chain."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from apps.audit.models import AuditEntry
from apps.members.selectors import organization_user_email

_CHAIN_BATCH = 2000
# What a chain walk reads, in sequence order: each entry's sequence, link, hash, and the database's digest
# of its content. The organization's trail by default; the platform's trail (``tenants.selectors``)
# passes its own table and digest function.
TENANT_CHAIN_SQL = (
    "SELECT sequence, previous_hash, entry_hash, audit_entry_digest(a) "
    "FROM audit_auditentry a ORDER BY sequence"
)


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
    # The actor's email only when the actor is a user of this organization (never another's).
    entries = AuditEntry.objects.annotate(actor_member_email=organization_user_email("actor_id"))
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
class ChainHead:
    """The last entry of a chain as seen at some time: kept outside the database, it is the anchor that
    shows entries removed from the end (a chain cut short is otherwise still a valid chain)."""

    sequence: int
    hash: str


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking an organization's chain: ``first_broken`` is a sequence number."""

    ok: bool
    entries: int
    first_broken: int | None = None
    reason: str = ""
    head: ChainHead | None = None


def audit_chain_verify(anchor: ChainHead | None = None, *, chain_sql: str = TENANT_CHAIN_SQL) -> ChainReport:
    """Walk the current organization's chain in order: every entry's hash must be the digest of its
    fields and the previous hash, link to the previous entry, and follow it without a gap; with an
    ``anchor`` (a head recorded earlier), the chain must still hold that entry with that hash.

    The digest is the database's own (``audit_entry_digest``), the function that made it on insert.
    """
    report = _chain_walk(anchor, chain_sql)
    if report.ok and anchor is not None and (report.head is None or report.head.sequence < anchor.sequence):
        last = report.head.sequence if report.head else 0
        return ChainReport(
            ok=False,
            entries=report.entries,
            first_broken=last + 1,
            reason=f"the chain ends at entry {last}, before the anchored entry {anchor.sequence}: entries "
            "were removed from its end",
            head=report.head,
        )
    return report


def _chain_walk(anchor: ChainHead | None, chain_sql: str) -> ChainReport:
    count, expected_sequence, previous_hash = 0, 1, ""
    with connection.cursor() as cursor:
        cursor.execute(chain_sql)
        while rows := cursor.fetchmany(_CHAIN_BATCH):
            for sequence, linked_hash, entry_hash, digest in rows:
                problem = ""
                if sequence != expected_sequence:
                    problem = f"entry {expected_sequence} is missing"
                elif linked_hash != previous_hash:
                    problem = "its previous_hash does not match the previous entry"
                elif digest != entry_hash:
                    problem = "its content does not match its hash"
                elif anchor is not None and sequence == anchor.sequence and entry_hash != anchor.hash:
                    problem = "it is not the entry anchored at this position: the chain was rewritten"
                if problem:
                    broken = expected_sequence if sequence != expected_sequence else sequence
                    return ChainReport(ok=False, entries=count, first_broken=broken, reason=problem)
                count += 1
                expected_sequence, previous_hash = sequence + 1, entry_hash
    head = ChainHead(sequence=expected_sequence - 1, hash=previous_hash) if count else None
    return ChainReport(ok=True, entries=count, head=head)
