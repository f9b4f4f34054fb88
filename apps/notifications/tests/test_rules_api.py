"""Alert rules over HTTP: admins only, validated against the catalogue and the organization, isolated
per organization, audited by id."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.notifications.models import AlertRule
from apps.notifications.tests.conftest import RuleFactory
from apps.notifications.tests.helpers import (
    ADMIN,
    B_CALLER,
    CALLER,
    JSON,
    MEMBER,
    OUTSIDER,
    RULES,
    assert_error,
    rule_url,
)
from conftest import ClientFactory
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db

LARGE_PAYMENTS: dict[str, Any] = {
    "name": "Large payments",
    "event_type": "transaction.posted",
    "conditions": [
        {"field": "amount", "op": "gte", "value": "10000"},
        {"field": "currency", "op": "in", "value": ["EUR", "CHF"]},
    ],
    "recipients": {"user_ids": [str(MEMBER)], "roles": ["admin"], "entity_contact": True},
    "channels": ["in_app", "email"],
    "quiet_minutes": 15,
}


@pytest.fixture
def b_admin_client(client_for: ClientFactory, tenant_b: Organization) -> Client:
    return client_for(tenant_b, ["admin"], sub=str(B_CALLER))


def test_rule_round_trip(admin_client: Client, people: dict[str, User], tenant_a: Organization) -> None:
    created = admin_client.post(RULES, LARGE_PAYMENTS, content_type=JSON)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["event_type"] == "transaction.posted"
    assert body["conditions"][0] == {"field": "amount", "op": "gte", "value": "10000"}
    assert body["recipients"] == {"user_ids": [str(MEMBER)], "roles": ["admin"], "entity_contact": True}
    assert body["channels"] == ["in_app", "email"]
    assert body["enabled"] is True
    assert admin_client.get(rule_url(body["id"])).json() == body
    listed = admin_client.get(RULES).json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    assert listed["count"] == 1

    patched = admin_client.patch(
        rule_url(body["id"]), {"enabled": False, "quiet_minutes": 0}, content_type=JSON
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["enabled"], patched.json()["quiet_minutes"]) == (False, 0)
    assert admin_client.get(RULES, {"enabled": "true"}).json()["items"] == []

    assert admin_client.delete(rule_url(body["id"])).status_code == 204
    assert_error(admin_client.get(rule_url(body["id"])), 404, "rule_not_found")
    with tenant_context(tenant_a):
        entries = AuditEntry.objects.filter(object_type="notifications.alertrule", object_pk=body["id"])
        actions = sorted({entry.action for entry in entries})
        created_entry = entries.get(action=AuditEntry.Action.CREATE)
    assert actions == sorted(
        {
            AuditEntry.Action.CREATE,
            AuditEntry.Action.UPDATE,
            AuditEntry.Action.DELETE,
            AuditEntry.Action.ACCESS,
        }
    )
    # The rule's name and conditions are text an admin typed: the trail shows only that they changed.
    assert created_entry.changes["name"][1] == "[redacted]"
    assert created_entry.changes["event_type"][1] == "transaction.posted"
    assert "Large payments" not in str(created_entry.changes)


def test_a_workflow_rule_has_no_channels(admin_client: Client, people: dict[str, User]) -> None:
    body = {"name": "Start onboarding", "event_type": "entity.created", "action": "workflow"}
    created = admin_client.post(RULES, body, content_type=JSON)
    assert created.status_code == 201, created.content
    assert (created.json()["action"], created.json()["channels"]) == ("workflow", [])


@pytest.mark.parametrize(
    ("change", "code", "loc"),
    [
        ({"event_type": "entity.exploded"}, "event_type_unknown", ["event_type"]),
        (
            {"conditions": [{"field": "colour", "op": "eq", "value": "red"}]},
            "condition_invalid",
            ["conditions", 0, "field"],
        ),
        (
            {"conditions": [{"field": "amount", "op": "gte", "value": "lots"}]},
            "condition_invalid",
            ["conditions", 0, "value"],
        ),
        (
            {"conditions": [{"field": "amount", "op": "gte", "value": True}]},
            "condition_invalid",
            ["conditions", 0, "value"],
        ),
        (
            {"conditions": [{"field": "currency", "op": "gt", "value": "EUR"}]},
            "condition_invalid",
            ["conditions", 0, "op"],
        ),
        (
            {"conditions": [{"field": "currency", "op": "in", "value": "EUR"}]},
            "condition_invalid",
            ["conditions", 0, "value"],
        ),
        (
            {"conditions": [{"field": "transaction_id", "op": "eq", "value": "not-a-uuid"}]},
            "condition_invalid",
            ["conditions", 0, "value"],
        ),
        ({"recipients": {"user_ids": [str(OUTSIDER)]}}, "recipient_invalid", ["recipients", "user_ids", 0]),
        (
            {"recipients": {"user_ids": ["00000000-0000-4000-8000-00000000dead"]}},
            "recipient_invalid",
            ["recipients", "user_ids", 0],
        ),
        ({"recipients": {"roles": ["owner"]}}, "recipient_invalid", ["recipients", "roles", 0]),
        ({"channels": ["pigeon"]}, "channel_unknown", ["channels", 0]),
        ({"channels": []}, "rule_invalid", ["channels"]),
        ({"recipients": {}}, "rule_invalid", ["recipients"]),
        ({"name": "   "}, "rule_invalid", ["name"]),
        ({"quiet_minutes": -1}, "rule_invalid", ["quiet_minutes"]),
        ({"action": "explode"}, "rule_invalid", ["action"]),
        ({"action": "workflow"}, "rule_invalid", ["channels"]),
        ({"frequency": "daily"}, "validation_error", ["frequency"]),
        ({"quiet_minutes": False}, "validation_error", ["quiet_minutes"]),
        ({"enabled": "yes"}, "validation_error", ["enabled"]),
        ({"conditions": [{"field": "amount", "op": "gte"}]}, "validation_error", ["conditions", 0, "value"]),
    ],
)
def test_bad_rules_are_422_naming_the_problem(
    admin_client: Client, people: dict[str, User], change: dict[str, Any], code: str, loc: list[Any]
) -> None:
    body = assert_error(admin_client.post(RULES, {**LARGE_PAYMENTS, **change}, content_type=JSON), 422, code)
    assert body["errors"][0]["loc"] == loc, body


def test_a_user_of_another_organization_reads_as_unknown(
    admin_client: Client, people: dict[str, User]
) -> None:
    """Outsider (a user of B) and a user id nobody has: the same answer, nothing revealed."""
    outsider = admin_client.post(
        RULES, {**LARGE_PAYMENTS, "recipients": {"user_ids": [str(OUTSIDER)]}}, content_type=JSON
    ).json()
    nobody_id = "00000000-0000-4000-8000-00000000dead"
    nobody = admin_client.post(
        RULES, {**LARGE_PAYMENTS, "recipients": {"user_ids": [nobody_id]}}, content_type=JSON
    ).json()
    assert outsider["detail"].replace(str(OUTSIDER), "ID") == nobody["detail"].replace(nobody_id, "ID")


def test_fan_out_over_the_limit_is_422(admin_client: Client, people: dict[str, User], settings: Any) -> None:
    settings.HUB_NOTIFICATION_MAX_RECIPIENTS = 2
    body = {**LARGE_PAYMENTS, "recipients": {"roles": ["admin", "member", "viewer"]}}
    error = assert_error(admin_client.post(RULES, body, content_type=JSON), 422, "fan_out_too_large")
    assert "3 recipients" in error["detail"]
    body["recipients"] = {"roles": ["admin", "member"]}
    assert admin_client.post(RULES, body, content_type=JSON).status_code == 201


def test_a_patch_is_validated_as_a_whole(
    admin_client: Client, make_rule: RuleFactory, tenant_a: Organization
) -> None:
    rule = make_rule(
        tenant_a,
        event_type="transaction.posted",
        conditions=[{"field": "amount", "op": "gte", "value": "10"}],
    )
    # entity.created has no amount: the conditions no longer fit the new type.
    response = admin_client.patch(rule_url(rule.id), {"event_type": "entity.created"}, content_type=JSON)
    assert_error(response, 422, "condition_invalid")
    assert_error(
        admin_client.patch(rule_url(rule.id), {"name": None}, content_type=JSON), 422, "rule_invalid"
    )
    with tenant_context(tenant_a):
        assert AlertRule.objects.get(id=rule.id).event_type == "transaction.posted"


@pytest.mark.parametrize("roles", [["member"], ["viewer"]])
def test_rules_are_for_admins(
    client_for: ClientFactory, tenant_a: Organization, make_rule: RuleFactory, roles: list[str]
) -> None:
    rule = make_rule(tenant_a)
    client = client_for(tenant_a, roles)
    assert_error(client.get(RULES), 403)
    assert_error(client.get(rule_url(rule.id)), 403)
    assert_error(client.post(RULES, LARGE_PAYMENTS, content_type=JSON), 403)
    assert_error(client.patch(rule_url(rule.id), {"enabled": False}, content_type=JSON), 403)
    assert_error(client.delete(rule_url(rule.id)), 403)


def test_another_organizations_admin_cannot_reach_a_rule(
    b_admin_client: Client, make_rule: RuleFactory, tenant_a: Organization
) -> None:
    rule = make_rule(tenant_a)
    assert b_admin_client.get(RULES).json()["items"] == []
    assert_error(b_admin_client.get(rule_url(rule.id)), 404, "rule_not_found")
    assert_error(b_admin_client.patch(rule_url(rule.id), {"enabled": False}, content_type=JSON), 404)
    assert_error(b_admin_client.delete(rule_url(rule.id)), 404)
    with tenant_context(tenant_a):
        assert AlertRule.objects.get(id=rule.id).enabled is True


def test_b_cannot_name_a_user_of_a_as_recipient(b_admin_client: Client, people: dict[str, User]) -> None:
    body = {**LARGE_PAYMENTS, "recipients": {"user_ids": [str(CALLER)]}}
    assert_error(b_admin_client.post(RULES, body, content_type=JSON), 422, "recipient_invalid")
    body["recipients"] = {"user_ids": [str(ADMIN)]}
    assert_error(b_admin_client.post(RULES, body, content_type=JSON), 422, "recipient_invalid")
