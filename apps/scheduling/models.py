"""Scheduling: resources (rooms, staff, equipment), their availability, and bookings that cannot conflict.

No overlap without btree_gist
-----------------------------
The issue asks for an exclusion constraint "btree_gist over the resource and a time range". The
embedded PostgreSQL of ``make run``/``make test`` (the ``pgserver`` wheel) ships no contrib extensions,
so ``CREATE EXTENSION btree_gist`` fails there, while CI (PostgreSQL 15) and production (17) have it.
One code path has to work on all three, so the constraint uses only the built-in GiST range operator
class instead, by folding the resource into the range itself:

* every resource has an immutable integer ``key`` (from a per-schema sequence);
* every booking stores that key (``resource_key``) and, in a generated column ``span``, the range
  ``[key * 10^11 + epoch(start), key * 10^11 + epoch(end))`` as a ``numrange``. Epoch seconds stay far
  below 10^11 for the years bookings may use (``validators.EARLIEST``..``LATEST``), so the spans of two
  resources can never meet, and two spans overlap exactly when the bookings share a resource and
  overlap in time;
* ``EXCLUDE USING gist (span WITH &&) WHERE (status <> 'cancelled' AND exclusive)`` then refuses any
  overlap of live bookings of a capacity-1 resource (``exclusive`` mirrors ``capacity = 1``), under any
  concurrency, exactly as the btree_gist constraint would.

The column and the constraint are created in SQL by the migration (Django's model fields do not
describe a generated ``numrange``); the model does not declare ``span``, so the ORM never reads or
writes it. Capacity above 1 cannot be an exclusion constraint; ``services`` serializes the bookings of
such a resource on its row lock (``SELECT ... FOR UPDATE``) and counts the overlap inside the
transaction.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Func, Q, Value

KEY_SEQUENCE = "scheduling_resource_key_seq"


class Resource(models.Model):
    """Something that can be booked. Soft-deleted, so past bookings keep their resource."""

    # Shown in clear in the audit trail (``apps.audit.redaction``): codes, not free text.
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("kind", "timezone")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The resource's place in every booking's ``span`` (see the module docstring); never changes.
    key = models.BigIntegerField(
        unique=True,
        editable=False,
        db_default=Func(Value(KEY_SEQUENCE), function="nextval", output_field=models.BigIntegerField()),
    )
    kind = models.SlugField(max_length=40)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64)
    capacity = models.PositiveIntegerField(default=1)
    entity = models.ForeignKey(
        "entities.Entity", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The import that created it (``apps.imports``), for undo: a plain id, no foreign key to that app.
    source_import = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=Q(capacity__gte=1), name="resource_capacity_positive"),
            models.CheckConstraint(condition=~Q(name=""), name="resource_name_not_blank"),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(
                fields=["source_import"],
                name="resource_import_idx",
                condition=Q(source_import__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class AvailabilityRule(models.Model):
    """Weekly working hours in the resource's time zone: ``weekday`` (0 = Monday) from ``start`` to
    ``end`` local time; ``end`` 00:00 means midnight at the end of that day."""

    # Replaced as a whole: audited as an update of the resource (apps.scheduling.services).
    AUDIT_HARD_DELETES: ClassVar[bool] = False

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="rules")
    weekday = models.PositiveSmallIntegerField()
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="availability_rule_weekday"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} {self.weekday} {self.start}-{self.end}"


class AvailabilityException(models.Model):
    """A date that differs from the week: closed all day (no times), closed for some hours, or open for
    extra hours (``closed`` false)."""

    # Replaced as a whole: audited as an update of the resource (apps.scheduling.services).
    AUDIT_HARD_DELETES: ClassVar[bool] = False

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="exceptions")
    date = models.DateField()
    closed = models.BooleanField(default=True)
    start = models.TimeField(null=True, blank=True)
    end = models.TimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(
                condition=Q(start__isnull=True, end__isnull=True, closed=True)
                | Q(start__isnull=False, end__isnull=False),
                name="availability_exception_times",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} {self.date} {'closed' if self.closed else 'open'}"


class BookingSeries(models.Model):
    """A recurring booking: an RFC 5545 RRULE expanded, once, into its occurrences (``Booking`` rows)."""

    # Shown in clear in the audit trail (``apps.audit.redaction``): a validated rule, not free text.
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("rrule",)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="+")
    rrule = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )

    def __str__(self) -> str:
        return f"{self.resource_id} {self.rrule}"


class Booking(models.Model):
    """A resource held from ``start`` to ``end``. See the module docstring for the no-overlap guarantee."""

    # Free text may name a person: erased with the entity the booking is for (``apps.privacy``), never
    # recorded in the audit trail.
    PERSONAL_FIELDS: ClassVar[dict[str, Any]] = {"notes": ""}

    class Status(models.TextChoices):
        TENTATIVE = "tentative"
        CONFIRMED = "confirmed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="bookings")
    # Copies of the resource's key and of ``capacity == 1``, for the exclusion constraint (which
    # cannot look into another table); ``services`` keeps them in step with the resource.
    resource_key = models.BigIntegerField()
    exclusive = models.BooleanField()
    start = models.DateTimeField(db_column="start_at")
    end = models.DateTimeField(db_column="end_at")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONFIRMED)
    entity = models.ForeignKey(
        "entities.Entity", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    notes = models.TextField(blank=True, default="")
    series = models.ForeignKey(
        BookingSeries, on_delete=models.PROTECT, related_name="bookings", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )
    # The import that created it (``apps.imports``), for undo: a plain id, no foreign key to that app.
    source_import = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="booking_end_after_start"),
            models.CheckConstraint(
                condition=Q(status__in=["tentative", "confirmed", "cancelled"]), name="booking_status_valid"
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["resource", "start", "id"], name="booking_resource_start_idx"),
            models.Index(fields=["start", "id"], name="booking_start_idx"),
            models.Index(fields=["series", "start"], name="booking_series_idx"),
            models.Index(
                fields=["source_import"],
                name="booking_import_idx",
                condition=Q(source_import__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} {self.start.isoformat()}/{self.end.isoformat()}"
