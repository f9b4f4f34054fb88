"""How a booking finds out what is in its way: the shared-resource row lock, the overlap count, the
exclusion constraint's error turned into the 409, and the availability check."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import IntegrityError, transaction

from apps.scheduling import availability, selectors
from apps.scheduling.errors import BookingConflict, OutsideAvailability, ResourceNotFound
from apps.scheduling.models import Booking, Resource
from hub.errors import EXCLUSION_VIOLATION, violated_sqlstate


def resource_locked(resource: Resource, *, share: bool = False) -> Resource:
    """The resource re-read under its row lock, and still live (deleted meanwhile: not found).

    ``FOR UPDATE`` (updates, deletes, bookings of a shared resource) serializes with everything;
    ``share`` takes ``FOR SHARE``, which bookings of a capacity-1 resource hold together (the
    exclusion constraint decides between them) while a delete or a capacity change waits for them,
    and they for it. Without it, a booking could commit on a resource deleted under it, or keep the
    ``exclusive`` flag of a capacity the resource no longer has.
    """
    if share:
        table = Resource._meta.db_table
        found = list(
            Resource.objects.raw(
                f"SELECT * FROM {table} WHERE id = %s AND deleted_at IS NULL FOR SHARE",  # noqa: S608
                [resource.pk],
            )
        )
    else:
        found = list(Resource.objects.select_for_update().filter(pk=resource.pk, deleted_at__isnull=True))
    if not found:
        raise ResourceNotFound()
    return found[0]


def peak_overlap(intervals: Sequence[availability.Interval]) -> int:
    """The most of ``intervals`` that overlap at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    peak = count = 0
    for _, step in events:
        count += step
        peak = max(peak, count)
    return peak


def is_overlap(exc: IntegrityError) -> bool:
    return violated_sqlstate(exc) == EXCLUSION_VIOLATION


def conflict_error(blocking: Sequence[Booking], detail: str | None = None) -> BookingConflict:
    """The 409 naming the bookings in the way. Every booking of the organization is visible to every
    role that may book, so they are always named."""
    return BookingConflict(
        detail or "The resource is already booked at this time.",
        conflicts=[
            # Date-times, not text: the API's one JSON rendering writes them (with ``Z``), as everywhere.
            {"id": b.id, "start": b.start, "end": b.end, "status": b.status}
            for b in blocking
        ],
    )


def availability_misses(resource: Resource, spans: Sequence[availability.Interval]) -> list[int]:
    """The indexes of ``spans`` not wholly inside the resource's availability."""
    if not spans:
        return []
    opened = selectors.open_intervals(
        resource=resource, start=min(s for s, _ in spans), end=max(e for _, e in spans)
    )
    return [index for index, (s, e) in enumerate(spans) if not availability.covers(opened, s, e)]


def blocking_per_span(
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
        full = peak_overlap([(max(b.start, start), min(b.end, end)) for b in hits]) >= resource.capacity
        result.append(hits if full else [])
    return result


def blocking_all(
    resource: Resource, spans: Sequence[availability.Interval], *, ignore: frozenset[uuid.UUID]
) -> list[Booking]:
    """``blocking_per_span`` of all the spans together, each booking once, by start."""
    found = {b.id: b for hits in blocking_per_span(resource, spans, ignore=ignore) for b in hits}
    return sorted(found.values(), key=lambda b: (b.start, str(b.id)))


@contextmanager
def overlap_as_conflict(
    resource: Resource, spans: Sequence[availability.Interval], *, ignore: frozenset[uuid.UUID] = frozenset()
) -> Iterator[None]:
    """Turn the exclusion constraint's refusal (a concurrent booking won) into the 409, naming the
    winner: the constraint waited for it to commit, so it is visible now."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        if not is_overlap(exc):
            raise
        raise conflict_error(blocking_all(resource, spans, ignore=ignore)) from exc


def shared_locked(resource: Resource) -> Resource:
    """The resource as bookings of it must see it: re-read under ``FOR UPDATE`` when its capacity is
    above 1 (its bookings serialize on it), else under ``FOR SHARE`` (see ``resource_locked``)."""
    locked = resource_locked(resource, share=resource.capacity == 1)
    if locked.capacity > 1 and resource.capacity == 1:  # raised while this request waited
        return resource_locked(locked)
    return locked


def prepare(resource: Resource, spans: Sequence[availability.Interval], *, override: bool) -> Resource:
    """Lock a shared resource, and refuse spans outside its availability (unless ``override``)."""
    resource = shared_locked(resource)
    availability_check(resource, spans, override=override)
    return resource


def availability_check(resource: Resource, spans: Sequence[availability.Interval], *, override: bool) -> None:
    """Refuse spans outside the resource's availability (unless ``override``)."""
    if not override and availability_misses(resource, spans):
        raise OutsideAvailability()
