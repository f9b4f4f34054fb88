"""HTTP of the privacy module (admins only): data subject export and erasure, retention policies."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Path, Query, Router, Status

from api.auth import admin_auth, request_actor, request_viewer
from api.pagination import PageParams, paginate_audited
from apps.privacy import selectors, services
from apps.privacy.models import RetentionPolicy
from apps.privacy.schemas import (
    PRIVACY_ERRORS,
    ErasureOut,
    RetentionIn,
    RetentionOut,
    RetentionPage,
    SubjectExport,
)

router = Router(auth=admin_auth)


@router.get(
    "subjects/{uuid:entity_id}/export",
    summary="Export a data subject's data",
    response={200: SubjectExport, **PRIVACY_ERRORS},
)
def subject_export(request: HttpRequest, entity_id: uuid.UUID) -> dict[str, Any]:
    """Everything the organization holds about one data subject (the entity and the rows linked to it), as
    one JSON document. Admins only."""
    return selectors.subject_export(entity_id=entity_id, viewer=request_viewer(request))


@router.post(
    "subjects/{uuid:entity_id}/erase",
    summary="Erase a data subject",
    response={200: ErasureOut, **PRIVACY_ERRORS},
)
def subject_erase(request: HttpRequest, entity_id: uuid.UUID) -> dict[str, Any]:
    """Erase the personal data of the entity and of the rows linked to it, keeping what the ledger must
    keep; erasing again answers `erased_now: false`. Admins only."""
    erasure = services.subject_erase(
        actor=request_actor(request), entity_id=entity_id, viewer=request_viewer(request)
    )
    return {
        "entity_id": erasure.entity.id,
        "erased": True,
        "erased_at": erasure.entity.erased_at,
        "erased_now": erasure.erased_now,
        "related_rows": erasure.related_rows,
    }


@router.get("retention", summary="List retention policies", response={200: RetentionPage, **PRIVACY_ERRORS})
def retention_policy_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """How long each kind of record is kept before the periodic retention job deletes it, a page at a
    time. Admins only."""
    return paginate_audited(selectors.retention_policy_list(), page=page)


@router.put(
    "retention/{model}", summary="Set a retention policy", response={200: RetentionOut, **PRIVACY_ERRORS}
)
def retention_policy_set(request: HttpRequest, model: Path[str], payload: RetentionIn) -> RetentionPolicy:
    """Keep the records of `model` (for example `entities.entity`) for `days`; older ones are deleted by
    the periodic retention job. Admins only."""
    return services.retention_policy_set(actor=request_actor(request), model=model, days=payload.days)


@router.delete(
    "retention/{model}", summary="Delete a retention policy", response={204: None, **PRIVACY_ERRORS}
)
def retention_policy_delete(request: HttpRequest, model: Path[str]) -> Status[None]:
    """Stop deleting the records of `model`: they are kept again until deleted otherwise. Admins only."""
    services.retention_policy_delete(actor=request_actor(request), model=model)
    return Status(204, None)
