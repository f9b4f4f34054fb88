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


@router.get("subjects/{uuid:entity_id}/export", response={200: SubjectExport, **PRIVACY_ERRORS})
def subject_export(request: HttpRequest, entity_id: uuid.UUID) -> dict[str, Any]:
    return selectors.subject_export(entity_id=entity_id, viewer=request_viewer(request))


@router.post("subjects/{uuid:entity_id}/erase", response={200: ErasureOut, **PRIVACY_ERRORS})
def subject_erase(request: HttpRequest, entity_id: uuid.UUID) -> dict[str, Any]:
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


@router.get("retention", response={200: RetentionPage, **PRIVACY_ERRORS})
def retention_policy_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    return paginate_audited(selectors.retention_policy_list(), page=page)


@router.put("retention/{model}", response={200: RetentionOut, **PRIVACY_ERRORS})
def retention_policy_set(request: HttpRequest, model: Path[str], payload: RetentionIn) -> RetentionPolicy:
    return services.retention_policy_set(actor=request_actor(request), model=model, days=payload.days)


@router.delete("retention/{model}", response={204: None, **PRIVACY_ERRORS})
def retention_policy_delete(request: HttpRequest, model: Path[str]) -> Status[None]:
    services.retention_policy_delete(actor=request_actor(request), model=model)
    return Status(204, None)
