"""Writes of bookings: create, move or edit (one, or the rest of a series), cancel."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_snapshot
from apps.entities.selectors import EntityViewer, entity_linked_get
from apps.scheduling import selectors, validators
from apps.scheduling.errors import SchedulingErrorCode, SchedulingInvalid
from apps.scheduling.models import Booking
from apps.scheduling.services.conflicts import blocking_all, conflict_error, overlap_as_conflict, prepare
from tenants.models import User

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
    return booking


_EDITABLE = frozenset({"start", "end", "status", "notes", "entity_id"})


def _targets(booking: Booking, scope: str) -> list[Booking]:
    """The booking alone, or (``following``) it and the later live occurrences of its series."""
    if scope == "this":
        return [booking]
    if booking.series_id is None:
        raise SchedulingInvalid(
            "This booking is not part of a series.", field="scope", code=SchedulingErrorCode.NOT_IN_SERIES
        )
    later = Booking.objects.filter(series_id=booking.series_id, start__gt=booking.start).exclude(
        status=Booking.Status.CANCELLED
    )
    return [booking, *later.order_by("start", "id")]


@transaction.atomic
def booking_update(
    *,
    actor: User,
    booking: Booking,
    changes: dict[str, Any],
    scope: str = "this",
    override_availability: bool = False,
    viewer: EntityViewer | None = None,
) -> list[Booking]:
    """Move or edit a booking, or (``scope="following"``) it and the rest of its series: a new start
    shifts every one of them by the same amount, and a new end sets their length. Returns the
    bookings changed, the one asked for first."""
    if booking.status == Booking.Status.CANCELLED:
        raise SchedulingInvalid(
            "A cancelled booking cannot change.", field="status", code=SchedulingErrorCode.BOOKING_CANCELLED
        )
    for field, value in changes.items():
        if field not in _EDITABLE:
            raise SchedulingInvalid(f"{field} cannot be changed.", field=field)
        if value is None and field not in ("entity_id", "notes"):
            raise SchedulingInvalid(f"{field} cannot be null.", field=field)
    start, end = validators.booking_times_clean(
        changes.get("start", booking.start), changes.get("end", booking.end)
    )
    shift, length = start - booking.start, end - start
    targets = _targets(booking, scope)
    ignored = frozenset(t.id for t in targets)
    spans = [(t.start + shift, t.start + shift + length) for t in targets]
    entity = entity_linked_get(changes["entity_id"], viewer=viewer) if changes.get("entity_id") else None
    moved = shift != timedelta(0) or length != booking.end - booking.start
    resource = booking.resource
    if moved:
        resource = prepare(resource, spans, override=override_availability)
        blocking = blocking_all(resource, spans, ignore=ignored)
        if blocking:
            raise conflict_error(blocking)
    fields = ["start", "end", "status", "notes", "entity", "updated_by", "updated_at"]
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
    a series by its own period passes through states where one occurrence sits on the next."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS booking_no_overlap DEFERRED")
        for booking in bookings:
            booking.save(update_fields=fields)
        cursor.execute("SET CONSTRAINTS booking_no_overlap IMMEDIATE")


@transaction.atomic
def booking_cancel(*, actor: User, booking: Booking, scope: str = "this") -> list[Booking]:
    """Cancel a booking, or it and the rest of its series; cancelling twice changes nothing. The time
    is free again at once (cancelled bookings are outside the constraint)."""
    targets = [t for t in _targets(booking, scope) if t.status != Booking.Status.CANCELLED]
    for target in targets:
        before = audit_snapshot(target)
        target.status, target.updated_by = Booking.Status.CANCELLED, actor
        target.save(update_fields=["status", "updated_by", "updated_at"])
        audit_change(
            action=AuditEntry.Action.UPDATE, instance=target, before=before, actor=actor, fields=["status"]
        )
    return targets
