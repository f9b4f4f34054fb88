"""The inbox over HTTP: any role sees its own notifications only; another user's (of this organization
or another) is a 404; reads are audited, marks and deletes too, by id."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.notifications.events import event_emit
from apps.notifications.models import Notification
from apps.notifications.tests.conftest import RuleFactory
from apps.notifications.tests.helpers import ADMIN, CALLER, URL, assert_error, process_last
from conftest import ClientFactory
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def fire(tenant: Organization, count: int) -> None:
    """``count`` payments, each processed: one notification per recipient each."""
    with tenant_context(tenant):
        for index in range(count):
            event_emit(
                event_type="transaction.posted",
                payload={"transaction_id": str(uuid.uuid4()), "amount": str(index), "currency": "EUR"},
            )
            process_last()


@pytest.fixture
def inbox(make_rule: RuleFactory, tenant_a: Organization) -> list[Notification]:
    """Three notifications each for A's caller (a viewer) and A's admin, newest first."""
    make_rule(tenant_a, event_type="transaction.posted", recipients={"roles": ["admin", "viewer"]})
    fire(tenant_a, 3)
    with tenant_context(tenant_a):
        return list(Notification.objects.filter(user_id=CALLER).order_by("-created_at", "-id"))


def test_the_caller_sees_only_their_own_newest_first(
    viewer_client: Client, inbox: list[Notification], tenant_a: Organization
) -> None:
    page = viewer_client.get(URL)
    assert page.status_code == 200, page.content
    body = page.json()
    assert [item["id"] for item in body["items"]] == [str(n.id) for n in inbox]
    assert (body["count"], body["count_exact"], body["next"]) == (3, True, None)
    assert body["items"][0]["title"] == "Transaction posted"
    assert body["items"][0]["read_at"] is None
    with tenant_context(tenant_a):
        read = AuditEntry.objects.filter(
            action=AuditEntry.Action.ACCESS, object_type="notifications.notification"
        ).latest("id")
    assert sorted(read.object_ids) == sorted(str(n.id) for n in inbox)


def test_read_unread_filter_count_read_all_and_delete(
    viewer_client: Client, inbox: list[Notification], tenant_a: Organization
) -> None:
    assert viewer_client.get(f"{URL}unread-count").json() == {"count": 3, "count_exact": True}
    marked = viewer_client.post(f"{URL}{inbox[0].id}/read")
    assert marked.status_code == 200, marked.content
    assert marked.json()["read_at"] is not None
    again = viewer_client.post(f"{URL}{inbox[0].id}/read")  # reading twice keeps the first time
    assert again.json()["read_at"] == marked.json()["read_at"]
    assert viewer_client.get(f"{URL}unread-count").json()["count"] == 2
    unread = viewer_client.get(URL, {"unread": "true"}).json()["items"]
    assert [item["id"] for item in unread] == [str(n.id) for n in inbox[1:]]
    assert [item["id"] for item in viewer_client.get(URL, {"unread": "false"}).json()["items"]] == [
        str(inbox[0].id)
    ]

    assert viewer_client.post(f"{URL}read-all").json() == {"marked": 2}
    assert viewer_client.get(f"{URL}unread-count").json()["count"] == 0
    assert viewer_client.delete(f"{URL}{inbox[1].id}").status_code == 204
    assert [item["id"] for item in viewer_client.get(URL).json()["items"]] == [
        str(inbox[0].id),
        str(inbox[2].id),
    ]
    assert_error(viewer_client.delete(f"{URL}{inbox[1].id}"), 404, "notification_not_found")
    with tenant_context(tenant_a):
        # The admin's copies are untouched by the caller's marks.
        assert (
            Notification.objects.filter(user_id=ADMIN, read_at__isnull=True, deleted_at__isnull=True).count()
            == 3
        )
        changes = AuditEntry.objects.filter(
            object_type="notifications.notification", action=AuditEntry.Action.UPDATE
        )
        assert changes.count() == 3  # one read, then two by read-all
        assert all(entry.actor_id == CALLER for entry in changes)


def test_cursor_pages(viewer_client: Client, make_rule: RuleFactory, tenant_a: Organization) -> None:
    make_rule(tenant_a, event_type="transaction.posted", recipients={"roles": ["viewer"]})
    fire(tenant_a, 5)
    first = viewer_client.get(URL, {"limit": 2}).json()
    second = viewer_client.get(URL, {"limit": 2, "cursor": first["next"]}).json()
    third = viewer_client.get(URL, {"limit": 2, "cursor": second["next"]}).json()
    ids = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert len(ids) == len(set(ids)) == 5
    assert third["next"] is None
    assert_error(viewer_client.get(URL, {"cursor": "garbage"}), 422)


def test_another_users_notification_is_404(
    client_for: ClientFactory, inbox: list[Notification], tenant_a: Organization
) -> None:
    """A's admin (another user of the same organization) cannot read, mark or delete the caller's."""
    admin = client_for(tenant_a, ["admin"], sub=str(ADMIN))
    own = {item["id"] for item in admin.get(URL).json()["items"]}
    assert len(own) == 3
    assert own.isdisjoint(str(n.id) for n in inbox)
    target = inbox[0].id
    assert_error(admin.post(f"{URL}{target}/read"), 404, "notification_not_found")
    assert_error(admin.delete(f"{URL}{target}"), 404, "notification_not_found")
    assert admin.post(f"{URL}read-all").json() == {"marked": 3}
    with tenant_context(tenant_a):
        assert (
            Notification.objects.filter(user_id=CALLER, read_at__isnull=True, deleted_at__isnull=True).count()
            == 3
        )


def test_another_organization_sees_nothing(b_member_client: Client, inbox: list[Notification]) -> None:
    assert b_member_client.get(URL).json()["items"] == []
    assert b_member_client.get(f"{URL}unread-count").json()["count"] == 0
    assert_error(b_member_client.post(f"{URL}{inbox[0].id}/read"), 404, "notification_not_found")
    assert_error(b_member_client.delete(f"{URL}{inbox[0].id}"), 404, "notification_not_found")
    assert b_member_client.post(f"{URL}read-all").json() == {"marked": 0}


def test_same_user_in_another_organization_sees_only_that_ones(
    client_for: ClientFactory, inbox: list[Notification], tenant_b: Organization
) -> None:
    """The caller's id with a token of B: B's inbox of that user, empty, never A's."""
    same_user_in_b = client_for(tenant_b, ["viewer"])
    assert same_user_in_b.get(URL).json()["items"] == []
    assert_error(same_user_in_b.post(f"{URL}{inbox[0].id}/read"), 404)


def test_no_token_is_401(client_for: ClientFactory, tenant_a: Organization) -> None:
    assert_error(client_for(tenant_a).get(URL), 401)
