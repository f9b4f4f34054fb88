"""Writes of resources and their availability rules."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import time
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_record, audit_snapshot
from apps.entities.selectors import EntityViewer, entity_linked_get
from apps.scheduling import availability, selectors, validators
from apps.scheduling.errors import ResourceInUse, SchedulingInvalid
from apps.scheduling.models import AvailabilityException, AvailabilityRule, Booking, Resource
from apps.scheduling.services.conflicts import is_overlap, peak_overlap, resource_locked

if TYPE_CHECKING:
    from api.etags import IfMatch


@transaction.atomic
def resource_create(
    *,
    kind: str,
    name: str,
    timezone: str,
    capacity: int = 1,
    entity_id: uuid.UUID | None = None,
    viewer: EntityViewer | None = None,
    source_import: uuid.UUID | None = None,
) -> Resource:
    """Create a resource; its ``key`` comes from the schema's sequence and never changes.
    ``source_import``: the import creating it (``apps.imports``)."""
    resource = Resource(
        kind=validators.kind_clean(kind),
        name=validators.name_clean(name),
        timezone=validators.timezone_clean(timezone),
        capacity=validators.capacity_clean(capacity),
        entity=entity_linked_get(entity_id, viewer=viewer),
        source_import=source_import,
    )
    resource.save(force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=resource)
    return resource


def _capacity_change(resource: Resource, capacity: int) -> None:
    """Refuse a capacity the live bookings already exceed, and keep their ``exclusive`` flag in step
    (the exclusion constraint re-checks them when it becomes true)."""
    live = Booking.objects.filter(resource=resource).exclude(status=Booking.Status.CANCELLED)
    if peak_overlap(list(live.values_list("start", "end"))) > capacity:
        raise ResourceInUse(f"More than {capacity} bookings of this resource overlap; cancel some first.")
    live.update(exclusive=capacity == 1)


@transaction.atomic
def resource_update(
    *,
    resource: Resource,
    changes: dict[str, Any],
    viewer: EntityViewer | None = None,
    if_match: IfMatch | None = None,
) -> Resource:
    """Partial update of kind, name, timezone, capacity and entity (``entity_id`` null unlinks); with
    ``if_match``, only while the resource is still that version (412 otherwise, compared under the lock)."""
    resource = resource_locked(resource)
    if if_match is not None:
        if_match.check(resource)
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
        resource.entity = entity_linked_get(changes["entity_id"], viewer=viewer)
    if "capacity" in changes:
        resource.capacity = validators.capacity_clean(changes["capacity"])
        if resource.capacity != capacity:
            _capacity_change(resource, resource.capacity)
    fields = ["kind", "name", "timezone", "capacity", "entity", "updated_at"]
    try:
        with transaction.atomic():
            resource.save(update_fields=fields)
    except IntegrityError as exc:
        if is_overlap(exc):
            raise ResourceInUse("Live bookings of this resource overlap; it cannot take capacity 1.") from exc
        raise
    audit_change(action=AuditEntry.Action.UPDATE, instance=resource, before=before, fields=fields)
    return resource


@transaction.atomic
def resource_delete(*, resource: Resource, if_match: IfMatch | None = None) -> Resource:
    """Soft delete: refused while the resource has live bookings that have not ended, or (412) when it
    changed since the version ``if_match`` names."""
    resource = resource_locked(resource)
    if if_match is not None:
        if_match.check(resource)
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


def _hours_clean(start: time, end: time, *, field: str) -> tuple[time, time]:
    if end != availability.MIDNIGHT and end <= start:
        raise SchedulingInvalid("end must be after start (00:00 means midnight).", field=field)
    return start, end


def _rules_json(resource: Resource) -> dict[str, list[list[Any]]]:
    """The rules as the audit trail holds them: numbers, times, dates and codes (``apps.audit.redaction``)."""
    weekly, exceptions = selectors.availability_rules(resource=resource)
    return {
        "weekly": [[w.weekday, str(w.start), str(w.end)] for w in weekly],
        "exceptions": [
            [str(e.date), "closed" if e.closed else "open", _time_text(e.start), _time_text(e.end)]
            for e in exceptions
        ],
    }


def _time_text(value: time | None) -> str | None:
    return None if value is None else str(value)


@transaction.atomic
def availability_set(
    *,
    resource: Resource,
    weekly: Sequence[availability.WeeklyHours],
    exceptions: Sequence[availability.DateException],
) -> Resource:
    """Replace the resource's weekly hours and date exceptions. Existing bookings stay as they are.

    The resource's row lock serializes replacements: two at once leave exactly one of the two sets
    (not both merged), and the audit entry's "before" is what the other one left.
    """
    for index, hours in enumerate(weekly):
        _hours_clean(hours.start, hours.end, field=f"weekly.{index}")
    for index, exception in enumerate(exceptions):
        if (exception.start is None) != (exception.end is None):
            raise SchedulingInvalid("Give both start and end, or neither.", field=f"exceptions.{index}")
        if exception.start is None and not exception.closed:
            raise SchedulingInvalid("Extra opening hours need start and end.", field=f"exceptions.{index}")
        if exception.start is not None and exception.end is not None:
            _hours_clean(exception.start, exception.end, field=f"exceptions.{index}")
    resource = resource_locked(resource)
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
    )
    return resource
