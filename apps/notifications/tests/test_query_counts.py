"""Statements per request of the notifications module (issue 12): its lists cost the same for a page of
2 and of 40 (and after a cursor), its writes a fixed number whatever the organization holds. The counts
include the request's fixed machinery (``tests.query_counts``)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.notifications.events import event_emit
from apps.notifications.models import Notification
from apps.notifications.tests.conftest import RuleFactory
from apps.notifications.tests.helpers import CALLER, JSON, RULES, URL, process_last, rule_url
from conftest import ClientFactory
from tenants.models import Organization
from tests.query_counts import assert_list_constant, assert_statements

pytestmark = pytest.mark.django_db

# Route, savepoint, user mirror, membership, release: what every request of these tests sends.
MACHINERY = 5


@pytest.fixture
def full_inbox(make_rule: RuleFactory, tenant_a: Organization) -> list[Notification]:
    """45 notifications of A's caller (a viewer)."""
    make_rule(tenant_a, event_type="transaction.posted", recipients={"roles": ["viewer"]})
    with tenant_context(tenant_a):
        for index in range(45):
            event_emit(
                event_type="transaction.posted",
                payload={"transaction_id": str(uuid.uuid4()), "amount": str(index), "currency": "EUR"},
            )
            process_last()
        return list(Notification.objects.filter(user_id=CALLER))


@pytest.mark.parametrize("params", [{}, {"unread": "true"}])
def test_inbox_list(viewer_client: Client, full_inbox: list[Notification], params: dict[str, str]) -> None:
    count = assert_list_constant(lambda query: viewer_client.get(URL, query), params=params)
    assert count == MACHINERY + 3  # page, count, audit entry


def test_rule_list(admin_client: Client, make_rule: RuleFactory, tenant_a: Organization) -> None:
    for _ in range(45):
        make_rule(tenant_a)
    assert assert_list_constant(lambda query: admin_client.get(RULES, query)) == MACHINERY + 3


def test_inbox_writes(
    client_for: ClientFactory, viewer_client: Client, full_inbox: list[Notification], tenant_a: Organization
) -> None:
    viewer_client.get(f"{URL}unread-count")  # warm
    # the bounded count
    assert_statements(lambda: viewer_client.get(f"{URL}unread-count"), MACHINERY + 1, status=200)
    # locked read, update, audit entry, savepoints
    assert_statements(lambda: viewer_client.post(f"{URL}{full_inbox[0].id}/read"), MACHINERY + 5, status=200)
    assert_statements(lambda: viewer_client.delete(f"{URL}{full_inbox[1].id}"), MACHINERY + 5, status=204)
    # locked ids, one update, one audit insert for all of them, savepoints: whatever the number
    assert_statements(lambda: viewer_client.post(f"{URL}read-all"), MACHINERY + 5, status=200)


def test_rule_writes(admin_client: Client, make_rule: RuleFactory, tenant_a: Organization) -> None:
    body = {
        "name": "Large payments",
        "event_type": "transaction.posted",
        "conditions": [{"field": "amount", "op": "gte", "value": "10000"}],
        "recipients": {"user_ids": [str(CALLER)], "roles": ["admin"]},
        "channels": ["in_app", "email"],
    }
    admin_client.post(RULES, body, content_type=JSON)  # warm
    # users known, role holders, insert, audit entry, savepoints
    created = assert_statements(
        lambda: admin_client.post(RULES, body, content_type=JSON), MACHINERY + 6, status=201
    )
    url = rule_url(created.json()["id"])
    # rule read (and its access entry), re-read locked, users known, role holders, update, audit, savepoints
    assert_statements(
        lambda: admin_client.patch(url, {"enabled": False}, content_type=JSON), MACHINERY + 8, status=200
    )
    assert_statements(lambda: admin_client.delete(url), MACHINERY + 7, status=204)
