"""HTTP of the exports module, under ``/api/v1/exports/``: any role exports a list it may read (with
that list's filters), polls the export, downloads its file, deletes it. A caller who is not an admin
sees only their own exports; admins see every export of the organization."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Status

from api.auth import Role, request_actor, request_principal, request_viewer
from api.pagination import PageParams, paginate_audited
from apps.exports import selectors, services
from apps.exports.models import Export
from apps.exports.schemas import EXPORT_ERRORS, ExportError, ExportIn, ExportOut, ExportPage
from hub.files import file_chunks

router = Router()

_TENANT_ROLES = (Role.VIEWER, Role.MEMBER, Role.ADMIN)


def _roles(request: HttpRequest) -> frozenset[str]:
    principal = request_principal(request)
    return frozenset(str(role) for role in _TENANT_ROLES if principal.has_role(role))


@router.post("", summary="Export a list", response={202: ExportOut, **EXPORT_ERRORS, 429: ExportError})
def export_request(request: HttpRequest, payload: ExportIn) -> Status[Export]:
    """Queue an export of a list (`resource`) with that list's own `filters`, as `csv`, `ndjson` or
    `xlsx`; poll `GET /exports/{id}`, then download. The caller needs the role the list needs; the
    file holds what the caller may see now (personal columns for admins only)."""
    export = services.export_request(
        actor=request_actor(request),
        viewer=request_viewer(request),
        roles=_roles(request),
        resource=payload.resource,
        filters=payload.filters,
        file_format=payload.format,
    )
    return Status(202, export)


@router.get("", summary="List exports", response={200: ExportPage, **EXPORT_ERRORS})
def export_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The caller's exports (an admin's: all of the organization's), newest first."""
    return paginate_audited(selectors.export_list(viewer=request_viewer(request)), page=page)


@router.get("{uuid:export_id}", summary="Read an export", response={200: ExportOut, **EXPORT_ERRORS})
def export_read(request: HttpRequest, export_id: uuid.UUID) -> Export:
    """An export's status (queued, running, succeeded, failed, expired), progress, rows and file."""
    return selectors.export_get(export_id=export_id, viewer=request_viewer(request))


@router.get(
    "{uuid:export_id}/download", summary="Download an export's file", response={200: None, **EXPORT_ERRORS}
)
def export_download(request: HttpRequest, export_id: uuid.UUID) -> StreamingHttpResponse:
    """The file, streamed; 409 until the export has succeeded, and once its file has expired."""
    export, content_type = services.export_download(
        actor=request_actor(request), viewer=request_viewer(request), export_id=export_id
    )
    response = StreamingHttpResponse(file_chunks(export.file), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.resource}-{export.id}{_suffix(export)}"'
    response["Content-Length"] = str(export.size)
    return response


def _suffix(export: Export) -> str:
    return export.file[export.file.rfind(".") :] if "." in export.file else ""


@router.delete("{uuid:export_id}", summary="Delete an export", response={204: None, **EXPORT_ERRORS})
def export_delete(request: HttpRequest, export_id: uuid.UUID) -> Status[None]:
    """Remove the export and its file."""
    services.export_delete(viewer=request_viewer(request), export_id=export_id)
    return Status(204, None)
