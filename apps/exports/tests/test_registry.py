"""The registry against the tenant API itself (its OpenAPI document): every list endpoint (a 200 in
the contract's list shape) is exportable or excluded with a reason, and each exportable resource
takes exactly its endpoint's query filters and gives its endpoint's item columns."""

from __future__ import annotations

from typing import Any

import pytest

from api.tenant import api
from apps.exports.registry import EXCLUDED, RESOURCES

PAGING = {"limit", "cursor", "offset"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return api.get_openapi_schema(path_prefix="")


def _page_schema(document: dict[str, Any], operation: dict[str, Any]) -> str | None:
    """The name of the operation's 200 schema when it is the contract's list shape."""
    ref = (
        operation.get("responses", {})
        .get(200, {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
    ).get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    properties = document["components"]["schemas"].get(name, {}).get("properties", {})
    return name if {"items", "count", "next"} <= set(properties) else None


def _list_endpoints(document: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    found = {}
    for path, operations in document["paths"].items():
        operation = operations.get("get")
        if operation is not None and (page := _page_schema(document, operation)):
            found[path] = (page, operation)
    return found


def test_every_list_endpoint_is_exportable_or_excluded_with_a_reason(document: dict[str, Any]) -> None:
    lists = _list_endpoints(document)
    assert len(lists) >= 15  # the walk finds the lists (a broken walk would pass on nothing)
    exportable = {resource.path for resource in RESOURCES.values()}
    missing = sorted(set(lists) - exportable - set(EXCLUDED))
    assert not missing, f"list endpoints neither exportable nor in EXCLUDED: {missing}"
    assert exportable <= set(lists), sorted(exportable - set(lists))
    assert not exportable & set(EXCLUDED)
    assert all(len(reason) > 20 for reason in EXCLUDED.values())


def test_each_resource_takes_its_endpoints_filters_and_gives_its_columns(document: dict[str, Any]) -> None:
    lists = _list_endpoints(document)
    for name, resource in RESOURCES.items():
        page, operation = lists[resource.path]
        assert page == resource.page.__name__, name
        parameters = operation.get("parameters", [])
        query = {p["name"] for p in parameters if p["in"] == "query"} - PAGING
        path = {p["name"] for p in parameters if p["in"] == "path"}
        assert resource.filter_keys() == query | path, name
        items = document["components"]["schemas"][page]["properties"]["items"]["items"]["$ref"]
        columns = document["components"]["schemas"][items.rsplit("/", 1)[-1]]["properties"]
        assert resource.columns == list(columns), name
