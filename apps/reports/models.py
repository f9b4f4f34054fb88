"""Saved reports and their runs.

These tables live in each organization's schema, behind row-level security (``tenants.rls``). A run's
result is kept in its own row (``rows``, JSON): the files a caller downloads (CSV, JSON, XLSX) are
rendered from it on each download, so a result lives in exactly one place, the organization's schema:
unreachable from another organization, dropped with the schema, and purged with the run by retention.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class Report(models.Model):
    """An admin's saved report: metrics of the analytics catalogue, filters on their dimensions, a
    grouping (an interval and optionally a dimension) and a period (relative or absolute)."""

    # Names of catalogue metrics and codes: shown in clear in the audit trail (``apps.audit.redaction``).
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("metrics", "grouping", "period")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    metrics = ArrayField(models.CharField(max_length=64), default=list)
    # {"<dimension>": value or [values]}: each a dimension of every metric (``definitions``).
    filters = models.JSONField(default=dict, blank=True)
    # {"interval": "day" | "week" | "month", "dimension": "<dimension>" | null}
    grouping = models.JSONField(default=dict)
    # {"relative": "this_month" | ...} or {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}
    period = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, null=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["created_at", "id"], name="reports_report_created_idx"),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=~Q(name=""), name="reports_report_name_not_blank"),
        ]

    def __str__(self) -> str:
        return f"report {self.id}"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ReportRun(models.Model):
    """One run of a report, computed by a background job (``tasks.report_run_job``).

    The definition is copied into the run when it is requested, so a later edit of the report does not
    change what an earlier run means. ``rows`` holds the result (aggregates only: bucket starts,
    dimension codes or ids, numbers; no personal field).
    """

    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("status",)
    # A retention policy on ``reports.reportrun`` purges the runs that finished (or were deleted) more
    # than its days ago (``apps.privacy.services``).
    RETENTION_EXPIRES_ON: ClassVar[tuple[str, ...]] = ("deleted_at", "finished_at")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="runs")
    definition = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    row_count = models.PositiveIntegerField(default=0)
    # [{"code", "detail"}]: why the run failed (codes of the analytics module; no data).
    errors = models.JSONField(default=list, blank=True)
    # [{"bucket": "...", "<dimension>": ..., "<metric>": number, ...}]
    rows = models.JSONField(default=list, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["report", "-created_at", "-id"], name="reports_run_report_idx"),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed"]),
                name="reports_run_status_valid",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="reports_run_progress_max"),
        ]

    def __str__(self) -> str:
        return f"report run {self.id}"
