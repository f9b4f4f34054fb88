"""HTTP of the imports module, under ``/api/v1/imports/``: members and admins upload and commit, every
role reads imports and their reports, admins undo."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from api.auth import Role, admin_auth, member_auth, request_actor, request_principal
from api.pagination import PageParams, paginate_audited
from apps.imports import selectors, services, templates
from apps.imports.models import Import
from apps.imports.schemas import (
    IMPORT_ERRORS,
    UPLOAD_BODY,
    CommitQuery,
    ImportOut,
    ImportPage,
    IssuePage,
    TemplateList,
    TemplateQuery,
    UploadQuery,
)
from apps.imports.uploads import upload_limit

router = Router()


@router.post(
    "",
    summary="Upload a file to import",
    response={200: ImportOut, 202: ImportOut, **IMPORT_ERRORS},
    auth=member_auth,
    openapi_extra=UPLOAD_BODY,
)
def import_upload(request: HttpRequest, query: Query[UploadQuery]) -> Status[Import]:
    """A CSV (UTF-8, `,` or `;`), JSON (array or NDJSON) or XLSX file as the multipart field `file`:
    202 with the new import (its dry run is a job: poll it), or 200 with the earlier import of the
    same content. Members and admins."""
    upload_limit(request)  # before the body is read
    record, created = services.import_upload(
        actor=request_actor(request),
        actor_is_admin=request_principal(request).has_role(Role.ADMIN),
        import_type=query.type,
        upload=request.FILES.get("file"),
        dry_run=query.dry_run,
    )
    return Status(202 if created else 200, record)


@router.get("", summary="List imports", response={200: ImportPage, **IMPORT_ERRORS})
def import_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The organization's imports, newest first."""
    return paginate_audited(selectors.import_list(), page=page)


@router.get(
    "templates", summary="Import types and their columns", response={200: TemplateList, **IMPORT_ERRORS}
)
def template_list(request: HttpRequest) -> dict[str, Any]:
    """Every import type with its documented columns (a document of the code, not a paged list)."""
    return {"templates": templates.template_list()}


@router.get(
    "templates/{import_type}",
    summary="Download an import template",
    response={200: None, **IMPORT_ERRORS},
)
def template_download(request: HttpRequest, import_type: str, query: Query[TemplateQuery]) -> HttpResponse:
    """A CSV or XLSX file with the type's header row and one example row."""
    body, content_type = templates.template_file(import_type=import_type, file_format=query.format)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{import_type}-template.{query.format}"'
    return response


@router.get("{uuid:import_id}", summary="Read an import", response={200: ImportOut, **IMPORT_ERRORS})
def import_read(request: HttpRequest, import_id: uuid.UUID) -> Import:
    """Status, progress and row counts of one import."""
    return selectors.import_get(import_id=import_id)


@router.get(
    "{uuid:import_id}/issues",
    summary="An import's validation report",
    response={200: IssuePage, **IMPORT_ERRORS},
)
def import_issue_list(request: HttpRequest, import_id: uuid.UUID, page: Query[PageParams]) -> dict[str, Any]:
    """Row by row (row, column, code, message), ordered by row."""
    return paginate_audited(selectors.import_issue_list(import_id=import_id), page=page)


@router.post(
    "{uuid:import_id}/commit",
    summary="Commit an import",
    response={202: ImportOut, **IMPORT_ERRORS},
    auth=member_auth,
)
def import_commit(request: HttpRequest, import_id: uuid.UUID, query: Query[CommitQuery]) -> Status[Import]:
    """Write a validated import (a job): `mode=all` refuses (409 `import_has_issues`) while the report
    has an issue; `mode=valid_rows` writes the rows without one. Members and admins."""
    return Status(
        202, services.import_commit(actor=request_actor(request), import_id=import_id, mode=query.mode)
    )


@router.post(
    "{uuid:import_id}/cancel",
    summary="Cancel an import",
    response={200: ImportOut, **IMPORT_ERRORS},
    auth=member_auth,
)
def import_cancel(request: HttpRequest, import_id: uuid.UUID) -> Import:
    """Drop an import before its commit: nothing is written. Members and admins."""
    return services.import_cancel(actor=request_actor(request), import_id=import_id)


@router.post(
    "{uuid:import_id}/undo",
    summary="Undo an import",
    response={200: ImportOut, **IMPORT_ERRORS},
    auth=admin_auth,
)
def import_undo(request: HttpRequest, import_id: uuid.UUID) -> Import:
    """Remove what a committed import created (409 `import_not_undoable` while something else refers
    to it). Admins only."""
    return services.import_undo(actor=request_actor(request), import_id=import_id)
