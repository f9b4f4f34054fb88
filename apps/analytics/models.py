"""Analytics: the organization's time zone and the rollups the dashboard and time series read.

The rollups are kept by PostgreSQL triggers (migration ``0002_rollup_triggers``) in the same database
transaction as the change they count, so a committed posting, booking or entity is counted exactly
once, whatever code path wrote it. Times are bucketed by the UTC hour (bookings, entities) or by the
ledger's own ``effective_date``: a bucket of the organization's time zone, DST days included, is then
a range of whole rows at query time, and changing the time zone needs no rebuild.
"""

from __future__ import annotations

from typing import ClassVar
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import Q

from apps.ledger.currencies import MAX_MINOR_UNITS
from apps.ledger.models import BALANCE_DIGITS


class AnalyticsSetting(models.Model):
    """The organization's analytics settings: one row (``id`` 1), created with the default on first read."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    time_zone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=Q(id=1), name="analytics_setting_single_row"),
        ]

    def __str__(self) -> str:
        return self.time_zone

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class LedgerDaily(models.Model):
    """The posted postings of one account on one effective date: their sum and how many."""

    # Derived data, rebuilt from the ledger at will: not audited (apps.audit.receivers).
    AUDIT_HARD_DELETES: ClassVar[bool] = False

    id = models.BigAutoField(primary_key=True)
    account_id = models.UUIDField()
    effective_date = models.DateField()
    amount = models.DecimalField(max_digits=BALANCE_DIGITS, decimal_places=MAX_MINOR_UNITS, default=0)
    postings = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["account_id", "effective_date"], name="analytics_ledger_daily_key"
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["effective_date", "account_id"], name="analytics_ledger_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.effective_date}"


class BookingHourly(models.Model):
    """Per resource and UTC hour: the live bookings starting in it and the seconds booked in it."""

    AUDIT_HARD_DELETES: ClassVar[bool] = False

    id = models.BigAutoField(primary_key=True)
    resource_id = models.UUIDField()
    hour = models.DateTimeField()
    bookings = models.BigIntegerField(default=0)
    seconds = models.DecimalField(max_digits=24, decimal_places=6, default=0)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["resource_id", "hour"], name="analytics_booking_hourly_key"),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["hour", "resource_id"], name="analytics_booking_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} {self.hour.isoformat()}"


class BookingTotalHourly(models.Model):
    """Per UTC hour, all resources together: what ``BookingHourly`` holds, summed over resources, so a
    series of the whole organization reads at most one row per hour whatever the number of resources."""

    AUDIT_HARD_DELETES: ClassVar[bool] = False

    hour = models.DateTimeField(primary_key=True)
    bookings = models.BigIntegerField(default=0)
    seconds = models.DecimalField(max_digits=24, decimal_places=6, default=0)

    def __str__(self) -> str:
        return self.hour.isoformat()


class EntityHourly(models.Model):
    """Per entity kind and UTC hour: the entities created in it (deleted ones too; erased rows stay)."""

    AUDIT_HARD_DELETES: ClassVar[bool] = False

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=40)
    hour = models.DateTimeField()
    created = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["kind", "hour"], name="analytics_entity_hourly_key"),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["hour", "kind"], name="analytics_entity_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.hour.isoformat()}"


class EntityCount(models.Model):
    """How many live (not deleted) entities have this kind and status now."""

    AUDIT_HARD_DELETES: ClassVar[bool] = False

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=16)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["kind", "status"], name="analytics_entity_count_key"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.status}: {self.count}"
