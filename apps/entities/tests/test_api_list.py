"""``GET /api/v1/entities/``: filters, whitelisted ordering, pagination and a constant query count."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from model_bakery import baker

from apps.entities.models import Entity
from apps.entities.selectors import ORDERINGS
from apps.entities.tests.baker_recipes import entity as entity_recipe
from apps.entities.tests.helpers import URL, assert_error
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def _names(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["items"]]


@pytest.fixture
def catalogue(tenant_a: Organization, in_tenant: Any) -> dict[str, Entity]:
    """Five live entities and one deleted one, with distinct kinds, statuses, tags and references."""
    with in_tenant(tenant_a):
        rows = {
            "alpha": entity_recipe.make(
                name="Alpha Widgets", reference="W-300", kind_id="customer", tags=["vip"]
            ),
            "beta": entity_recipe.make(
                name="beta supplies", reference="S-100", kind_id="supplier", tags=["eu"]
            ),
            "gamma": entity_recipe.make(
                name="Gamma", reference="X-ALPHA-2", kind_id="customer", tags=["vip", "eu"], status="inactive"
            ),
            "delta": entity_recipe.make(name="Delta 50%_off", reference=None, kind_id="asset", tags=[]),
            "epsilon": entity_recipe.make(name="Epsilon", reference="C-200", kind_id="contact", tags=["vip"]),
            "gone": entity_recipe.make(
                name="Alpha Gone",
                reference="G-1",
                kind_id="customer",
                tags=["vip"],
                deleted_at="2024-01-01T00:00:00Z",
            ),
        }
    return rows


class TestShape:
    def test_empty(self, viewer_client: Client) -> None:
        assert viewer_client.get(URL).json() == {"items": [], "count": 0, "count_exact": True, "next": None}

    def test_items_and_count(self, viewer_client: Client, catalogue: dict[str, Entity]) -> None:
        body = viewer_client.get(URL).json()

        assert body["count"] == 5
        assert len(body["items"]) == 5
        assert "Alpha Gone" not in [item["name"] for item in body["items"]]
        assert {item["id"] for item in body["items"]} == {
            str(row.id) for key, row in catalogue.items() if key != "gone"
        }

    def test_default_order_is_newest_first(self, viewer_client: Client, catalogue: dict[str, Entity]) -> None:
        stamps = [item["created_at"] for item in viewer_client.get(URL).json()["items"]]
        assert stamps == sorted(stamps, reverse=True)


class TestFilters:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("kind=customer", {"Alpha Widgets", "Gamma"}),
            ("kind=asset", {"Delta 50%_off"}),
            ("kind=nosuchkind", set()),
            ("status=inactive", {"Gamma"}),
            ("status=active", {"Alpha Widgets", "beta supplies", "Delta 50%_off", "Epsilon"}),
            ("tag=vip", {"Alpha Widgets", "Gamma", "Epsilon"}),
            ("tag=eu", {"beta supplies", "Gamma"}),
            ("tag=none", set()),
            ("kind=customer&status=active&tag=vip", {"Alpha Widgets"}),
        ],
    )
    def test_filter(
        self, viewer_client: Client, catalogue: dict[str, Entity], query: str, expected: set[str]
    ) -> None:
        response = viewer_client.get(f"{URL}?{query}")
        assert set(_names(response)) == expected
        assert response.json()["count"] == len(expected)

    @pytest.mark.parametrize(
        ("q", "expected"),
        [
            ("alpha", {"Alpha Widgets", "Gamma"}),  # name, and reference X-ALPHA-2, case-insensitive
            ("BETA", {"beta supplies"}),
            ("s-1", {"beta supplies"}),
            ("50%", {"Delta 50%_off"}),  # LIKE wildcards are literal
            ("%", {"Delta 50%_off"}),
            ("_", {"Delta 50%_off"}),
            ("nothing", set()),
        ],
    )
    def test_text_search(
        self, viewer_client: Client, catalogue: dict[str, Entity], q: str, expected: set[str]
    ) -> None:
        assert set(_names(viewer_client.get(URL, {"q": q}))) == expected

    def test_filter_with_pagination_counts_all_matches(
        self, viewer_client: Client, catalogue: dict[str, Entity]
    ) -> None:
        body = viewer_client.get(URL, {"tag": "vip", "limit": "1"}).json()
        assert body["count"] == 3
        assert len(body["items"]) == 1


class TestOrdering:
    @pytest.mark.parametrize(
        ("ordering", "expected"),
        [
            ("name", ["Alpha Widgets", "Delta 50%_off", "Epsilon", "Gamma", "beta supplies"]),
            ("-name", ["beta supplies", "Gamma", "Epsilon", "Delta 50%_off", "Alpha Widgets"]),
            ("reference", ["Epsilon", "beta supplies", "Alpha Widgets", "Gamma", "Delta 50%_off"]),
            ("-reference", ["Delta 50%_off", "Gamma", "Alpha Widgets", "beta supplies", "Epsilon"]),
            ("kind", ["Delta 50%_off", "Epsilon", "Alpha Widgets", "Gamma", "beta supplies"]),
            ("-kind", ["beta supplies", "Gamma", "Alpha Widgets", "Epsilon", "Delta 50%_off"]),
            ("created_at", ["Alpha Widgets", "beta supplies", "Gamma", "Delta 50%_off", "Epsilon"]),
            ("-created_at", ["Epsilon", "Delta 50%_off", "Gamma", "beta supplies", "Alpha Widgets"]),
        ],
    )
    def test_ordering(
        self, viewer_client: Client, catalogue: dict[str, Entity], ordering: str, expected: list[str]
    ) -> None:
        assert _names(viewer_client.get(URL, {"ordering": ordering})) == expected

    def test_updated_at(self, member_client: Client, catalogue: dict[str, Entity]) -> None:
        member_client.patch(
            f"{URL}{catalogue['beta'].id}", {"status": "inactive"}, content_type="application/json"
        )

        assert _names(member_client.get(URL, {"ordering": "-updated_at"}))[0] == "beta supplies"
        assert _names(member_client.get(URL, {"ordering": "updated_at"}))[-1] == "beta supplies"

    def test_ties_are_broken_by_id_so_pages_are_stable(
        self, viewer_client: Client, tenant_a: Organization, in_tenant: Any
    ) -> None:
        with in_tenant(tenant_a):
            rows = entity_recipe.make(name="Same", _quantity=7)
        ids = sorted(str(row.id) for row in rows)

        pages = [
            viewer_client.get(URL, {"ordering": "name", "limit": "3", "offset": str(offset)}).json()
            for offset in (0, 3, 6)
        ]

        assert [item["id"] for page in pages for item in page["items"]] == ids

    @pytest.mark.parametrize(
        "ordering", ["password", "organization_id", "name;DROP TABLE x", "?", "", "-", "deleted_at"]
    )
    def test_unknown_ordering_is_422(self, viewer_client: Client, ordering: str) -> None:
        body = assert_error(viewer_client.get(URL, {"ordering": ordering}), 422, "validation_error")
        assert body["errors"][0]["loc"][-1] == "ordering"


class TestPagination:
    @pytest.fixture
    def sixty(self, tenant_a: Organization, in_tenant: Any) -> None:
        with in_tenant(tenant_a):
            entity_recipe.make(_quantity=60)

    def test_default_limit_is_50(self, viewer_client: Client, sixty: None) -> None:
        body = viewer_client.get(URL).json()
        assert len(body["items"]) == 50
        assert body["count"] == 60

    def test_limit_and_offset(self, viewer_client: Client, sixty: None) -> None:
        everything = [item["id"] for item in viewer_client.get(URL, {"limit": 500}).json()["items"]]

        page = viewer_client.get(URL, {"limit": 7, "offset": 10}).json()

        assert [item["id"] for item in page["items"]] == everything[10:17]
        assert page["count"] == 60

    def test_offset_past_the_end(self, viewer_client: Client, sixty: None) -> None:
        assert viewer_client.get(URL, {"offset": 1000}).json() == {
            "items": [],
            "count": 60,
            "count_exact": True,
            "next": None,
        }

    def test_limit_above_500_is_capped(
        self, viewer_client: Client, tenant_a: Organization, in_tenant: Any
    ) -> None:
        with in_tenant(tenant_a):
            baker.make(Entity, kind_id="asset", _quantity=501, _bulk_create=True)

        for limit in (501, 10_000, 10**30):
            body = viewer_client.get(URL, {"limit": limit}).json()
            assert len(body["items"]) == 500
            assert body["count"] == 501

    @pytest.mark.parametrize(
        "query",
        [
            "limit=0",
            "limit=-1",
            "offset=-1",
            "limit=abc",
            "offset=1.5",
            "limit=",
            "offset=1000001",
            "limit=1e3",
        ],
    )
    def test_bad_pagination_is_422(self, viewer_client: Client, query: str) -> None:
        assert_error(viewer_client.get(f"{URL}?{query}"), 422, "validation_error")


class TestQueryCount:
    """The list costs the same number of queries for 3 entities as for 40 (no N+1)."""

    @staticmethod
    def _queries(client: Client, limit: int) -> int:
        client.get(URL, {"limit": limit})  # warm-up: whatever a first request does once
        with CaptureQueriesContext(connection) as captured:
            response = client.get(URL, {"limit": limit})
        assert response.status_code == 200
        assert response.json()["count"] > limit
        assert len(response.json()["items"]) == limit
        # One query for the page, one for the count; the rest is per request (transaction, auth).
        entity_queries = [query for query in captured.captured_queries if "entities_entity" in query["sql"]]
        assert len(entity_queries) == 2, entity_queries
        return len(captured.captured_queries)

    def test_constant_whatever_the_page_size(
        self, viewer_client: Client, tenant_a: Organization, in_tenant: Any, actor: Any
    ) -> None:
        with in_tenant(tenant_a):
            entity_recipe.make(created_by=actor, updated_by=actor, _quantity=3)
        small = self._queries(viewer_client, limit=2)

        with in_tenant(tenant_a):
            entity_recipe.make(created_by=actor, updated_by=actor, _quantity=37)
        large = self._queries(viewer_client, limit=39)

        assert small == large
        assert large <= 8, large

    def test_constant_with_filters_and_ordering(
        self, viewer_client: Client, tenant_a: Organization, in_tenant: Any
    ) -> None:
        with in_tenant(tenant_a):
            entity_recipe.make(tags=["vip"], _quantity=3)
        query: dict[str, Any] = {"tag": "vip", "kind": "customer", "q": "Entity", "ordering": "kind"}
        viewer_client.get(URL, query)
        with CaptureQueriesContext(connection) as small:
            assert viewer_client.get(URL, {**query, "limit": 2}).json()["count"] == 3
        with in_tenant(tenant_a):
            entity_recipe.make(tags=["vip"], _quantity=37)
        with CaptureQueriesContext(connection) as large:
            assert len(viewer_client.get(URL, {**query, "limit": 39}).json()["items"]) == 39

        assert len(small.captured_queries) == len(large.captured_queries)


def test_list_never_shows_another_organizations_entities(
    viewer_client: Client, b_member_client: Client, entity_b: Entity, tenant_a: Organization, in_tenant: Any
) -> None:
    with in_tenant(tenant_a):
        entity_recipe.make(name="Mine")

    body = viewer_client.get(URL, {"q": "e", "limit": "500"}).json()

    assert body["count"] == 1
    assert [item["name"] for item in body["items"]] == ["Mine"]
    assert str(entity_b.id) not in {item["id"] for item in body["items"]}
    # B sees its own, and not A's.
    assert [item["name"] for item in b_member_client.get(URL).json()["items"]] == ["Beta Secret Ltd"]


def test_unknown_query_parameters_are_ignored(viewer_client: Client, entity_b: Any) -> None:
    assert viewer_client.get(URL, {"organization_id": str(uuid.uuid4())}).json()["count"] == 0


def test_openapi_documents_the_ordering_whitelist(viewer_client: Client) -> None:
    spec = viewer_client.get("/api/v1/openapi.json").json()
    parameters = spec["paths"]["/api/v1/entities/"]["get"]["parameters"]
    ordering = next(parameter for parameter in parameters if parameter["name"] == "ordering")
    assert set(ordering["schema"]["enum"]) == set(ORDERINGS)
