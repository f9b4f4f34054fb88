"""The analytics API: catalogue, dashboard, time series and settings; bad input; roles; isolation; audit."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django_tenants.utils import tenant_context

from apps.analytics.metrics import METRICS
from apps.analytics.tests.conftest import ANALYTICS, Business
from apps.audit.models import AuditEntry
from apps.deliveries.models import Delivery
from apps.deliveries.services import delivery_enqueue
from apps.scheduling.models import AvailabilityRule
from tenants.models import Organization
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def test_metric_catalogue(viewer_client: Client) -> None:
    body = viewer_client.get(ANALYTICS + "metrics").json()
    assert [m["name"] for m in body["metrics"]] == list(METRICS)
    assert {"ledger.income", "ledger.balance", "bookings.utilisation", "entities.created"} <= set(METRICS)
    balance = next(m for m in body["metrics"] if m["name"] == "ledger.balance")
    assert balance["required_one_of"] == ["account_id"]


def test_dashboard_figures(viewer_client: Client, business: Business, berlin: None) -> None:
    body = viewer_client.get(ANALYTICS + "dashboard", MARCH).json()
    assert (body["from"], body["to"], body["time_zone"]) == ("2026-03-01", "2026-03-31", "Europe/Berlin")
    assert body["ledger_income_expense"] == [
        {"currency": "EUR", "income": "150.00", "expense": "30.00", "net": "120.00"}
    ]
    assert body["cash_position"] == [{"currency": "EUR", "balance": "120.00"}]
    assert {"account_type": "asset", "currency": "EUR", "amount": "120.00"} in body["ledger_totals"]
    assert body["entities_by_kind_status"] == [
        {"kind": "customer", "status": "active", "count": 1},
        {"kind": "customer", "status": "inactive", "count": 1},
    ]
    # 22 weekdays of 8 open hours; 3 booked.
    assert body["bookings"] == [
        {
            "resource_id": str(business.room.id),
            "bookings": 2,
            "booked_hours": "3.00",
            "available_hours": "176.00",
            "utilisation": "0.0170",
        }
    ]


def test_dashboard_counts_the_windows_deliveries_by_channel_and_status(
    viewer_client: Client, tenant_a: Organization
) -> None:
    with tenant_context(tenant_a):
        made = [
            delivery_enqueue(
                target=target,
                channel=channel,
                recipient_user_id=None,
                to="someone@example.com",
                subject="entity.created",
                message="Hello",
            )
            for target, channel in [
                ("communication", "email"),
                ("communication", "email"),
                ("communication", "sms"),
                ("workflow", None),
                ("communication", "email"),
            ]
        ]
        Delivery.objects.filter(id=made[0].id).update(status=Delivery.Status.DELIVERED)
        Delivery.objects.filter(id=made[2].id).update(status=Delivery.Status.FAILED)
        # Made before the window: not counted.
        Delivery.objects.filter(id=made[4].id).update(created_at=datetime(2026, 2, 28, 12, tzinfo=UTC))
        Delivery.objects.filter(id__in=[d.id for d in made[:4]]).update(
            created_at=datetime(2026, 3, 15, 12, tzinfo=UTC)
        )
    body = viewer_client.get(ANALYTICS + "dashboard", MARCH).json()
    assert body["deliveries"] == [
        {"channel": "email", "status": "delivered", "count": 1},
        {"channel": "email", "status": "pending", "count": 1},
        {"channel": "sms", "status": "failed", "count": 1},
        {"channel": "workflow", "status": "pending", "count": 1},
    ]


def test_dashboard_cash_at_end_of_window(viewer_client: Client, business: Business) -> None:
    body = viewer_client.get(ANALYTICS + "dashboard", {"from": "2026-03-01", "to": "2026-03-20"}).json()
    assert body["cash_position"] == [{"currency": "EUR", "balance": "70.00"}]


def test_timeseries_daily_with_empty_buckets(viewer_client: Client, business: Business) -> None:
    params = {
        "metric": "ledger.income",
        "interval": "day",
        "from": "2026-03-01",
        "to": "2026-03-03",
        "currency": "EUR",
    }
    body = viewer_client.get(ANALYTICS + "timeseries", params).json()
    assert body["points"] == [
        {"bucket_start": "2026-03-01", "value": "0"},
        {"bucket_start": "2026-03-02", "value": "100.0000"},
        {"bucket_start": "2026-03-03", "value": "0"},
    ]


def test_timeseries_balance_weekly(viewer_client: Client, business: Business) -> None:
    params = {"metric": "ledger.balance", "interval": "week", "account_id": str(business.cash.id), **MARCH}
    points = viewer_client.get(ANALYTICS + "timeseries", params).json()["points"]
    assert [p["bucket_start"] for p in points] == [
        "2026-03-01",
        "2026-03-02",
        "2026-03-09",
        "2026-03-16",
        "2026-03-23",
        "2026-03-30",
    ]
    assert [p["value"] for p in points] == ["0", "100.0000", "70.0000", "70.0000", "70.0000", "120.0000"]


def test_timeseries_bookings_follow_the_time_zone(admin_client: Client, business: Business) -> None:
    params = {"metric": "bookings.count", "interval": "day", "from": "2026-03-30", "to": "2026-03-30"}
    utc = admin_client.get(ANALYTICS + "timeseries", params).json()["points"]
    assert (
        admin_client.patch(
            ANALYTICS + "settings", {"time_zone": "America/Los_Angeles"}, content_type="application/json"
        ).status_code
        == 200
    )
    pacific = admin_client.get(ANALYTICS + "timeseries", params).json()["points"]
    # 08:00 UTC on the 30th is 01:00 on the 30th in Los Angeles (PDT): still that day; 09:00 UTC on the
    # 2nd is 01:00 on the 2nd.
    assert utc == pacific == [{"bucket_start": "2026-03-30", "value": 1}]
    params["from"], params["to"] = "2026-03-01", "2026-03-01"
    assert admin_client.get(ANALYTICS + "timeseries", params).json()["points"][0]["value"] == 0


def test_settings_default_and_change(
    admin_client: Client, viewer_client: Client, tenant_a: Organization
) -> None:
    assert viewer_client.get(ANALYTICS + "settings").json() == {"time_zone": "UTC"}
    response = admin_client.patch(
        ANALYTICS + "settings", {"time_zone": "Europe/Berlin"}, content_type="application/json"
    )
    assert response.json() == {"time_zone": "Europe/Berlin"}
    assert viewer_client.get(ANALYTICS + "settings").json() == {"time_zone": "Europe/Berlin"}
    with tenant_context(tenant_a):
        assert (
            AuditEntry.objects.filter(
                object_type__contains="analytics", action=AuditEntry.Action.CREATE
            ).count()
            == 1
        )


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_settings_change_needs_admin(client_for: Any, tenant_a: Organization, role: str) -> None:
    response = client_for(tenant_a, [role]).patch(
        ANALYTICS + "settings", {"time_zone": "Europe/Berlin"}, content_type="application/json"
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "code", "field"),
    [
        ("timeseries", {"metric": "ledger.nope"}, "metric_unknown", "metric"),
        ("timeseries", {"metric": "bookings.count", "colour": "red"}, "dimension_unknown", "colour"),
        ("timeseries", {"metric": "bookings.count", "currency": "EUR"}, "dimension_unknown", "currency"),
        ("timeseries", {"metric": "bookings.count", "resource_id": "x"}, "filter_invalid", "resource_id"),
        ("timeseries", {"metric": "ledger.income", "currency": "euro"}, "filter_invalid", "currency"),
        ("timeseries", {"metric": "ledger.income"}, "filter_required", "metric"),
        ("timeseries", {"metric": "ledger.balance"}, "filter_required", "metric"),
        ("timeseries", {"metric": "ledger.balance", "currency": "EUR"}, "dimension_unknown", "currency"),
        ("timeseries", {"metric": "bookings.utilisation"}, "filter_required", "metric"),
        (
            "timeseries",
            {"metric": "bookings.utilisation", "resource_id": "00000000-0000-4000-8000-000000000001"},
            "filter_invalid",
            "resource_id",
        ),
        ("timeseries", {"metric": "bookings.count", "interval": "hour"}, "interval_unknown", "interval"),
        (
            "timeseries",
            {"metric": "bookings.count", "from": "2026-03-02", "to": "2026-03-01"},
            "window_reversed",
            "from",
        ),
        (
            "timeseries",
            {"metric": "bookings.count", "from": "2000-01-01", "to": "2026-03-01"},
            "window_too_long",
            "to",
        ),
        (
            "timeseries",
            {"metric": "bookings.count", "from": "2022-01-01", "to": "2026-03-01"},
            "too_many_points",
            "interval",
        ),
        ("timeseries", {"metric": "bookings.count", "from": "2026-13-01"}, "validation_error", None),
        ("timeseries", {"interval": "day"}, "validation_error", None),
        ("dashboard", {"from": "2026-03-02", "to": "2026-03-01"}, "window_reversed", "from"),
        ("dashboard", {"from": "1900-01-01", "to": "2026-03-01"}, "window_too_long", "to"),
        ("dashboard", {"to": "not-a-date"}, "validation_error", None),
    ],
)
def test_bad_input_is_422_naming_the_problem(
    viewer_client: Client, path: str, params: dict[str, str], code: str, field: str | None
) -> None:
    error = assert_error(viewer_client.get(ANALYTICS + path, params), 422, code)
    if field is not None:
        assert error["errors"][0]["loc"] == [field]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "CEST", "../etc/passwd", "", "x" * 64])
def test_unknown_time_zone_is_422(admin_client: Client, zone: str) -> None:
    response = admin_client.patch(
        ANALYTICS + "settings", {"time_zone": zone}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["code"] in {"time_zone_unknown", "validation_error"}
    assert admin_client.get(ANALYTICS + "settings").json() == {"time_zone": "UTC"}


def test_points_limit_follows_the_setting(viewer_client: Client, settings: Any) -> None:
    settings.HUB_ANALYTICS_MAX_POINTS = 10
    params = {"metric": "bookings.count", "interval": "day", "from": "2026-03-01"}
    assert viewer_client.get(ANALYTICS + "timeseries", {**params, "to": "2026-03-10"}).status_code == 200
    assert_error(
        viewer_client.get(ANALYTICS + "timeseries", {**params, "to": "2026-03-11"}), 422, "too_many_points"
    )


def test_reads_are_audited_once(viewer_client: Client, business: Business, tenant_a: Organization) -> None:
    with tenant_context(tenant_a):
        before = AuditEntry.objects.filter(action=AuditEntry.Action.ACCESS).count()
    viewer_client.get(ANALYTICS + "dashboard", MARCH)
    viewer_client.get(ANALYTICS + "timeseries", {"metric": "bookings.count", **MARCH})
    with tenant_context(tenant_a):
        assert AuditEntry.objects.filter(action=AuditEntry.Action.ACCESS).count() == before + 2


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "metrics"),
        ("get", "dashboard"),
        ("get", "timeseries?metric=bookings.count"),
        ("get", "settings"),
        ("patch", "settings"),
    ],
)
def test_other_organizations_token_is_refused(
    client_for: Any, tenant_a: Organization, tenant_b: Organization, method: str, path: str
) -> None:
    """B's admin token on A's host: 403 before anything is read or changed."""
    intruder = Client(
        headers={
            "Host": tenant_a.primary_domain,
            "Authorization": client_for(tenant_b, ["admin"]).defaults["HTTP_AUTHORIZATION"],
        }
    )
    response = getattr(intruder, method)(
        ANALYTICS + path,
        {"time_zone": "Asia/Tokyo"} if method == "patch" else None,
        content_type="application/json",
    )
    assert response.status_code == 403


def test_figures_never_include_another_organization(
    viewer_client: Client, b_business: Business, tenant_a: Organization
) -> None:
    """B holds the same accounts, rooms and names: A's figures hold none of it, B's ids are nothing in A."""
    board = viewer_client.get(ANALYTICS + "dashboard", MARCH).json()
    assert board["ledger_totals"] == board["ledger_income_expense"] == board["bookings"] == []
    assert board["entities_by_kind_status"] == []
    balance = {
        "metric": "ledger.balance",
        "interval": "month",
        "account_id": str(b_business.cash.id),
        **MARCH,
    }
    assert viewer_client.get(ANALYTICS + "timeseries", balance).json()["points"] == [
        {"bucket_start": "2026-03-01", "value": "0"}
    ]
    use = {"metric": "bookings.utilisation", "resource_id": str(b_business.room.id), **MARCH}
    assert_error(viewer_client.get(ANALYTICS + "timeseries", use), 422, "filter_invalid")
    count = {"metric": "bookings.count", "interval": "month", "resource_id": str(b_business.room.id), **MARCH}
    assert viewer_client.get(ANALYTICS + "timeseries", count).json()["points"][0]["value"] == 0


def test_available_hours_follow_a_rule_change_at_once(
    viewer_client: Client, business: Business, berlin: None, tenant_a: Organization
) -> None:
    """Available hours are cached by what they are computed from: a changed rule is a new key."""
    before = viewer_client.get(ANALYTICS + "dashboard", MARCH).json()["bookings"][0]
    with tenant_context(tenant_a):
        AvailabilityRule.objects.create(resource=business.room, weekday=5, start=time(9), end=time(13))
    after = viewer_client.get(ANALYTICS + "dashboard", MARCH).json()["bookings"][0]
    # Four Saturdays of four hours more.
    assert (before["available_hours"], after["available_hours"]) == ("176.00", "192.00")


def test_cached_available_hours_are_never_shared(
    viewer_client: Client,
    client_for: Any,
    business: Business,
    b_business: Business,
    tenant_a: Organization,
    tenant_b: Organization,
) -> None:
    """A and B have the same rooms and rules: their cache keys still differ (one per schema)."""
    viewer_client.get(ANALYTICS + "dashboard", MARCH)
    client_for(tenant_b, ["viewer"], sub="00000000-0000-4000-8000-000000000b0b").get(
        ANALYTICS + "dashboard", MARCH
    )
    keys = [key for key in cache._cache if "analytics:available:" in key]  # type: ignore[attr-defined]
    assert len(keys) == 2
    schemas = {key.split("analytics:available:")[1].split(":")[0] for key in keys}
    assert schemas == {tenant_a.schema_name, tenant_b.schema_name}
