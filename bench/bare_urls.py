"""Bench-only URLs (``bench.bare_settings``): the entities list with no tenancy and no authentication.

The handler is the Hub's ``entity_list`` minus the tenant: the same query schema (``EntityFilter``),
selector (``selectors.entity_list``), pagination (one page query and one count) and response schema
(``EntityPage`` of ``EntityOut``), on the same path, so only the isolation layers differ.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.backends.signals import connection_created
from django.http import HttpRequest
from django.urls import path
from ninja import NinjaAPI, Query

from api.errors import StrictJSONParser, install_error_handlers
from api.pagination import paginate
from apps.entities import selectors
from apps.entities.schemas import EntityFilter, EntityPage

api = NinjaAPI(
    title="Hub bench baseline",
    version="bench",
    urls_namespace="bench-bare",
    parser=StrictJSONParser(),
    docs_url=None,
)
install_error_handlers(api)


def _name_the_schema(sender: Any, connection: Any, **kwargs: Any) -> None:
    """The plain backend knows no tenant; encrypted fields find their organization by schema name."""
    connection.schema_name = getattr(settings, "BENCH_SCHEMA")  # noqa: B009 - bench.bare_settings only


connection_created.connect(_name_the_schema, dispatch_uid="bench-schema-name")


@api.get("/entities/", response=EntityPage)
def entity_list(request: HttpRequest, filters: Query[EntityFilter]) -> dict[str, Any]:
    entities = selectors.entity_list(
        viewer=None,
        kind=filters.kind,
        status=filters.status,
        tag=filters.tag,
        q=filters.q,
        ordering=filters.ordering,
    )
    return paginate(entities, page=filters)


urlpatterns = [path("api/v1/", api.urls)]
