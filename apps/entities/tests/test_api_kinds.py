"""``GET|POST /api/v1/entities/kinds``: the built-in kinds, extensible by an organization's admins."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.entities.models import EntityKind
from apps.entities.tests.helpers import JSON, KINDS_URL, URL, assert_error, tenant_state
from tenants.models import Organization

pytestmark = pytest.mark.django_db

BUILTIN = ["asset", "contact", "customer", "supplier"]


def test_builtin_kinds_are_listed(viewer_client: Client) -> None:
    body = viewer_client.get(KINDS_URL).json()

    assert body["count"] == 4
    assert [item["key"] for item in body["items"]] == BUILTIN
    assert all(item["builtin"] for item in body["items"])
    assert body["items"][2] == {"key": "customer", "label": "Customer", "builtin": True}


def test_admin_adds_a_kind_then_entities_may_use_it(
    admin_client: Client, member_client: Client, tenant_a: Organization, in_tenant: Any
) -> None:
    response = admin_client.post(KINDS_URL, {"key": " Vendor ", "label": "  Vendor  "}, content_type=JSON)

    assert response.status_code == 201
    assert response.json() == {"key": "vendor", "label": "Vendor", "builtin": False}
    with in_tenant(tenant_a):
        assert EntityKind.objects.get(key="vendor").builtin is False
    assert [item["key"] for item in member_client.get(KINDS_URL).json()["items"]] == [
        *BUILTIN[:3],
        *BUILTIN[3:],
        "vendor",
    ]
    created = member_client.post(URL, {"kind": "vendor", "name": "V"}, content_type=JSON)
    assert created.status_code == 201
    assert created.json()["kind"] == "vendor"
    assert member_client.get(URL, {"kind": "vendor"}).json()["count"] == 1


def test_kinds_list_is_paginated(viewer_client: Client) -> None:
    body = viewer_client.get(KINDS_URL, {"limit": 2, "offset": 1}).json()
    assert body["items"] == [
        {"key": "contact", "label": "Contact", "builtin": True},
        {"key": "customer", "label": "Customer", "builtin": True},
    ]
    assert (body["count"], body["count_exact"]) == (4, True)
    assert isinstance(body["next"], str)


def test_existing_kind_is_409(admin_client: Client, tenant_a: Organization) -> None:
    before = tenant_state(tenant_a)

    for key in ("customer", "CUSTOMER"):
        body = assert_error(
            admin_client.post(KINDS_URL, {"key": key, "label": "Again"}, content_type=JSON), 409
        )
        assert body["code"] == "kind_exists"
    assert tenant_state(tenant_a) == before


def test_unknown_kind_on_create_is_422(member_client: Client, tenant_a: Organization) -> None:
    before = tenant_state(tenant_a)

    response = member_client.post(URL, {"kind": "vendor", "name": "V"}, content_type=JSON)

    body = assert_error(response, 422, "entity_kind_unknown")
    assert body["errors"][0]["loc"] == ["kind"]
    assert "vendor" in body["detail"]
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"key": "vendor"},
        {"label": "Vendor"},
        {"key": "", "label": "Vendor"},
        {"key": "9lives", "label": "Vendor"},
        {"key": "has space", "label": "Vendor"},
        {"key": "x" * 41, "label": "Vendor"},
        {"key": "ven\u0000dor", "label": "Vendor"},
        {"key": "vendor", "label": ""},
        {"key": "vendor", "label": "   "},
        {"key": "vendor", "label": "x" * 101},
        {"key": "vendor", "label": "a\u0000b"},
        {"key": "vendor", "label": "line\nbreak"},
        {"key": 7, "label": "Vendor"},
        {"key": "vendor", "label": ["Vendor"]},
        {"key": None, "label": "Vendor"},
    ],
)
def test_bad_kind_is_422_and_changes_nothing(admin_client: Client, tenant_a: Organization, body: Any) -> None:
    before = tenant_state(tenant_a)
    assert_error(admin_client.post(KINDS_URL, body, content_type=JSON), 422)
    assert tenant_state(tenant_a) == before


def test_lone_surrogate_label_is_422(admin_client: Client, tenant_a: Organization) -> None:
    before = tenant_state(tenant_a)
    response = admin_client.post(KINDS_URL, '{"key": "vendor", "label": "a\\ud800"}', content_type=JSON)
    assert_error(response, 422)
    assert tenant_state(tenant_a) == before


def test_a_kind_added_in_one_organization_does_not_exist_in_the_other(
    client_for: Any, tenant_a: Organization, tenant_b: Organization, b_member_client: Client
) -> None:
    b_admin = client_for(tenant_b, ["admin"])
    assert b_admin.post(KINDS_URL, {"key": "vendor", "label": "Vendor"}, content_type=JSON).status_code == 201
    a_before = tenant_state(tenant_a)

    a_member = client_for(tenant_a, ["member"])
    assert "vendor" not in [item["key"] for item in a_member.get(KINDS_URL).json()["items"]]
    assert_error(
        a_member.post(URL, {"kind": "vendor", "name": "V"}, content_type=JSON), 422, "entity_kind_unknown"
    )
    # A may still add its own "vendor": the key is per organization.
    a_admin = client_for(tenant_a, ["admin"])
    assert a_admin.post(KINDS_URL, {"key": "vendor", "label": "A's"}, content_type=JSON).status_code == 201
    assert tenant_state(tenant_a) != a_before
    assert b_member_client.get(KINDS_URL).json()["items"][-1] == {
        "key": "vendor",
        "label": "Vendor",
        "builtin": False,
    }
