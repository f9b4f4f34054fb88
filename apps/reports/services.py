"""Writes of the reports module: saved reports (admins), runs requested (members) and computed (the
job). Every write is atomic, validated before it touches a row, and audited (ids and codes only)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_record, audit_snapshot
from apps.reports import definitions, files, series
from apps.reports.errors import ReportErrorCode, ReportInvalid, ReportNotFound, RunNotReady
from apps.reports.models import Report, ReportRun, RunStatus
from apps.reports.tasks import report_run_defer
from hub.errors import HubError
from tenants.models import User

logger = logging.getLogger(__name__)

REPORT_FIELDS = ("name", "metrics", "filters", "grouping", "period")
DOWNLOAD_FORMATS = ("csv", "xlsx", "json")

# --- Saved reports -----------------------------------------------------------------------------------


@transaction.atomic
def report_create(
    *,
    actor: User,
    name: str,
    metrics: list[str],
    filters: dict[str, Any] | None = None,
    grouping: dict[str, Any] | None = None,
    period: dict[str, Any] | None = None,
) -> Report:
    """Save a report; the whole definition is checked against the catalogue first (422, nothing
    written)."""
    values = definitions.definition_clean(
        {"name": name, "metrics": metrics, "filters": filters, "grouping": grouping, "period": period}
    )
    report = Report(**values, created_by=actor, updated_by=actor)
    report.save(force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=report, actor=actor)
    return report


def _report_locked(report_id: uuid.UUID) -> Report:
    report = Report.objects.select_for_update().filter(id=report_id).first()
    if report is None:
        raise ReportNotFound()
    return report


@transaction.atomic
def report_update(*, actor: User, report_id: uuid.UUID, changes: dict[str, Any]) -> Report:
    """Change some fields, re-read under the report's lock; the definition is checked as a whole again
    (new metrics must have the filtered dimensions) and only the changed fields are saved and audited.
    Runs already requested keep the definition they were requested with."""
    unknown = set(changes) - set(REPORT_FIELDS)
    if unknown:
        raise ReportInvalid(f"{', '.join(sorted(unknown))} cannot be changed.", field=sorted(unknown)[0])
    for field, value in changes.items():
        if value is None and field != "filters":
            raise ReportInvalid(f"{field} cannot be null.", field=field)
    report = _report_locked(report_id)
    before = audit_snapshot(report)
    values = definitions.definition_clean({**{f: getattr(report, f) for f in REPORT_FIELDS}, **changes})
    changed = [field for field in REPORT_FIELDS if values[field] != getattr(report, field)]
    for field in changed:
        setattr(report, field, values[field])
    report.updated_by = actor
    report.save(update_fields=[*changed, "updated_by", "updated_at"])
    audit_change(action=AuditEntry.Action.UPDATE, instance=report, before=before, actor=actor, fields=changed)
    return report


@transaction.atomic
def report_delete(*, report_id: uuid.UUID) -> None:
    """Remove a report and its runs (each delete audited by the hard-delete receiver)."""
    _report_locked(report_id).delete()


# --- Runs ------------------------------------------------------------------------------------------


@transaction.atomic
def run_request(*, actor: User, report_id: uuid.UUID) -> ReportRun:
    """Queue a run of the report: the run row and its job are written in this transaction (both or
    neither). The run keeps a copy of the definition as it is now."""
    report = Report.objects.filter(id=report_id).first()
    if report is None:
        raise ReportNotFound()
    definition = {field: getattr(report, field) for field in REPORT_FIELDS if field != "name"}
    run = ReportRun(report=report, definition=definition, requested_by=actor)
    run.save(force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=run, actor=actor)
    report_run_defer(run_id=run.id)
    return run


def _run_started(run_id: uuid.UUID) -> ReportRun | None:
    """Mark the run running (committed, so its status can be read while it computes); ``None`` when
    there is nothing to do (gone, or already succeeded: a job run twice computes once)."""
    with transaction.atomic():
        run = ReportRun.objects.select_for_update().filter(id=run_id, deleted_at__isnull=True).first()
        if run is None or run.status == RunStatus.SUCCEEDED:
            return None
        run.status, run.progress, run.errors, run.started_at = RunStatus.RUNNING, 0, [], timezone.now()
        run.save(update_fields=["status", "progress", "errors", "started_at"])
        return run


def _run_progress(run_id: uuid.UUID, done: int, total: int) -> None:
    # Committed on its own (the job is not atomic): a status read sees the progress as it moves.
    with transaction.atomic():
        ReportRun.objects.filter(id=run_id).update(progress=min(99, done * 100 // max(total, 1)))


def _run_finished(run: ReportRun, *, status: str, rows: list[Any], errors: list[Any]) -> None:
    with transaction.atomic():
        before = audit_snapshot(run)
        run.status, run.rows, run.row_count, run.errors = status, rows, len(rows), errors
        run.progress = 100 if status == RunStatus.SUCCEEDED else run.progress
        run.finished_at = timezone.now()
        fields = ["status", "rows", "row_count", "errors", "progress", "finished_at"]
        ReportRun.objects.filter(id=run.id).update(**{field: getattr(run, field) for field in fields})
        audit_change(
            action=AuditEntry.Action.UPDATE, instance=run, before=before, fields=["status", "row_count"]
        )


def run_execute(*, run_id: uuid.UUID) -> None:
    """Compute a run (the job): running, progress per series, then succeeded with its rows, or failed
    naming why (a metric since removed, a period past the analytics limits). Not atomic as a whole:
    each step commits. An unexpected error marks the run failed and is raised again, so the queue
    retries the job (a retry starts the run over)."""
    run = _run_started(run_id)
    if run is None:
        return
    tz = series.organization_time_zone()
    start, end = definitions.period_dates(
        run.definition["period"], today=timezone.now().astimezone(tz).date()
    )
    ReportRun.objects.filter(id=run.id).update(period_start=start, period_end=end)
    try:
        rows = series.table_compute(
            definition=run.definition,
            start=start,
            end=end,
            tz=tz,
            on_step=lambda done, total: _run_progress(run.id, done, total),
        )
    except HubError as exc:
        _run_finished(run, status=RunStatus.FAILED, rows=[], errors=[_error(exc)])
        return
    except Exception:
        logger.exception("report run %s failed", run.id)
        _run_finished(
            run,
            status=RunStatus.FAILED,
            rows=[],
            errors=[
                {"code": ReportErrorCode.RUN_ERROR, "detail": "An unexpected error; the run is retried."}
            ],
        )
        raise
    _run_finished(run, status=RunStatus.SUCCEEDED, rows=rows, errors=[])


def _error(exc: HubError) -> dict[str, Any]:
    return {"code": str(exc.instance_code), "detail": exc.detail}


def run_download(*, actor: User, run: ReportRun, file_format: str, title: str) -> tuple[bytes, str]:
    """The run's table as a file (``csv``, ``xlsx``, ``json``) and its content type; the download is
    audited (the run's id and the format)."""
    if file_format not in DOWNLOAD_FORMATS:
        raise ReportInvalid(
            f"format is one of {', '.join(DOWNLOAD_FORMATS)}.",
            field="format",
            code=ReportErrorCode.FORMAT_UNKNOWN,
        )
    if run.status != RunStatus.SUCCEEDED:
        raise RunNotReady()
    if file_format == "csv":
        content = files.csv_render(definition=run.definition, rows=run.rows)
    elif file_format == "json":
        content = files.json_render(run_id=str(run.id), definition=run.definition, rows=run.rows)
    else:
        content = files.xlsx_render(title=title, definition=run.definition, rows=run.rows)
    audit_record(
        action=AuditEntry.Action.ACCESS, instance=run, changes={"download": [None, file_format]}, actor=actor
    )
    return content, files.CONTENT_TYPES[file_format]
