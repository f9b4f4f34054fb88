"""Writes of the scheduling module. Every function is atomic and validates before it touches a row.

Conflicts: a capacity-1 resource relies on the exclusion constraint (``models``): the service checks
first only to name the booking in the way, and maps the constraint's error (SQLSTATE 23P01) to the same
409 when a concurrent booking wins the race. A resource of larger capacity has no constraint to lean
on, so its bookings lock its row (``SELECT ... FOR UPDATE``) and count the overlap while holding it;
capacity changes take the same lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_record, audit_snapshot
from apps.entities.errors import EntityNotFound
from apps.entities.models import Entity
from apps.entities.selectors import EntityViewer, entity_list
from apps.scheduling import availability, selectors, validators
from apps.scheduling.errors import (
    BookingConflict,
    OutsideAvailability,
    ResourceInUse,
    SchedulingInvalid,
)
from apps.scheduling.models import (
    AvailabilityException,
    AvailabilityRule,
    Booking,
    BookingSeries,
    Resource,
)
from tenants.models import User

EXCLUSION_VIOLATION = "23P01"
BOOKABLE = (Booking.Status.TENTATIVE, Booking.Status.CONFIRMED)


# --- resources ------------------------------------------------------------------------------------


def _entity_find(entity_id: uuid.UUID | None, viewer: EntityViewer | None) -> Entity | None:
    """A live entity the caller may see, or ``None`` for none; another organization's is not found."""
    if entity_id is None:
        return None
    entity = entity_list(viewer=viewer).filter(id=entity_id).first()
    if entity is None:
        raise EntityNotFound("No entity has this entity_id.")
    return entity


@transaction.atomic
def resource_create(
    *,
    kind: str,
    name: str,
    timezone: str,
    capacity: int = 1,
    entity_id: uuid.UUID | None = None,
    viewer: EntityViewer | None = None,
) -> Resource:
    """Create a resource; its ``key`` comes from the schema's sequence and never changes."""
    resource = Resource(
        kind=validators.kind_clean(kind),
        name=validators.name_clean(name),
        timezone=validators.timezone_clean(timezone),
        capacity=validators.capacity_clean(capacity),
        entity=_entity_find(entity_id, viewer),
    )
    resource.save(force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=resource)
    return resource


def _locked(resource: Resource) -> Resource:
    """The resource re-read under its row lock: bookings of a shared resource and capacity changes
    serialize on it."""
    return Resource.objects.select_for_update().get(pk=resource.pk)


def _peak(intervals: Sequence[availability.Interval]) -> int:
    """The most of ``intervals`` that overlap at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    peak = count = 0
    for _, step in events:
        count += step
        peak = max(peak, count)
    return peak


def _capacity_change(resource: Resource, capacity: int) -> None:
    """Refuse a capacity the live bookings already exceed, and keep their ``exclusive`` flag in step
    (the exclusion constraint re-checks them when it becomes true)."""
    live = Booking.objects.filter(resource=resource).exclude(status=Booking.Status.CANCELLED)
    if _peak(list(live.values_list("start", "end"))) > capacity:
        raise ResourceInUse(f"More than {capacity} bookings of this resource overlap; cancel some first.")
    live.update(exclusive=capacity == 1)


@transaction.atomic
def resource_update(
    *, resource: Resource, changes: dict[str, Any], viewer: EntityViewer | None = None
) -> Resource:
    """Partial update of kind, name, timezone, capacity and entity (``entity_id`` null unlinks)."""
    resource = _locked(resource)
    before, capacity = audit_snapshot(resource), resource.capacity
    for field, value in changes.items():
        if value is None and field != "entity_id":
            raise SchedulingInvalid(f"{field} cannot be null.", field=field)
    if "kind" in changes:
        resource.kind = validators.kind_clean(changes["kind"])
    if "name" in changes:
        resource.name = validators.name_clean(changes["name"])
    if "timezone" in changes:
        resource.timezone = validators.timezone_clean(changes["timezone"])
    if "entity_id" in changes:
        resource.entity = _entity_find(changes["entity_id"], viewer)
    if "capacity" in changes:
        resource.capacity = validators.capacity_clean(changes["capacity"])
        if resource.capacity != capacity:
            _capacity_change(resource, resource.capacity)
    fields = ["kind", "name", "timezone", "capacity", "entity", "updated_at"]
    try:
        with transaction.atomic():
            resource.save(update_fields=fields)
    except IntegrityError as exc:
        if _is_overlap(exc):
            raise ResourceInUse("Live bookings of this resource overlap; it cannot take capacity 1.") from exc
        raise
    audit_change(action=AuditEntry.Action.UPDATE, instance=resource, before=before, fields=fields)
    return resource


@transaction.atomic
def resource_delete(*, resource: Resource) -> Resource:
    """Soft delete: refused while the resource has live bookings that have not ended."""
    resource = _locked(resource)
    upcoming = Booking.objects.filter(resource=resource, end__gt=timezone.now()).exclude(
        status=Booking.Status.CANCELLED
    )
    if upcoming.exists():
        raise ResourceInUse("This resource has upcoming bookings; cancel them first.")
    before = audit_snapshot(resource)
    resource.deleted_at = timezone.now()
    resource.save(update_fields=["deleted_at", "updated_at"])
    audit_change(action=AuditEntry.Action.DELETE, instance=resource, before=before, fields=["deleted_at"])
    return resource


# --- availability rules ---------------------------------------------------------------------------


def _hours_clean(start: time, end: time, *, field: str) -> tuple[time, time]:
    if end != availability.MIDNIGHT and end <= start:
        raise SchedulingInvalid("end must be after start (00:00 means midnight).", field=field)
    return start, end


def _rules_json(resource: Resource) -> dict[str, list[str]]:
    weekly, exceptions = selectors.availability_rules(resource=resource)
    return {
        "weekly": [f"{w.weekday} {w.start}-{w.end}" for w in weekly],
        "exceptions": [f"{e.date} {'closed' if e.closed else 'open'} {e.start}-{e.end}" for e in exceptions],
    }


@transaction.atomic
def availability_set(
    *,
    resource: Resource,
    weekly: Sequence[availability.WeeklyHours],
    exceptions: Sequence[availability.DateException],
) -> Resource:
    """Replace the resource's weekly hours and date exceptions. Existing bookings stay as they are."""
    for index, hours in enumerate(weekly):
        _hours_clean(hours.start, hours.end, field=f"weekly.{index}")
    for index, exception in enumerate(exceptions):
        if (exception.start is None) != (exception.end is None):
            raise SchedulingInvalid("Give both start and end, or neither.", field=f"exceptions.{index}")
        if exception.start is None and not exception.closed:
            raise SchedulingInvalid("Extra opening hours need start and end.", field=f"exceptions.{index}")
        if exception.start is not None and exception.end is not None:
            _hours_clean(exception.start, exception.end, field=f"exceptions.{index}")
    before = _rules_json(resource)
    AvailabilityRule.objects.filter(resource=resource).delete()
    AvailabilityException.objects.filter(resource=resource).delete()
    AvailabilityRule.objects.bulk_create(
        AvailabilityRule(resource=resource, weekday=h.weekday, start=h.start, end=h.end) for h in weekly
    )
    AvailabilityException.objects.bulk_create(
        AvailabilityException(resource=resource, date=e.date, closed=e.closed, start=e.start, end=e.end)
        for e in exceptions
    )
    after = _rules_json(resource)
    audit_record(
        action=AuditEntry.Action.UPDATE,
        instance=resource,
        changes={key: [before[key], after[key]] for key in before if before[key] != after[key]},
        object_repr=f"availability of {resource}",
    )
    return resource


# --- bookings -------------------------------------------------------------------------------------


def _is_overlap(exc: IntegrityError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == EXCLUSION_VIOLATION


def _conflict(blocking: Sequence[Booking], detail: str | None = None) -> BookingConflict:
    """The 409 naming the bookings in the way. Every booking of the organization is visible to every
    role that may book, so they are always named."""
    return BookingConflict(
        detail or "The resource is already booked at this time.",
        conflicts=[
            {"id": str(b.id), "start": b.start.isoformat(), "end": b.end.isoformat(), "status": b.status}
            for b in blocking
        ],
    )


def _availability_check(resource: Resource, spans: Sequence[availability.Interval]) -> list[int]:
    """The indexes of ``spans`` not wholly inside the resource's availability."""
    if not spans:
        return []
    opened = selectors.open_intervals(
        resource=resource, start=min(s for s, _ in spans), end=max(e for _, e in spans)
    )
    return [index for index, (s, e) in enumerate(spans) if not availability.covers(opened, s, e)]


def _blocking(
    resource: Resource, spans: Sequence[availability.Interval], *, ignore: frozenset[uuid.UUID]
) -> list[list[Booking]]:
    """For each span, the live bookings that leave it no room (one query for them all): any overlap
    on a capacity-1 resource, otherwise as many as the capacity at some instant of it."""
    if not spans:
        return []
    nearby = [
        b
        for b in selectors.overlapping(
            resource=resource, start=min(s for s, _ in spans), end=max(e for _, e in spans)
        )
        if b.id not in ignore
    ]
    result = []
    for start, end in spans:
        hits = [b for b in nearby if b.start < end and b.end > start]
        full = _peak([(max(b.start, start), min(b.end, end)) for b in hits]) >= resource.capacity
        result.append(hits if full else [])
    return result


def _blocking_all(
    resource: Resource, spans: Sequence[availability.Interval], *, ignore: frozenset[uuid.UUID]
) -> list[Booking]:
    """``_blocking`` of all the spans together, each booking once, by start."""
    found = {b.id: b for hits in _blocking(resource, spans, ignore=ignore) for b in hits}
    return sorted(found.values(), key=lambda b: (b.start, str(b.id)))


@contextmanager
def _overlap_as_conflict(
    resource: Resource, spans: Sequence[availability.Interval], *, ignore: frozenset[uuid.UUID] = frozenset()
) -> Iterator[None]:
    """Turn the exclusion constraint's refusal (a concurrent booking won) into the 409, naming the
    winner: the constraint waited for it to commit, so it is visible now."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        if not _is_overlap(exc):
            raise
        raise _conflict(_blocking_all(resource, spans, ignore=ignore)) from exc


def _shared_locked(resource: Resource) -> Resource:
    """A resource of capacity above 1 re-read under its row lock (its bookings serialize on it); a
    capacity-1 resource as it is (the exclusion constraint needs no lock)."""
    return _locked(resource) if resource.capacity > 1 else resource


def _prepare(resource: Resource, spans: Sequence[availability.Interval], *, override: bool) -> Resource:
    """Lock a shared resource, and refuse spans outside its availability (unless ``override``)."""
    resource = _shared_locked(resource)
    if not override and _availability_check(resource, spans):
        raise OutsideAvailability()
    return resource


def _status_clean(status: str) -> str:
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
        status=_status_clean(status),
        entity=_entity_find(entity_id, viewer),
        notes=validators.notes_clean(notes),
        created_by=actor,
        updated_by=actor,
    )
    resource = _prepare(resource, [(start, end)], override=override_availability)
    blocking = _blocking_all(resource, [(start, end)], ignore=frozenset())
    if blocking:
        raise _conflict(blocking)
    booking.resource_key, booking.exclusive = resource.key, resource.capacity == 1
    with _overlap_as_conflict(resource, [(start, end)]):
        booking.save(force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=booking, actor=actor)
    return booking


_EDITABLE = frozenset({"start", "end", "status", "notes", "entity_id"})


def _targets(booking: Booking, scope: str) -> list[Booking]:
    """The booking alone, or (``following``) it and the later live occurrences of its series."""
    if scope == "this":
        return [booking]
    if booking.series_id is None:
        raise SchedulingInvalid("This booking is not part of a series.", field="scope", code="not_in_series")
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
            "A cancelled booking cannot change.", field="status", code="booking_cancelled"
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
    entity = _entity_find(changes["entity_id"], viewer) if changes.get("entity_id") else None
    moved = shift != timedelta(0) or length != booking.end - booking.start
    resource = booking.resource
    if moved:
        resource = _prepare(resource, spans, override=override_availability)
        blocking = _blocking_all(resource, spans, ignore=ignored)
        if blocking:
            raise _conflict(blocking)
    fields = ["start", "end", "status", "notes", "entity", "updated_by", "updated_at"]
    befores = [audit_snapshot(t) for t in targets]
    for target, (new_start, new_end) in zip(targets, spans, strict=True):
        target.start, target.end, target.updated_by = new_start, new_end, actor
        if "status" in changes:
            target.status = _status_clean(changes["status"])
        if "notes" in changes:
            target.notes = validators.notes_clean(changes["notes"])
        if "entity_id" in changes:
            target.entity = entity
    with _overlap_as_conflict(resource, spans, ignore=ignored):
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


# --- series ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """An occurrence left out of a series (``skip_conflicts``) and why."""

    start: datetime
    end: datetime
    reason: str  # "conflict" or "outside_availability"
    conflicts: list[uuid.UUID]


@dataclass(frozen=True)
class SeriesResult:
    series: BookingSeries
    bookings: list[Booking]
    skipped: list[Skipped]


def _occurrences(
    rrule: str, start: datetime, end: datetime, resource: Resource
) -> list[availability.Interval]:
    length = end - start
    starts = validators.rrule_expand(rrule, start=start, timezone=resource.timezone)
    spans = [(s, s + length) for s in starts]
    if resource.capacity == 1 and any(b[0] < a[1] for a, b in pairwise(spans)):
        raise SchedulingInvalid(
            "The occurrences of this rule overlap one another.", field="rrule", code="rrule_self_overlap"
        )
    return spans


def _series_triage(
    resource: Resource, spans: list[availability.Interval], *, override: bool
) -> tuple[list[availability.Interval], list[Skipped]]:
    """Split the occurrences into those that fit and those that do not (with the reason)."""
    outside = set() if override else set(_availability_check(resource, spans))
    blocking = _blocking(resource, spans, ignore=frozenset())
    fits, skipped = [], []
    for index, (s, e) in enumerate(spans):
        if blocking[index]:
            skipped.append(Skipped(s, e, "conflict", [b.id for b in blocking[index]]))
        elif index in outside:
            skipped.append(Skipped(s, e, "outside_availability", []))
        else:
            fits.append((s, e))
    return fits, skipped


def _series_refusal(skipped: list[Skipped]) -> Exception:
    listed = [
        {
            "start": s.start.isoformat(),
            "end": s.end.isoformat(),
            "reason": s.reason,
            "bookings": [str(i) for i in s.conflicts],
        }
        for s in skipped
    ]
    if any(s.reason == "conflict" for s in skipped):
        return BookingConflict(
            f"{len(skipped)} occurrences do not fit; nothing was booked.", conflicts=listed
        )
    return OutsideAvailability(f"{len(skipped)} occurrences fall outside availability.", conflicts=listed)


@transaction.atomic
def series_create(
    *,
    actor: User,
    resource_id: uuid.UUID,
    start: datetime,
    end: datetime,
    rrule: str,
    status: str = Booking.Status.CONFIRMED,
    entity_id: uuid.UUID | None = None,
    notes: str | None = None,
    skip_conflicts: bool = False,
    override_availability: bool = False,
    viewer: EntityViewer | None = None,
) -> SeriesResult:
    """Book every occurrence of ``rrule`` (its first at ``start``, each as long as ``end - start``).

    All or nothing: one occurrence that conflicts or falls outside availability refuses the series,
    listing them all. With ``skip_conflicts`` those are left out (and listed) and the rest is booked;
    if none is left, that is a conflict too.
    """
    start, end = validators.booking_times_clean(start, end)
    resource = selectors.resource_find(resource_id=resource_id)
    status, notes = _status_clean(status), validators.notes_clean(notes)
    entity = _entity_find(entity_id, viewer)
    spans = _occurrences(rrule, start, end, resource)
    resource = _shared_locked(resource)
    fits, skipped = _series_triage(resource, spans, override=override_availability)
    if skipped and (not skip_conflicts or not fits):
        raise _series_refusal(skipped)
    series = BookingSeries.objects.create(resource=resource, rrule=rrule.strip(), created_by=actor)
    bookings = [
        Booking(
            resource=resource,
            resource_key=resource.key,
            exclusive=resource.capacity == 1,
            start=s,
            end=e,
            status=status,
            entity=entity,
            notes=notes,
            series=series,
            created_by=actor,
            updated_by=actor,
        )
        for s, e in fits
    ]
    with _overlap_as_conflict(resource, fits):
        Booking.objects.bulk_create(bookings)
    audit_change(action=AuditEntry.Action.CREATE, instance=series, actor=actor)
    for booking in bookings:
        audit_change(action=AuditEntry.Action.CREATE, instance=booking, actor=actor)
    return SeriesResult(series=series, bookings=bookings, skipped=skipped)
