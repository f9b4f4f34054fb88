"""Reads of the reports module: saved reports and their runs, each audited as a read.

Every lookup is inside the current organization (its schema, behind row-level security): another
organization's report or run id is the same 404 as one that never existed."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.audit.services import audit_access
from apps.reports.errors import ReportNotFound, RunNotFound
from apps.reports.models import Report, ReportRun

# What a run's status read and its list need; ``rows`` (the result) only for a download.
RUN_SUMMARY_FIELDS = (
    "id",
    "report_id",
    "status",
    "progress",
    "row_count",
    "errors",
    "period_start",
    "period_end",
    "requested_by_id",
    "created_at",
    "started_at",
    "finished_at",
)


def report_list() -> QuerySet[Report]:
    """The organization's saved reports, newest first."""
    return Report.objects.order_by("-created_at", "-id")


def report_get(*, report_id: uuid.UUID, audit: bool = True) -> Report:
    """One report of this organization (audited as a read unless the caller audits its own use)."""
    report = Report.objects.filter(id=report_id).first()
    if report is None:
        raise ReportNotFound()
    if audit:
        audit_access(instance=report)
    return report


def run_list(*, report_id: uuid.UUID) -> QuerySet[ReportRun]:
    """The live runs of one report of this organization, newest first (the report must exist)."""
    if not Report.objects.filter(id=report_id).exists():
        raise ReportNotFound()
    runs = ReportRun.objects.filter(report_id=report_id, deleted_at__isnull=True)
    return runs.only(*RUN_SUMMARY_FIELDS).order_by("-created_at", "-id")


def run_get(
    *, report_id: uuid.UUID, run_id: uuid.UUID, with_rows: bool = False, audit: bool = True
) -> ReportRun:
    """One live run of one report of this organization, audited as a read (unless the caller audits
    its own use: a download); any other id is 404."""
    runs = ReportRun.objects.filter(id=run_id, report_id=report_id, deleted_at__isnull=True)
    run = (runs if with_rows else runs.only(*RUN_SUMMARY_FIELDS, "definition")).first()
    if run is None:
        raise RunNotFound()
    if audit:
        audit_access(instance=run)
    return run
