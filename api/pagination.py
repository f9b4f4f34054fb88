"""The contract's list shape: ``?limit=&offset=`` -> ``{"items": [...], "count": N}``."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from ninja import Schema
from pydantic import Field

from apps.audit.services import audit_access_list

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000

M = TypeVar("M", bound=Model)


class PageParams(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, description=f"Page size; values above {MAX_LIMIT} are capped.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


def paginate(queryset: QuerySet[M], *, limit: int, offset: int) -> dict[str, Any]:
    """One query for the page and one for the count, whatever the page size."""
    limit = min(limit, MAX_LIMIT)
    items = list(queryset[offset : offset + limit])
    return {"items": items, "count": queryset.order_by().count()}


def paginate_audited(queryset: QuerySet[M], *, limit: int, offset: int) -> dict[str, Any]:
    """``paginate``, and the page recorded as one list read (``access``) naming the ids it returned.

    What every tenant list endpoint answers with, so no module can forget to audit its reads.
    """
    result = paginate(queryset, limit=limit, offset=offset)
    audit_access_list(model=queryset.model, objects=result["items"])
    return result
