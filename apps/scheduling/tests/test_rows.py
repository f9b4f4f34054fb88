"""The resource and booking lists served from rows (``RESOURCE_ROWS``, ``BOOKING_ROWS``, ``api.rows``)
answer byte for byte what Ninja answers through their page schemas' validation: nulls, unicode,
series and single bookings, cancelled ones, whole-second and microsecond timestamps."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from ninja import Schema
from ninja.responses import NinjaJSONEncoder

from apps.entities.models import Entity
from apps.scheduling.models import Booking, Resource
from apps.scheduling.schemas import BookingPage, ResourcePage
from apps.scheduling.tests.helpers import BOOKINGS, RESOURCES, SERIES, book, patch, post
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def _through_schema(page_schema: type[Schema], body: dict[str, Any], instances: list[Model]) -> bytes:
    """What Ninja answers for this page through the schema: validate the model instances, dump, render
    with the API's JSON encoder (``ninja.operation._result_to_response``)."""
    page = {
        "items": instances,
        "count": body["count"],
        "count_exact": body["count_exact"],
        "next": body["next"],
    }
    return json.dumps(page_schema.model_validate(page).model_dump(), cls=NinjaJSONEncoder).encode()


def _assert_identical(
    client: Client,
    url: str,
    model: type[Model],
    page_schema: type[Schema],
    tenant: Organization,
    in_tenant: Any,
) -> list[dict[str, Any]]:
    for limit in (500, 2):
        response = client.get(url, {"limit": limit})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json; charset=utf-8"
        body = response.json()
        with in_tenant(tenant):
            by_id = model._default_manager.in_bulk([item["id"] for item in body["items"]], field_name="id")
        instances = [by_id[uuid.UUID(item["id"])] for item in body["items"]]
        assert response.content == _through_schema(page_schema, body, instances)
    return list(client.get(url, {"limit": 500}).json()["items"])


@pytest.fixture
def varied(admin_client: Client, tenant_a: Organization, entity_a: Entity, in_tenant: Any) -> None:
    """Resources with and without an entity; single, series and cancelled bookings, notes or none."""
    linked = post(
        admin_client,
        RESOURCES,
        {
            "kind": "room",
            "name": "Salle Zoë 東京 🚀",
            "timezone": "Europe/Paris",
            "entity_id": str(entity_a.id),
        },
    ).json()
    plain = post(
        admin_client, RESOURCES, {"kind": "desk", "name": "Desk", "timezone": "UTC", "capacity": 3}
    ).json()
    book(admin_client, linked["id"], "2026-03-02T09:00Z", "2026-03-02T10:00Z", notes='Ünïcødé "q" \\ ☃')
    single = book(
        admin_client, plain["id"], "2026-03-02T09:00:00.123456+00:00", "2026-03-02T09:30Z", status="tentative"
    ).json()
    cancelled = book(
        admin_client, plain["id"], "2026-03-03T09:00Z", "2026-03-03T10:00Z", entity_id=str(entity_a.id)
    )
    post(admin_client, f"{BOOKINGS}/{cancelled.json()['id']}/cancel", {})
    series = post(
        admin_client,
        SERIES,
        {
            "resource_id": linked["id"],
            "start": "2026-04-06T08:00Z",
            "end": "2026-04-06T09:00Z",
            "rrule": "FREQ=DAILY;COUNT=3",
        },
    )
    assert series.status_code == 201, series.content
    patch(admin_client, f"{BOOKINGS}/{single['id']}", {"notes": "moved"})
    with in_tenant(tenant_a):
        Resource.objects.filter(id=plain["id"]).update(
            created_at=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
        )
        Booking.objects.filter(id=single["id"]).update(created_by=None)


def test_the_resource_list_from_rows_is_byte_identical_to_the_schema_path(
    viewer_client: Client, tenant_a: Organization, varied: None, in_tenant: Any
) -> None:
    items = _assert_identical(viewer_client, RESOURCES, Resource, ResourcePage, tenant_a, in_tenant)
    assert {item["entity_id"] is None for item in items} == {True, False}
    assert "2026-01-02T03:04:05Z" in {item["created_at"] for item in items}


def test_the_booking_list_from_rows_is_byte_identical_to_the_schema_path(
    viewer_client: Client, tenant_a: Organization, varied: None, in_tenant: Any
) -> None:
    items = _assert_identical(viewer_client, BOOKINGS, Booking, BookingPage, tenant_a, in_tenant)
    assert {item["series_id"] is None for item in items} == {True, False}
    assert {item["status"] for item in items} == {"confirmed", "tentative", "cancelled"}
    assert any(item["created_by"] is None for item in items)
    assert "2026-03-02T09:00:00.123Z" in {item["start"] for item in items}
