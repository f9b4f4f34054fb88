"""The contract's one list shape on every list of both APIs (issue 12, "lists must not cost O(tenant
size)"): ``{items, count, count_exact, next}``, keyset cursors through every ordering without gaps or
duplicates (ties and nulls included), a bounded count, bad cursors refused, constant queries."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.entities.models import Entity
from apps.entities.selectors import ORDERINGS
from apps.entities.tests.baker_recipes import entity as entity_recipe
from tenants.models import Organization
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/entities/"


def _list_operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every GET whose 200 answer holds ``items``: the lists of an OpenAPI document."""
    schemas = document["components"]["schemas"]
    found = []
    for path, operations in document["paths"].items():
        get = operations.get("get")
        if not get:
            continue
        ok = get["responses"].get("200", {}).get("content", {}).get("application/json", {})
        ref = ok.get("schema", {}).get("$ref", "")
        body = schemas.get(ref.rsplit("/", 1)[-1], {})
        if "items" in body.get("properties", {}):
            found.append((path, get | {"body": body}))
    return found


@pytest.mark.parametrize(
    ("client_fixture", "url", "at_least"),
    [("viewer_client", "/api/v1/openapi.json", 11), ("platform_client", "/api/platform/v1/openapi.json", 2)],
)
def test_every_list_of_both_apis_has_the_contract_shape_and_parameters(
    request: pytest.FixtureRequest, client_fixture: str, url: str, at_least: int
) -> None:
    lists = _list_operations(request.getfixturevalue(client_fixture).get(url).json())
    assert len(lists) >= at_least
    for path, operation in lists:
        body = operation["body"]
        assert {"items", "count", "count_exact", "next"} <= set(body["required"]), path
        parameters = {parameter["name"] for parameter in operation.get("parameters", [])}
        assert {"limit", "cursor", "offset"} <= parameters, path


@pytest.fixture
def tied(tenant_a: Organization, in_tenant: Any) -> list[Entity]:
    """Eleven entities with ties on every ordering column and some null references."""
    moment = timezone.now() - datetime.timedelta(days=1)
    with in_tenant(tenant_a):
        rows = [
            entity_recipe.make(
                name=f"Name {index % 3}",
                # References tie across kinds (unique within one) and are null on four rows.
                reference=None if index in (0, 8, 9, 10) else f"R-{index % 2}",
                kind_id=("customer", "supplier", "contact", "asset")[(index // 2) % 4],
            )
            for index in range(11)
        ]
        Entity.objects.filter(id__in=[row.id for row in rows[:6]]).update(
            created_at=moment, updated_at=moment
        )
    return rows


def _walk(client: Client, url: str, params: dict[str, str | int]) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        body = client.get(url, params | ({"cursor": cursor} if cursor else {})).json()
        ids += [item["id"] for item in body["items"]]
        cursor = body["next"]
        if cursor is None:
            return ids
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize("ordering", sorted(ORDERINGS))
def test_cursor_walks_every_ordering_without_gaps_or_duplicates(
    viewer_client: Client, tied: list[Entity], ordering: str
) -> None:
    params: dict[str, str | int] = {"ordering": ordering, "limit": 500}
    everything = viewer_client.get(URL, params).json()["items"]

    walked = _walk(viewer_client, URL, {"ordering": ordering, "limit": 3})

    assert walked == [item["id"] for item in everything]
    assert len(set(walked)) == len(tied)


def test_count_is_a_lower_bound_beyond_the_bound(
    viewer_client: Client, tied: list[Entity], settings: Any
) -> None:
    settings.HUB_LIST_COUNT_BOUND = 5
    body = viewer_client.get(URL, {"limit": 2}).json()
    assert (body["count"], body["count_exact"]) == (5, False)
    settings.HUB_LIST_COUNT_BOUND = 11
    body = viewer_client.get(URL, {"limit": 2}).json()
    assert (body["count"], body["count_exact"]) == (11, True)


def test_bad_cursors_are_422_and_never_500(viewer_client: Client, tied: list[Entity]) -> None:
    cursor = viewer_client.get(URL, {"ordering": "name"} | {"limit": 2}).json()["next"]
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    bad: tuple[dict[str, str | int], ...] = (
        {"cursor": "garbage", "ordering": "name"},
        {"cursor": tampered, "ordering": "name"},
        {"cursor": cursor, "ordering": "-created_at"},
        {"cursor": cursor, "ordering": "name", "offset": 2},
    )
    for params in bad:
        body = assert_error(viewer_client.get(URL, params), 422, "validation_error")
        assert body["errors"][0]["loc"][-1] == "cursor", params
    kinds_cursor = viewer_client.get("/api/v1/entities/kinds", {"limit": 1}).json()["next"]
    assert_error(viewer_client.get(URL, {"cursor": kinds_cursor}), 422, "validation_error")


def test_offset_still_pages(viewer_client: Client, tied: list[Entity]) -> None:
    everything = [item["id"] for item in viewer_client.get(URL, {"limit": 500}).json()["items"]]
    page = viewer_client.get(URL, {"limit": 4, "offset": 3}).json()
    assert [item["id"] for item in page["items"]] == everything[3:7]
    assert [item["id"] for item in viewer_client.get(URL, {"cursor": page["next"]}).json()["items"]] == (
        everything[7:]
    )


def _queries(client: Client, url: str, params: dict[str, str | int]) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return len(captured.captured_queries)


def test_queries_per_page_are_constant_whatever_page_size_table_size_or_cursor(
    viewer_client: Client, tenant_a: Organization, in_tenant: Any
) -> None:
    with in_tenant(tenant_a):
        entity_recipe.make(_quantity=3)
    small = _queries(viewer_client, URL, {"limit": 2})
    with in_tenant(tenant_a):
        entity_recipe.make(_quantity=40)
    cursor = viewer_client.get(URL, {"limit": 2}).json()["next"]
    assert _queries(viewer_client, URL, {"limit": 2}) == small
    assert _queries(viewer_client, URL, {"limit": 500}) == small
    assert _queries(viewer_client, URL, {"limit": 2, "cursor": cursor}) == small


def test_platform_lists_page_by_cursor(
    platform_client: Client, tenant_a: Organization, tenant_b: Organization
) -> None:
    everything = platform_client.get("/api/platform/v1/tenants", {"limit": 500}).json()["items"]
    walked: list[str] = []
    cursor = None
    for _ in range(50):
        page = platform_client.get(
            "/api/platform/v1/tenants", {"limit": 1} | ({"cursor": cursor} if cursor else {})
        )
        walked += [tenant["organization_id"] for tenant in page.json()["items"]]
        cursor = page.json()["next"]
        if cursor is None:
            break
    assert walked == [tenant["organization_id"] for tenant in everything]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/entities/kinds",
        "/api/v1/transactions/",
        "/api/v1/transactions/accounts",
        "/api/v1/scheduling/resources",
        "/api/v1/scheduling/bookings",
        "/api/v1/audit/",
        "/api/v1/privacy/retention",
        "/api/v1/members/",
    ],
)
def test_every_tenant_list_costs_the_same_queries_whatever_the_page_size(
    admin_client: Client, in_tenant: Any, tenant_a: Organization, url: str
) -> None:
    with in_tenant(tenant_a):
        entity_recipe.make(_quantity=3)  # rows for the audit trail too
    first = admin_client.get(url, {"limit": 1}).json()
    assert {"items", "count", "count_exact", "next"} <= set(first), url
    assert _queries(admin_client, url, {"limit": 1}) == _queries(admin_client, url, {"limit": 500})
    if first["next"]:
        assert _queries(admin_client, url, {"limit": 1, "cursor": first["next"]}) == _queries(
            admin_client, url, {"limit": 1}
        )


def test_a_count_bound_below_the_contract_floor_is_refused_at_start() -> None:
    environment = os.environ | {"HUB_LIST_COUNT_BOUND": "999", "DJANGO_SETTINGS_MODULE": "hub.settings"}
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode != 0
    assert "HUB_LIST_COUNT_BOUND must be at least 1000" in started.stderr
