"""Reads of the audit trail: the filtered list, the walk of the hash chain, and what awaits sealing."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable

from django.db import connection
from django.db.models import QuerySet

from apps.audit.models import AuditEntry
from apps.members.selectors import organization_user_email

# Rows a chain walk reads per query (keyset on ``sequence``): what it holds in memory at once.
CHAIN_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class ChainSource:
    """A hash-chained trail: its table and the SQL function that digests one of its rows (the one its
    insert trigger used). The organization's trail by default; the platform's (``tenants.selectors``)
    names its own."""

    table: str
    digest: str


TENANT_CHAIN = ChainSource(table="audit_auditentry", digest="audit_entry_digest")


def audit_entry_list(
    *,
    actor: uuid.UUID | None = None,
    action: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> QuerySet[AuditEntry]:
    """The organization's entries, newest first (by id: ``sequence`` is NULL until an entry is sealed);
    ``object_id`` also finds list reads that named it."""
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
    return entries.order_by("-id")


@dataclasses.dataclass(frozen=True)
class ChainHead:
    """The last entry of a chain as seen at some time: kept outside the database, it is the anchor that
    shows entries removed from the end (a chain cut short is otherwise still a valid chain)."""

    sequence: int
    hash: str


@dataclasses.dataclass(frozen=True)
class ChainReport:
    """The outcome of walking a chain, or a window of it: ``entries`` checked, ``first_broken`` a
    sequence number, ``head`` the last entry checked (the chain's last when ``more`` is False: the
    window ended before the chain did, continue after ``head``)."""

    ok: bool
    entries: int
    first_broken: int | None = None
    reason: str = ""
    head: ChainHead | None = None
    more: bool = False


def audit_chain_verify(
    anchor: ChainHead | None = None,
    *,
    chain: ChainSource = TENANT_CHAIN,
    after_sequence: int = 0,
    limit: int | None = None,
    batch: int = CHAIN_BATCH,
    on_batch: Callable[[int, int], None] | None = None,
) -> ChainReport:
    """Walk the chain in order, from the entry after ``after_sequence``, for ``limit`` entries (all
    when None): every entry's hash must be the digest of its fields and the previous hash, link to the
    previous entry, and follow it without a gap; with an ``anchor`` (a head recorded earlier), the chain
    must still hold that entry with that hash, wherever the window is.

    Reads ``batch`` rows per query (keyset on ``sequence``), so memory and the work of one
    window stay bounded whatever the chain's length; ``on_batch(entries, last_sequence)`` after each.
    The digest is the database's own (``chain.digest``), the function that made it on insert.
    """
    report = _chain_walk(
        chain, anchor, after_sequence=after_sequence, limit=limit, batch=batch, on_batch=on_batch
    )
    if not report.ok or anchor is None:
        return report
    problem = _anchor_problem(chain, anchor)
    if problem is None:
        return report
    first_broken, reason = problem
    return dataclasses.replace(report, ok=False, first_broken=first_broken, reason=reason)


_Row = tuple[int, str, str, str]  # sequence, previous_hash, entry_hash, digest


def _rows_after(chain: ChainSource, sequence: int, limit: int) -> list[_Row]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sequence, previous_hash, entry_hash, {chain.digest}(e) FROM {chain.table} e "  # noqa: S608 - names from code
            "WHERE sequence > %s ORDER BY sequence LIMIT %s",
            [sequence, limit],
        )
        return cursor.fetchall()


def _last_sequence(chain: ChainSource) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sequence FROM {chain.table} WHERE sequence IS NOT NULL ORDER BY sequence DESC LIMIT 1"  # noqa: S608
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _row_problem(row: _Row, *, expected: int, previous_hash: str, anchor: ChainHead | None) -> str:
    sequence, linked_hash, entry_hash, digest = row
    if sequence != expected:
        return f"entry {expected} is missing"
    if linked_hash != previous_hash:
        return "its previous_hash does not match the previous entry"
    if digest != entry_hash:
        return "its content does not match its hash"
    if anchor is not None and sequence == anchor.sequence and entry_hash != anchor.hash:
        return "it is not the entry anchored at this position: the chain was rewritten"
    return ""


def _chain_walk(
    chain: ChainSource,
    anchor: ChainHead | None,
    *,
    after_sequence: int,
    limit: int | None,
    batch: int,
    on_batch: Callable[[int, int], None] | None,
) -> ChainReport:
    previous_hash, head = "", None
    if after_sequence > 0:  # the window links to the entry before it, checked by the previous window
        start = _entry(chain, after_sequence)
        if start is None:
            first_broken, reason = _absence(chain, after_sequence, what="entry")
            return ChainReport(ok=False, entries=0, first_broken=first_broken, reason=reason)
        previous_hash = start[2]
        head = ChainHead(sequence=after_sequence, hash=previous_hash)
    count, last = 0, after_sequence
    while limit is None or count < limit:
        size = batch if limit is None else min(batch, limit - count)
        rows = _rows_after(chain, last, size)
        for row in rows:
            problem = _row_problem(row, expected=last + 1, previous_hash=previous_hash, anchor=anchor)
            if problem:
                return ChainReport(ok=False, entries=count, first_broken=last + 1, reason=problem, head=head)
            count, last, previous_hash = count + 1, row[0], row[2]
            head = ChainHead(sequence=last, hash=previous_hash)
        if on_batch is not None and rows:
            on_batch(count, last)
        if len(rows) < size:
            return ChainReport(ok=True, entries=count, head=head)
    return ChainReport(ok=True, entries=count, head=head, more=bool(_rows_after(chain, last, 1)))


def _entry(chain: ChainSource, sequence: int) -> _Row | None:
    rows = _rows_after(chain, sequence - 1, 1)
    return rows[0] if rows and rows[0][0] == sequence else None


def _absence(chain: ChainSource, sequence: int, *, what: str) -> tuple[int, str]:
    """Where the chain breaks when it has no entry ``sequence``, and why."""
    last = _last_sequence(chain)
    if last < sequence:
        reason = (
            f"the chain ends at entry {last}, before {what} {sequence}: entries were removed from its end"
        )
        return last + 1, reason
    return sequence, f"entry {sequence} is missing"


def _anchor_problem(chain: ChainSource, anchor: ChainHead) -> tuple[int, str] | None:
    """Where and why the chain no longer holds ``anchor``; None when it does (one or two queries)."""
    found = _entry(chain, anchor.sequence)
    if found is None:
        return _absence(chain, anchor.sequence, what="the anchored entry")
    if found[2] != anchor.hash:
        return anchor.sequence, "it is not the entry anchored at this position: the chain was rewritten"
    return None


# Overdue entries a report names at most (the count says how many there are).
OVERDUE_NAMED = 10
# Unsealed entries counted at most: the check stays bounded whatever a dead sealer left.
UNSEALED_COUNT_BOUND = 1000


@dataclasses.dataclass(frozen=True)
class SealBacklog:
    """Entries not sealed into the chain yet: ``pending`` of them (counted up to
    ``UNSEALED_COUNT_BOUND``), ``overdue`` of those written more than the bound ago (counted up to the
    same bound), the first ``OVERDUE_NAMED`` of which by id in ``overdue_ids``."""

    pending: int
    overdue: int
    overdue_ids: list[int]


def audit_seal_backlog(*, bound_seconds: int) -> SealBacklog:
    """What awaits sealing in the current organization's trail. An entry is sealed right after its
    transaction commits, so one still unsealed ``bound_seconds`` after it was written is a failure
    (its sealer died: ``manage.py seal_audit`` seals it); younger ones are in flight. Two queries on
    the small index of unsealed entries."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE stale) FROM ("
            "  SELECT timestamp < now() - make_interval(secs => %s) AS stale FROM audit_auditentry"
            "  WHERE sequence IS NULL ORDER BY id LIMIT %s"
            ") unsealed",
            [bound_seconds, UNSEALED_COUNT_BOUND],
        )
        pending, overdue = cursor.fetchone()
        overdue_ids: list[int] = []
        if overdue:
            cursor.execute(
                "SELECT id FROM audit_auditentry WHERE sequence IS NULL "
                "AND timestamp < now() - make_interval(secs => %s) ORDER BY id LIMIT %s",
                [bound_seconds, OVERDUE_NAMED],
            )
            overdue_ids = [row[0] for row in cursor.fetchall()]
    return SealBacklog(pending=int(pending), overdue=int(overdue), overdue_ids=overdue_ids)
