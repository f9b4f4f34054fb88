"""A value checked against a pattern is checked whole: ``re.match`` with ``$`` (and ``strip()`` before a
check) let a trailing newline through. Every identifier, code and name the API or a command takes is
refused with a trailing ``"\\n"`` (422, or the command's error) and nothing changes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_tenants.utils import tenant_context

from apps.entities.tests.helpers import KINDS_URL, tenant_state
from apps.entities.tests.helpers import URL as ENTITIES
from apps.ledger.models import Account
from apps.ledger.tests.helpers import ACCOUNTS_URL
from apps.scheduling.models import Booking, Resource
from apps.scheduling.tests.helpers import RESOURCES, SERIES
from tenants.models import Organization
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

JSON = "application/json"
PLATFORM_TENANTS = "/api/platform/v1/tenants"


@pytest.mark.parametrize("slug", ["acme\n", "acme\r\n", "\nacme", "ac\nme"])
def test_provisioning_refuses_a_slug_with_a_newline(platform_client: Client, slug: str) -> None:
    organization_id = uuid.uuid4()
    body: dict[str, Any] = {"organization_id": str(organization_id), "slug": slug, "name": "Acme"}
    body["skip_identity_check"] = True
    assert_error(platform_client.post(PLATFORM_TENANTS, body, content_type=JSON), 422)
    assert not Organization.objects.filter(organization_id=organization_id).exists()


@pytest.mark.parametrize("name", ["Acme\n", "Ac\x1cme", "Acme\x7f"])
def test_an_organization_name_with_a_control_character_is_refused(
    platform_client: Client, tenant_a: Organization, name: str
) -> None:
    organization_id = uuid.uuid4()
    body = {
        "organization_id": str(organization_id),
        "slug": "acme",
        "name": name,
        "skip_identity_check": True,
    }
    assert_error(platform_client.post(PLATFORM_TENANTS, body, content_type=JSON), 422)
    assert not Organization.objects.filter(organization_id=organization_id).exists()
    rename = platform_client.patch(
        f"{PLATFORM_TENANTS}/{tenant_a.organization_id}", {"name": name}, content_type=JSON
    )
    assert_error(rename, 422)
    assert Organization.objects.get(organization_id=tenant_a.organization_id).name == "Alpha"


def test_provision_tenant_command_refuses_a_slug_with_a_newline() -> None:
    organization_id = uuid.uuid4()
    with pytest.raises(CommandError, match="slug"):
        call_command(
            "provision_tenant",
            organization_id=organization_id,
            slug="acme\n",
            name="Acme",
            skip_identity_check=True,
        )
    assert not Organization.objects.filter(organization_id=organization_id).exists()


def _entity(**fields: Any) -> dict[str, Any]:
    return {"kind": "customer", "name": "Acme", **fields}


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (ENTITIES, _entity(kind="customer\n")),
        (ENTITIES, _entity(tags=["vip\n"])),
        (ENTITIES, _entity(reference="C-9\n")),
        (KINDS_URL, {"key": "vendor\n", "label": "Vendor"}),
        (f"{ENTITIES}?kind=customer%0A", None),
        (f"{ENTITIES}?tag=vip%0A", None),
    ],
    ids=["kind", "tag", "reference", "kind-key", "kind-filter", "tag-filter"],
)
def test_entities_refuse_a_trailing_newline(
    admin_client: Client, tenant_a: Organization, url: str, body: dict[str, Any] | None
) -> None:
    before = tenant_state(tenant_a)
    response = admin_client.post(url, body, content_type=JSON) if body else admin_client.get(url)
    assert_error(response, 422)
    assert tenant_state(tenant_a) == before


def _account(**fields: Any) -> dict[str, Any]:
    return {"code": "2000", "name": "Payables", "type": "liability", "currency": "EUR", **fields}


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (ACCOUNTS_URL, _account(code="2000\n")),
        (ACCOUNTS_URL, _account(currency="EUR\n")),
        (ACCOUNTS_URL, _account(name="Payables\n")),
        (f"{ACCOUNTS_URL}?currency=EUR%0A", None),
    ],
    ids=["code", "currency", "name", "currency-filter"],
)
def test_ledger_refuses_a_trailing_newline(
    member_client: Client, tenant_a: Organization, url: str, body: dict[str, Any] | None
) -> None:
    response = member_client.post(url, body, content_type=JSON) if body else member_client.get(url)
    assert_error(response, 422)
    with tenant_context(tenant_a):
        assert not Account.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [{"kind": "room\n"}, {"timezone": "Europe/Berlin\n"}, {"name": "Room 1\n"}],
    ids=["kind", "timezone", "name"],
)
def test_scheduling_refuses_a_trailing_newline(
    admin_client: Client, tenant_a: Organization, fields: dict[str, str]
) -> None:
    body = {"kind": "room", "name": "Room 1", "timezone": "Europe/Berlin", **fields}
    assert_error(admin_client.post(RESOURCES, body, content_type=JSON), 422)
    with tenant_context(tenant_a):
        assert not Resource.objects.exists()


def test_a_series_refuses_an_rrule_with_a_trailing_newline(
    admin_client: Client, member_client: Client, tenant_a: Organization
) -> None:
    room = admin_client.post(RESOURCES, {"kind": "room", "name": "R", "timezone": "UTC"}, content_type=JSON)
    body = {"resource_id": room.json()["id"], "start": "2026-03-23T09:00Z", "end": "2026-03-23T10:00Z"}
    response = member_client.post(SERIES, {**body, "rrule": "FREQ=DAILY;COUNT=3\n"}, content_type=JSON)
    assert_error(response, 422, "rrule_invalid")
    with tenant_context(tenant_a):
        assert not Booking.objects.exists()


def test_platform_audit_cursor_refuses_a_trailing_newline(platform_client: Client) -> None:
    assert_error(platform_client.get("/api/platform/v1/audit?cursor=1%0A"), 422)


@pytest.mark.parametrize(
    "url",
    ["/api/v1/audit/?object_type=entities.entity%0A", f"/api/v1/audit/verify?sequence=1&hash={'a' * 64}%0A"],
    ids=["object-type", "anchor-hash"],
)
def test_audit_queries_refuse_a_trailing_newline(admin_client: Client, url: str) -> None:
    assert_error(admin_client.get(url), 422)
