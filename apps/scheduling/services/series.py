"""Writes of recurring bookings: a series expanded into its occurrences, all or nothing or skipping."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from django.db import transaction

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change
from apps.entities.selectors import EntityViewer, entity_linked_get
from apps.notifications.events import bookings_event_emit
from apps.scheduling import availability, selectors, validators
from apps.scheduling.errors import OutsideAvailability, SchedulingErrorCode, SchedulingInvalid
from apps.scheduling.models import Booking, BookingSeries, Resource
from apps.scheduling.services.bookings import status_clean
from apps.scheduling.services.conflicts import (
    availability_misses,
    blocking_per_span,
    conflict_error,
    overlap_as_conflict,
    shared_locked,
)
from tenants.models import User


@dataclass(frozen=True)
class Skipped:
    """An occurrence left out of a series (``skip_conflicts``) and why."""

    start: datetime
    end: datetime
    reason: str  # "conflict" or "outside_availability"
    blocking: list[Booking]

    @property
    def conflicts(self) -> list[uuid.UUID]:
        """The bookings in the way, by id (``conflicts``, as every list of them is named)."""
        return [b.id for b in self.blocking]


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
            "The occurrences of this rule overlap one another.",
            field="rrule",
            code=SchedulingErrorCode.RRULE_SELF_OVERLAP,
        )
    return spans


def _series_triage(
    resource: Resource, spans: list[availability.Interval], *, override: bool
) -> tuple[list[availability.Interval], list[Skipped]]:
    """Split the occurrences into those that fit and those that do not (with the reason)."""
    outside = set() if override else set(availability_misses(resource, spans))
    blocking = blocking_per_span(resource, spans, ignore=frozenset())
    fits, skipped = [], []
    for index, (s, e) in enumerate(spans):
        if blocking[index]:
            skipped.append(Skipped(s, e, "conflict", blocking[index]))
        elif index in outside:
            skipped.append(Skipped(s, e, "outside_availability", []))
        else:
            fits.append((s, e))
    return fits, skipped


def _series_refusal(skipped: list[Skipped]) -> Exception:
    """The refusal of a whole series: ``skipped`` lists the occurrences that do not fit as a series
    that skips them would (``SeriesOut.skipped``); on a 409, ``conflicts`` lists the bookings in the
    way as a single booking's 409 does."""
    listed = [{"start": s.start, "end": s.end, "reason": s.reason, "conflicts": s.conflicts} for s in skipped]
    blocking = {b.id: b for s in skipped for b in s.blocking}
    if blocking:
        error = conflict_error(
            sorted(blocking.values(), key=lambda b: (b.start, str(b.id))),
            f"{len(skipped)} occurrences do not fit; nothing was booked.",
        )
        error.extra["skipped"] = listed
        return error
    return OutsideAvailability(f"{len(skipped)} occurrences fall outside availability.", skipped=listed)


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
    status, notes = status_clean(status), validators.notes_clean(notes)
    entity = entity_linked_get(entity_id, viewer=viewer)
    spans = _occurrences(rrule, start, end, resource)
    resource = shared_locked(resource)
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
    with overlap_as_conflict(resource, fits):
        Booking.objects.bulk_create(bookings)
    audit_change(action=AuditEntry.Action.CREATE, instance=series, actor=actor)
    for booking in bookings:
        audit_change(action=AuditEntry.Action.CREATE, instance=booking, actor=actor)
    bookings_event_emit(event_type="booking.created", bookings=bookings, actor_id=actor.id)
    return SeriesResult(series=series, bookings=bookings, skipped=skipped)
