"""``GET /api/v1/audit/`` and ``/verify``: admins only, filters, pagination, one organization's entries."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client

from apps.audit.services import MASK
from apps.entities.models import Entity
from apps.entities.tests.helpers import DEFAULT_SUB, JSON, URL, assert_error, detail_url
from tenants.models import Organization

pytestmark = pytest.mark.django_db

AUDIT_URL = "/api/v1/audit/"


@pytest.fixture
def activity(member_client: Client, entity_a: Entity) -> dict[str, Any]:
    """A read, an update and a list read by the default member, each with its own request id."""
    member_client.get(detail_url(entity_a.id), headers={"X-Request-ID": "act-read"})
    member_client.patch(detail_url(entity_a.id), {"name": "Renamed"}, content_type=JSON)
    listed = member_client.get(URL, headers={"X-Request-ID": "act-list"})
    return {"entity_id": str(entity_a.id), "listed": [item["id"] for item in listed.json()["items"]]}


@pytest.mark.parametrize("roles", [["viewer"], ["member"]])
def test_only_admins_read_the_audit(client_for: Any, tenant_a: Organization, roles: list[str]) -> None:
    client = client_for(tenant_a, roles)
    assert_error(client.get(AUDIT_URL), 403, "role_required")
    assert_error(client.get(f"{AUDIT_URL}verify"), 403, "role_required")


def test_no_token_is_401(client_for: Any, tenant_a: Organization) -> None:
    assert_error(client_for(tenant_a).get(AUDIT_URL), 401)


def test_lists_entries_newest_first(admin_client: Client, activity: dict[str, Any]) -> None:
    body = admin_client.get(AUDIT_URL).json()

    assert body["count"] >= 5
    ids = [item["id"] for item in body["items"]]
    assert ids == sorted(ids, reverse=True)
    # Not sealed yet: the seal runs after commit, and this test's transaction never commits.
    assert {item["sequence"] for item in body["items"]} == {None}
    update = next(item for item in body["items"] if item["action"] == "update")
    assert update["actor"] == {"id": str(DEFAULT_SUB), "email": "someone@example.com"}
    assert update["object_type"] == "entities.entity"
    assert update["object_id"] == activity["entity_id"]
    assert update["changes"]["name"] == [MASK, MASK]
    assert update["request_id"]
    assert update["timestamp"]


def test_reading_the_audit_is_not_audited(admin_client: Client, activity: dict[str, Any]) -> None:
    first = admin_client.get(AUDIT_URL).json()["count"]
    assert admin_client.get(AUDIT_URL).json()["count"] == first


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "update"}, {"update"}),
        ({"action": "access"}, {"access"}),
        ({"object_type": "entities.entity", "action": "create"}, {"create"}),
    ],
)
def test_filters_by_action_and_type(
    admin_client: Client, activity: dict[str, Any], query: dict[str, str], expected: set[str]
) -> None:
    body = admin_client.get(AUDIT_URL, query).json()
    assert body["count"] >= 1
    assert {item["action"] for item in body["items"]} == expected


def test_filters_by_object_id_include_list_reads(admin_client: Client, activity: dict[str, Any]) -> None:
    items = admin_client.get(AUDIT_URL, {"object_id": activity["entity_id"]}).json()["items"]
    assert {item["request_id"] for item in items} >= {"act-read", "act-list"}
    assert all(
        item["object_id"] == activity["entity_id"] or activity["entity_id"] in item["object_ids"]
        for item in items
    )


def test_filters_by_actor_and_time(admin_client: Client, activity: dict[str, Any]) -> None:
    assert admin_client.get(AUDIT_URL, {"actor": str(DEFAULT_SUB)}).json()["count"] >= 3
    assert admin_client.get(AUDIT_URL, {"actor": "00000000-0000-4000-8000-000000000999"}).json()["count"] == 0
    future = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).isoformat()
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).isoformat()
    assert admin_client.get(AUDIT_URL, {"since": future}).json()["count"] == 0
    assert admin_client.get(AUDIT_URL, {"until": past}).json()["count"] == 0
    assert admin_client.get(AUDIT_URL, {"since": past, "until": future}).json()["count"] >= 3


def test_time_filters_take_any_offset(admin_client: Client, activity: dict[str, Any]) -> None:
    # +16:00 is beyond what PostgreSQL accepts in a timestamp literal; the API converts to UTC first.
    now = datetime.datetime.now(datetime.UTC)
    since = (now - datetime.timedelta(hours=1)).astimezone(datetime.timezone(datetime.timedelta(hours=16)))
    until = (now + datetime.timedelta(hours=1)).astimezone(datetime.timezone(-datetime.timedelta(hours=21)))
    response = admin_client.get(AUDIT_URL, {"since": since.isoformat(), "until": until.isoformat()})
    assert response.status_code == 200, response.content
    assert response.json()["count"] >= 3
    later = (now + datetime.timedelta(hours=1)).astimezone(datetime.timezone(datetime.timedelta(hours=16)))
    assert admin_client.get(AUDIT_URL, {"since": later.isoformat()}).json()["count"] == 0


def test_paginates(admin_client: Client, activity: dict[str, Any]) -> None:
    body = admin_client.get(AUDIT_URL, {"limit": 2, "offset": 1}).json()
    assert len(body["items"]) == 2
    assert body["count"] >= 5


@pytest.mark.parametrize(
    "query",
    [
        {"action": "erase"},
        {"actor": "not-a-uuid"},
        {"since": "yesterday"},
        {"until": "2026-13-45"},
        {"since": "2026-03-01T10:00"},  # naive: whose 10 o'clock?
        {"until": "1000"},
        {"object_type": "entities entity; DROP"},
        {"object_id": ""},
        {"limit": 0},
        {"offset": -1},
    ],
)
def test_bad_filters_are_422(admin_client: Client, query: dict[str, Any]) -> None:
    assert_error(admin_client.get(AUDIT_URL, query), 422)


def test_verify_answers_ok(admin_client: Client, activity: dict[str, Any]) -> None:
    body = admin_client.get(f"{AUDIT_URL}verify").json()
    assert body["ok"] is True
    assert body["first_broken"] is None
    # Nothing sealed: the seal runs after commit, and this test's transaction never commits.
    assert (body["entries"], body["unsealed_overdue_ids"]) == (0, [])
    assert body["unsealed"] >= 5


def test_another_organizations_admin_sees_none_of_these_entries(
    client_for: Any, tenant_b: Organization, activity: dict[str, Any]
) -> None:
    b_admin = client_for(tenant_b, ["admin"])
    items = b_admin.get(AUDIT_URL, {"limit": 500}).json()["items"]
    assert not [item for item in items if item["request_id"] in {"act-read", "act-list"}]
    assert b_admin.get(AUDIT_URL, {"object_id": activity["entity_id"]}).json()["count"] == 0


def test_a_token_of_another_organization_is_refused(
    client_for: Any, tenant_a: Organization, tenant_b: Any
) -> None:
    client = client_for(tenant_a, ["admin"], tenant_id=str(tenant_b.organization_id))
    assert_error(client.get(AUDIT_URL), 403, "tenant_mismatch")
