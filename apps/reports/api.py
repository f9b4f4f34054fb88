"""HTTP of the reports module, under ``/api/v1/analytics/reports``: admins define reports, members
run them, every role reads definitions, runs and their files (aggregates only: ``series``)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from api.auth import admin_auth, member_auth, request_actor
from api.pagination import PageParams, paginate_audited
from apps.reports import selectors, services
from apps.reports.models import Report, ReportRun
from apps.reports.schemas import (
    REPORT_ERRORS,
    DownloadQuery,
    ReportIn,
    ReportOut,
    ReportPage,
    ReportPatch,
    RunOut,
    RunPage,
    period_plain,
)

router = Router()


@router.get("", summary="List saved reports", response={200: ReportPage, **REPORT_ERRORS})
def report_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The organization's saved reports, newest first."""
    return paginate_audited(selectors.report_list(), page=page)


@router.post("", summary="Save a report", response={201: ReportOut, **REPORT_ERRORS}, auth=admin_auth)
def report_create(request: HttpRequest, payload: ReportIn) -> Status[Report]:
    """Metrics of the catalogue, filters on their dimensions, a grouping and a period. Admins only."""
    values = payload.dict() | {"period": period_plain(payload.period)}
    return Status(201, services.report_create(actor=request_actor(request), **values))


@router.get("{uuid:report_id}", summary="Read a saved report", response={200: ReportOut, **REPORT_ERRORS})
def report_read(request: HttpRequest, report_id: uuid.UUID) -> Report:
    """One saved report of the organization."""
    return selectors.report_get(report_id=report_id)


@router.patch(
    "{uuid:report_id}",
    summary="Update a saved report",
    response={200: ReportOut, **REPORT_ERRORS},
    auth=admin_auth,
)
def report_update(request: HttpRequest, report_id: uuid.UUID, payload: ReportPatch) -> Report:
    """Change some fields; the definition is checked as a whole again. Admins only."""
    changes = payload.dict(exclude_unset=True)
    if "period" in changes:
        changes["period"] = period_plain(payload.period)
    return services.report_update(actor=request_actor(request), report_id=report_id, changes=changes)


@router.delete(
    "{uuid:report_id}",
    summary="Delete a saved report",
    response={204: None, **REPORT_ERRORS},
    auth=admin_auth,
)
def report_delete(request: HttpRequest, report_id: uuid.UUID) -> Status[None]:
    """Remove a report and its runs. Admins only."""
    services.report_delete(report_id=report_id)
    return Status(204, None)


@router.post(
    "{uuid:report_id}/runs", summary="Run a report", response={202: RunOut, **REPORT_ERRORS}, auth=member_auth
)
def run_request(request: HttpRequest, report_id: uuid.UUID) -> Status[ReportRun]:
    """Queue a run (a background job); poll `GET .../runs/{run_id}` for its status. Members and admins."""
    return Status(202, services.run_request(actor=request_actor(request), report_id=report_id))


@router.get("{uuid:report_id}/runs", summary="List a report's runs", response={200: RunPage, **REPORT_ERRORS})
def run_list(request: HttpRequest, report_id: uuid.UUID, page: Query[PageParams]) -> dict[str, Any]:
    """The report's runs, newest first."""
    return paginate_audited(selectors.run_list(report_id=report_id), page=page)


@router.get(
    "{uuid:report_id}/runs/{uuid:run_id}", summary="Read a run", response={200: RunOut, **REPORT_ERRORS}
)
def run_read(request: HttpRequest, report_id: uuid.UUID, run_id: uuid.UUID) -> ReportRun:
    """A run's status (queued, running, succeeded, failed), progress, row count and errors."""
    return selectors.run_get(report_id=report_id, run_id=run_id)


@router.get(
    "{uuid:report_id}/runs/{uuid:run_id}/download",
    summary="Download a run's file",
    response={200: None, **REPORT_ERRORS},
)
def run_download(
    request: HttpRequest, report_id: uuid.UUID, run_id: uuid.UUID, query: Query[DownloadQuery]
) -> HttpResponse:
    """The run's table as CSV (UTF-8, RFC 4180), JSON, or XLSX (a data sheet and a chart); 409 until
    the run has succeeded."""
    report = selectors.report_get(report_id=report_id, audit=False)
    run = selectors.run_get(report_id=report_id, run_id=run_id, with_rows=True, audit=False)
    content, content_type = services.run_download(
        actor=request_actor(request), run=run, file_format=query.format, title=report.name
    )
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="report-run-{run.id}.{query.format}"'
    return response
