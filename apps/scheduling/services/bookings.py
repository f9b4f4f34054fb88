"""Writes of bookings: create, move or edit (one, or the rest of a series), cancel."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_snapshot
from apps.entities.selectors import EntityViewer, entities_linked_check, entity_linked_get
from apps.notifications.events import booking_event_emit, bookings_event_emit
from apps.scheduling import selectors, validators
from apps.scheduling.errors import BookingCancelled, BookingNotFound, SchedulingErrorCode, SchedulingInvalid
from apps.scheduling.models import Booking, Resource
from apps.scheduling.services.conflicts import (
    availability_check,
    blocking_all,
    conflict_error,
    overlap_as_conflict,
    peak_overlap,
    prepare,
    shared_locked,
)
from tenants.models import User

if TYPE_CHECKING:
    from api.etags import IfMatch

BOOKABLE = (Booking.Status.TENTATIVE, Booking.Status.CONFIRMED)


def status_clean(status: str) -> str:
    if status not in BOOKABLE:
        raise SchedulingInvalid(
            "status must be tentative or confirmed; cancel with POST .../cancel.", field="status"
        )
    return status


@transaction.atomic
def booking_create(
    *,
    actor: User,
    resource_id: uuid.UUID,
    start: datetime,
    end: datetime,
    status: str = Booking.Status.CONFIRMED,
    entity_id: uuid.UUID | None = None,
    notes: str | None = None,
    override_availability: bool = False,
    viewer: EntityViewer | None = None,
) -> Booking:
    """Book ``resource_id`` from ``start`` to ``end``: 409 naming the bookings in the way, 422 outside
    its availability unless ``override_availability`` (which the API grants to admins only)."""
    start, end = validators.booking_times_clean(start, end)
    resource = selectors.resource_find(resource_id=resource_id)
    booking = Booking(
        resource=resource,
        start=start,
        end=end,
        status=status_clean(status),
        entity=entity_linked_get(entity_id, viewer=viewer),
        notes=validators.notes_clean(notes),
        created_by=actor,
        updated_by=actor,
    )
    resource = prepare(resource, [(start, end)], override=override_availability)
    blocking = blocking_all(resource, [(start, end)], ignore=frozenset())
    if blocking:
        raise conflict_error(blocking)
    booking.resource_key, booking.exclusive = resource.key, resource.capacity == 1
    with overlap_as_conflict(resource, [(start, end)]):
        booking.save(force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=booking, actor=actor)
    booking_event_emit(event_type="booking.created", booking=booking, actor_id=actor.id)
    return booking


@dataclass(frozen=True)
class BookingDraft:
    """One booking of ``bookings_create_many``, checked as ``booking_create`` checks its arguments."""

    start: datetime
    end: datetime
    status: str = Booking.Status.CONFIRMED
    notes: str | None = None
    entity_id: uuid.UUID | None = None


@transaction.atomic
def bookings_create_many(
    *,
    actor: User,
    resource: Resource,
    drafts: Sequence[BookingDraft],
    viewer: EntityViewer | None = None,
    source_import: uuid.UUID | None = None,
) -> list[Booking]:
    """Book ``resource`` for every draft at once (a batch of an import, ``source_import``), all or
    nothing, each as ``booking_create`` would (times, status, notes, availability, no conflict with the
    live bookings) and none in conflict with another: one lock, one availability read, two overlap
    reads, one INSERT and one event statement for them all, and one audit entry per booking."""
    spans = [validators.booking_times_clean(draft.start, draft.end) for draft in drafts]
    statuses = [status_clean(draft.status) for draft in drafts]
    entities_linked_check({draft.entity_id for draft in drafts if draft.entity_id}, viewer=viewer)
    resource = prepare(resource, spans, override=False)
    blocking = blocking_all(resource, spans, ignore=frozenset())
    if blocking:
        raise conflict_error(blocking)
    if spans and resource.capacity > 1:  # capacity 1: the exclusion constraint refuses it below
        nearby = selectors.overlapping(
            resource=resource, start=min(s for s, _ in spans), end=max(e for _, e in spans)
        )
        if peak_overlap([*spans, *((b.start, b.end) for b in nearby)]) > resource.capacity:
            raise conflict_error(nearby, "These bookings overlap one another beyond the capacity.")
    bookings = [
        Booking(
            resource=resource,
            resource_key=resource.key,
            exclusive=resource.capacity == 1,
            start=start,
            end=end,
            status=status,
            notes=validators.notes_clean(draft.notes),
            entity_id=draft.entity_id,
            created_by=actor,
            updated_by=actor,
            source_import=source_import,
        )
        for (start, end), status, draft in zip(spans, statuses, drafts, strict=True)
    ]
    with overlap_as_conflict(resource, spans):
        Booking.objects.bulk_create(bookings)
    for booking in bookings:
        audit_change(action=AuditEntry.Action.CREATE, instance=booking, actor=actor)
    bookings_event_emit(event_type="booking.created", bookings=bookings, actor_id=actor.id)
    return bookings


_EDITABLE = frozenset({"start", "end", "status", "notes", "entity_id"})
_MOVES = frozenset({"start", "end"})


def _changes_clean(changes: dict[str, Any]) -> None:
    for field, value in changes.items():
        if field not in _EDITABLE:
            raise SchedulingInvalid(f"{field} cannot be changed.", field=field)
        if value is None and field not in ("entity_id", "notes"):
            raise SchedulingInvalid(f"{field} cannot be null.", field=field)


def _targets(booking: Booking, scope: str, if_match: IfMatch | None = None) -> list[Booking]:
    """The booking re-read under its row lock, alone or (``following``) with the later live
    occurrences of its series, locked too and in start order (so two writers never lock them in
    opposite orders). What a concurrent change committed meanwhile is what the caller works on; with
    ``if_match``, the booking must still be that version (412 otherwise, compared under the lock)."""
    locked = Booking.objects.select_for_update().filter(pk=booking.pk).first()
    if locked is None:
        raise BookingNotFound()
    if if_match is not None:
        if_match.check(locked)
    if scope == "this":
        return [locked]
    if locked.series_id is None:
        raise SchedulingInvalid(
            "This booking is not part of a series.", field="scope", code=SchedulingErrorCode.NOT_IN_SERIES
        )
    later = (
        Booking.objects.select_for_update()
        .filter(series_id=locked.series_id, start__gt=locked.start)
        .exclude(status=Booking.Status.CANCELLED)
    )
    return [locked, *later.order_by("start", "id")]


def _changed_fields(changes: dict[str, Any], *, moved: bool) -> list[str]:
    """The columns an update writes: those it changes, and who changed them when."""
    asked = [f for f in ("status", "notes") if f in changes] + (["entity"] if "entity_id" in changes else [])
    return [*(["start", "end"] if moved else []), *asked, "updated_by", "updated_at"]


@transaction.atomic
def booking_update(
    *,
    actor: User,
    booking: Booking,
    changes: dict[str, Any],
    scope: str = "this",
    override_availability: bool = False,
    viewer: EntityViewer | None = None,
    if_match: IfMatch | None = None,
) -> list[Booking]:
    """Move or edit a booking, or (``scope="following"``) it and the rest of its series: a new start
    shifts every one of them by the same amount, and a new end sets their length. Returns the
    bookings changed, the one asked for first.

    The rows are re-read under their locks first (the resource's before the bookings', the order a
    capacity change takes them in): a cancel that committed meanwhile wins (409
    ``booking_cancelled``), and only the columns asked for are written. With ``if_match``, the booking
    asked for must still be that version (412).
    """
    _changes_clean(changes)
    # The resource never changes for a booking, so the caller's copy names the right row to lock.
    resource = shared_locked(booking.resource) if _MOVES & changes.keys() else booking.resource
    targets = _targets(booking, scope, if_match)
    booking = targets[0]
    if booking.status == Booking.Status.CANCELLED:
        raise BookingCancelled()
    start, end = validators.booking_times_clean(
        changes.get("start", booking.start), changes.get("end", booking.end)
    )
    shift, length = start - booking.start, end - start
    ignored = frozenset(t.id for t in targets)
    spans = [(t.start + shift, t.start + shift + length) for t in targets]
    entity = entity_linked_get(changes["entity_id"], viewer=viewer) if changes.get("entity_id") else None
    moved = shift != timedelta(0) or length != booking.end - booking.start
    if moved:
        availability_check(resource, spans, override=override_availability)
        blocking = blocking_all(resource, spans, ignore=ignored)
        if blocking:
            raise conflict_error(blocking)
    fields = _changed_fields(changes, moved=moved)
    befores = [audit_snapshot(t) for t in targets]
    for target, (new_start, new_end) in zip(targets, spans, strict=True):
        target.start, target.end, target.updated_by = new_start, new_end, actor
        if "status" in changes:
            target.status = status_clean(changes["status"])
        if "notes" in changes:
            target.notes = validators.notes_clean(changes["notes"])
        if "entity_id" in changes:
            target.entity = entity
    with overlap_as_conflict(resource, spans, ignore=ignored):
        _save_together(targets, fields)
    for target, before in zip(targets, befores, strict=True):
        audit_change(
            action=AuditEntry.Action.UPDATE, instance=target, before=before, actor=actor, fields=fields
        )
    return targets


def _save_together(bookings: Sequence[Booking], fields: list[str]) -> None:
    """Save ``bookings`` with the no-overlap constraint checked once, after all of them moved: moving
    a series by its own period passes through states where one occurrence sits on the next. One
    ``UPDATE`` for all of them, however many occurrences follow (``updated_at`` set here: a bulk
    update skips ``auto_now``)."""
    _updated_now(bookings)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS booking_no_overlap DEFERRED")
        Booking.objects.bulk_update(bookings, fields)
        cursor.execute("SET CONSTRAINTS booking_no_overlap IMMEDIATE")


def _updated_now(bookings: Sequence[Booking]) -> None:
    now = timezone.now()
    for booking in bookings:
        booking.updated_at = now


@transaction.atomic
def booking_cancel(
    *, actor: User, booking: Booking, scope: str = "this", if_match: IfMatch | None = None
) -> list[Booking]:
    """Cancel a booking, or it and the rest of its series; cancelling twice changes nothing. The time
    is free again at once (cancelled bookings are outside the constraint). Returns the booking asked
    for as it is now (re-read under its lock), then the others this call cancelled. With
    ``if_match``, the booking asked for must still be that version (412)."""
    targets = _targets(booking, scope, if_match)
    # Only the one asked for can be cancelled already: the others are live by construction.
    live = [target for target in targets if target.status != Booking.Status.CANCELLED]
    befores = [audit_snapshot(target) for target in live]
    for target in live:
        target.status, target.updated_by = Booking.Status.CANCELLED, actor
    _updated_now(live)
    Booking.objects.bulk_update(live, ["status", "updated_by", "updated_at"])  # one UPDATE for the series
    for target, before in zip(live, befores, strict=True):
        audit_change(
            action=AuditEntry.Action.UPDATE, instance=target, before=before, actor=actor, fields=["status"]
        )
    bookings_event_emit(event_type="booking.cancelled", bookings=live, actor_id=actor.id)
    return targets
