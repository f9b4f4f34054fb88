"""The contract's list shapes: ``?limit=&offset=`` -> ``{"items": [...], "count": N}``, and the keyset
pages ``?limit=&cursor=`` -> ``{"items", "count", "count_exact", "next"}``."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from ninja import Schema
from pydantic import Field

from apps.audit.services import audit_access_list

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000
# A keyset page counts at most this many rows, so no page costs more because the list is long.
COUNT_BOUND = 10_000

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


def paginate_keyset(
    queryset: QuerySet[M],
    *,
    key: str,
    limit: int,
    cursor: Any | None,
    descending: bool = False,
    count_bound: int = COUNT_BOUND,
) -> dict[str, Any]:
    """A page of ``queryset`` ordered by its unique field ``key``, after ``cursor`` (the ``key`` of the
    previous page's last row, sent back as its ``next``), and a count that stops at ``count_bound``
    (``count_exact`` false beyond). Two queries, whatever the page and the list's length."""
    limit = min(limit, MAX_LIMIT)
    page_rows = queryset.order_by(f"-{key}" if descending else key)
    if cursor is not None:
        page_rows = page_rows.filter(**{f"{key}__{'lt' if descending else 'gt'}": cursor})
    page = list(page_rows[: limit + 1])
    count = queryset.order_by()[: count_bound + 1].count()
    return {
        "items": page[:limit],
        "count": min(count, count_bound),
        "count_exact": count <= count_bound,
        "next": str(getattr(page[limit - 1], key)) if len(page) > limit else None,
    }
