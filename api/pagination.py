"""The contract's one list shape: ``?limit=`` with ``?cursor=`` (the previous page's ``next``) or
``?offset=`` -> ``{"items": [...], "count": N, "count_exact": bool, "next": "<cursor>" | null}``.

One paginator for every list of both APIs. A page is one query whatever the list's length: the cursor
is a keyset (the ordering values and the id of the previous page's last row), so Postgres starts from
an index position instead of walking past the earlier rows, and the count stops at a bound
(``HUB_LIST_COUNT_BOUND``, at least 1,000), so counting never costs more than that many rows.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.core import signing
from django.core.exceptions import FieldDoesNotExist
from django.db.models import F, Model, Q, QuerySet
from django.db.models.expressions import OrderBy
from ninja import Schema
from pydantic import Field

from api.rows import RowShape
from apps.audit.services import audit_access_list
from hub.errors import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000
MAX_CURSOR_LENGTH = 2_000
# The contract's floor: ``count`` is exact up to at least this many rows.
MIN_COUNT_BOUND = 1_000
_CURSOR_SALT = "hub.pagination.cursor"

M = TypeVar("M", bound=Model)


class PageParams(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, description=f"Page size; values above {MAX_LIMIT} are capped.")
    cursor: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_:.-]+$",
        description="The `next` of the previous page (opaque). Not with `offset`.",
    )
    offset: int | None = Field(
        None, ge=0, le=MAX_OFFSET, description="Rows to skip (slower on long lists than `cursor`)."
    )


class Page(Schema):
    """What every list answers; each list's page schema adds its ``items``."""

    count: int = Field(description="Rows matching the filters, exact up to the bound (see `count_exact`).")
    count_exact: bool = Field(
        description="false: the list is longer than the bound; `count` is a lower bound."
    )
    next: str | None = Field(description="The `cursor` of the next page; null on the last page.")


def count_bound() -> int:
    """``HUB_LIST_COUNT_BOUND`` (default 1,000): how many rows a page's ``count`` may count."""
    return int(getattr(settings, "HUB_LIST_COUNT_BOUND", MIN_COUNT_BOUND))


@dataclass(frozen=True)
class _Key:
    """One column of a list's ordering: its lookup path, direction and whether it may be null."""

    path: str
    descending: bool
    nullable: bool


def paginate(
    queryset: QuerySet[M], *, page: PageParams, carry: str | None = None, shape: RowShape | None = None
) -> dict[str, Any]:
    """A page of ``queryset`` in its own ordering (the primary key appended as the tie-breaker) and the
    bounded count: two queries, whatever the page size and the list's length.

    ``carry`` names an annotation of the last row that the next page needs (a running balance): it
    rides in the cursor, and ``cursor_carried`` gives it back to the selector.

    ``shape``: the page is read as ``values()`` rows of its columns only (no model instances, and no
    other encrypted column decrypted) and its items are the JSON-ready objects of ``shape.dump``,
    for ``rows_response``."""
    return _page(queryset, page=page, carry=carry, shape=shape)[0]


def paginate_audited(
    queryset: QuerySet[M], *, page: PageParams, carry: str | None = None, shape: RowShape | None = None
) -> dict[str, Any]:
    """``paginate``, and the page recorded as one list read (``access``) naming the ids it returned.

    What every tenant list endpoint answers with, so no module can forget to audit its reads.
    """
    result, found = _page(queryset, page=page, carry=carry, shape=shape)
    pk_name = queryset.model._meta.pk.attname
    rows = [_Row(row[pk_name]) for row in found] if shape is not None else found
    audit_access_list(model=queryset.model, objects=rows)
    return result


class _Row(NamedTuple):
    """What the audit trail reads of a listed row: its primary key."""

    pk: Any


def _page(
    queryset: QuerySet[M], *, page: PageParams, carry: str | None, shape: RowShape | None
) -> tuple[dict[str, Any], list[Any]]:
    """The page (``paginate``'s answer) and its rows as read (instances, or ``values()`` rows)."""
    if page.cursor is not None and page.offset is not None:
        raise Invalid("Send either cursor or offset, not both.", field="cursor")
    limit = min(page.limit, MAX_LIMIT)
    keys = _ordering(queryset)
    rows: QuerySet[Any] = queryset.order_by(*(f"-{k.path}" if k.descending else k.path for k in keys))
    if page.cursor is not None:
        rows = rows.filter(_after(keys, _cursor_values(page.cursor, queryset.model, keys)))
    pk_name = queryset.model._meta.pk.attname
    if shape is not None:
        extra = [_row_key(k.path, pk_name) for k in keys] + ([carry] if carry else [])
        rows = rows.values(*dict.fromkeys([*shape.columns, pk_name, *extra]))
    start = page.offset or 0
    found = list(rows[start : start + limit + 1])
    counted = queryset.order_by()[: count_bound() + 1].count()
    more = len(found) > limit
    found = found[:limit]
    result = {
        "count": min(counted, count_bound()),
        "count_exact": counted <= count_bound(),
        "next": _cursor_for(found[-1], queryset.model, keys, carry) if more else None,
        "items": [shape.dump(row) for row in found] if shape is not None else found,
    }
    return result, found


def cursor_carried(page: PageParams, *, default: Any) -> Any:
    """The value ``paginate(..., carry=...)`` put in ``page.cursor`` (``default`` on a first page)."""
    if page.cursor is None:
        return default
    return _cursor_load(page.cursor).get("c", default)


def _ordering(queryset: QuerySet[M]) -> list[_Key]:
    terms: list[Any] = list(queryset.query.order_by) or (
        list(queryset.model._meta.ordering or []) if queryset.query.default_ordering else []
    )
    keys = [_key(queryset.model, term) for term in terms]
    if not any(k.path in ("pk", "id", queryset.model._meta.pk.name) for k in keys):
        keys.append(_Key("pk", keys[-1].descending if keys else False, nullable=False))
    return keys


def _key(model: type[Model], term: Any) -> _Key:
    if isinstance(term, OrderBy) and isinstance(term.expression, F):
        return _Key(term.expression.name, term.descending, _nullable(model, term.expression.name))
    if isinstance(term, str) and term and term != "?":
        path = term.lstrip("-")
        return _Key(path, term.startswith("-"), _nullable(model, path))
    raise TypeError(f"A list can only be paged on plain fields, not {term!r}.")


def _nullable(model: type[Model], path: str) -> bool:
    """Whether the ordering column at ``path`` may be null (unknown paths count as nullable)."""
    field: Any = None
    try:
        for name in path.split("__"):
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
            model = field.related_model or model
    except FieldDoesNotExist:
        return True
    return bool(field.null)


def _after(keys: list[_Key], values: list[Any]) -> Q:
    """Rows strictly after ``values`` in the ordering ``keys`` (lexicographic, Postgres' null placement:
    last ascending, first descending)."""
    condition = Q(pk__in=[])
    equal = Q()
    for key, value in zip(keys, values, strict=True):
        condition |= equal & _beyond(key, value)
        equal &= Q(**{f"{key.path}__isnull": True}) if value is None else Q(**{key.path: value})
    first, value = keys[0], values[0]
    if value is not None and not first.nullable:
        # A range on the leading column, so the index answers without reading the earlier rows.
        condition &= Q(**{f"{first.path}__{'lte' if first.descending else 'gte'}": value})
    return condition


def _beyond(key: _Key, value: Any) -> Q:
    if value is None:
        return Q(**{f"{key.path}__isnull": False}) if key.descending else Q(pk__in=[])
    beyond = Q(**{f"{key.path}__{'lt' if key.descending else 'gt'}": value})
    if key.nullable and not key.descending:
        beyond |= Q(**{f"{key.path}__isnull": True})
    return beyond


def _signature(model: type[Model], keys: list[_Key]) -> str:
    order = ",".join(f"{'-' if k.descending else ''}{k.path}" for k in keys)
    return f"{model._meta.label_lower}:{order}"


def _cursor_for(
    row: Model | Mapping[str, Any], model: type[Model], keys: list[_Key], carry: str | None
) -> str:
    pk_name = model._meta.pk.attname
    payload: dict[str, Any] = {
        "o": _signature(model, keys),
        "v": [_plain(_value(row, k.path, pk_name)) for k in keys],
    }
    if carry is not None:
        payload["c"] = _plain(row[carry] if isinstance(row, Mapping) else getattr(row, carry))
    return signing.dumps(payload, salt=_CURSOR_SALT, compress=True)


def _cursor_load(cursor: str) -> dict[str, Any]:
    try:
        payload = signing.loads(cursor, salt=_CURSOR_SALT)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise Invalid(
            "This cursor is not one this list gave out (altered or garbled).", field="cursor"
        ) from exc
    if not isinstance(payload, dict):
        raise Invalid("This cursor is not one this list gave out.", field="cursor")
    return payload


def _cursor_values(cursor: str, model: type[Model], keys: list[_Key]) -> list[Any]:
    payload = _cursor_load(cursor)
    values = payload.get("v")
    if (
        not isinstance(values, list)
        or len(values) != len(keys)
        or payload.get("o") != _signature(model, keys)
    ):
        raise Invalid(
            "This cursor belongs to another list or ordering; start again without it.", field="cursor"
        )
    return values


def _row_key(path: str, pk_name: str) -> str:
    """The key of the ordering column ``path`` in a ``values()`` row."""
    return pk_name if path == "pk" else path


def _value(row: Model | Mapping[str, Any], path: str, pk_name: str) -> Any:
    if isinstance(row, Mapping):
        return row[_row_key(path, pk_name)]
    value: Any = row
    for name in path.split("__"):
        if value is None:
            return None
        value = getattr(value, name)
    return value


_PLAIN: dict[type, Callable[[Any], Any]] = {
    datetime.datetime: datetime.datetime.isoformat,
    datetime.date: datetime.date.isoformat,
    datetime.time: datetime.time.isoformat,
    uuid.UUID: str,
    decimal.Decimal: str,
}


def _plain(value: Any) -> Any:
    """A JSON-safe form that the field parses back exactly (microseconds included)."""
    convert = _PLAIN.get(type(value))
    return convert(value) if convert else value
