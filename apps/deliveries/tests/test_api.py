"""The deliveries API: admins only, the contract's list shape, masked addresses, nothing sent shown,
reads and retries audited, another organization's deliveries missing, statements per request fixed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.deliveries.models import Delivery, DeliveryAttempt
from apps.deliveries.services import delivery_enqueue
from tenants.models import Organization
from tests.helpers import assert_error
from tests.query_counts import assert_list_constant, assert_statements

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications/deliveries/"
# Route, savepoint, user mirror, membership, release: what every request of these tests sends.
MACHINERY = 5
PERSONAL = ("ada@example.com", "Big payment", "A payment of 12,000 EUR", "12000.00")


def url(delivery_id: Any) -> str:
    return f"{URL}{delivery_id}"


Make = Callable[..., Delivery]


@pytest.fixture
def make(in_tenant: Any) -> Make:
    """``make(tenant, status=..., **fields)``: a delivery (with one attempt when it is failed)."""

    def factory(tenant: Organization, *, status: str = "pending", **fields: Any) -> Delivery:
        values: dict[str, Any] = {
            "target": "communication",
            "channel": "email",
            "recipient_user_id": uuid.uuid4(),
            "to": "ada@example.com",
            "subject": "Big payment",
            "message": "A payment of 12,000 EUR was posted.",
            "variables": {"amount": "12000.00"},
            **fields,
        }
        with in_tenant(tenant), transaction.atomic():
            delivery = delivery_enqueue(**values)
            if status == "failed":
                now = timezone.now()
                Delivery.objects.filter(pk=delivery.pk).update(
                    status="failed", attempts=1, failed_at=now, last_error="http_400"
                )
                DeliveryAttempt.objects.create(
                    delivery=delivery,
                    number=1,
                    started_at=now,
                    finished_at=now,
                    outcome="permanent",
                    http_status=400,
                    error_class="http_400",
                    error_text="receiver answered 400",
                )
            delivery.refresh_from_db()
        return delivery

    return factory


@pytest.fixture
def b_admin_client(client_for: Any, tenant_b: Organization) -> Client:
    return client_for(tenant_b, ["admin"])


def test_admins_list_deliveries_newest_first_with_the_address_masked(
    admin_client: Client, tenant_a: Organization, make: Make
) -> None:
    older = make(tenant_a, status="failed")
    newer = make(tenant_a, to="+41446681800", channel="sms")
    response = admin_client.get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"items", "count", "count_exact", "next"}
    assert (body["count"], body["count_exact"], body["next"]) == (2, True, None)
    assert [item["id"] for item in body["items"]] == [str(newer.pk), str(older.pk)]
    assert [item["to"] for item in body["items"]] == ["+41*******00", "a***@example.com"]
    assert body["items"][1]["status"] == "failed"
    assert body["items"][1]["last_error"] == "http_400"
    assert not any(value in response.content.decode() for value in PERSONAL)


def test_filters_select_the_dead_letters_and_bad_filters_are_422(
    admin_client: Client, tenant_a: Organization, make: Make
) -> None:
    failed = make(tenant_a, status="failed")
    make(tenant_a)
    make(tenant_a, target="workflow", channel=None, subject="entity.created")
    assert [i["id"] for i in admin_client.get(URL, {"status": "failed"}).json()["items"]] == [str(failed.pk)]
    assert admin_client.get(URL, {"target": "workflow"}).json()["count"] == 1
    assert admin_client.get(URL, {"channel": "email"}).json()["count"] == 2
    for bad in ({"status": "lost"}, {"target": "pigeon"}, {"channel": "fax"}, {"limit": "0"}):
        assert_error(admin_client.get(URL, bad), 422)
    assert_error(admin_client.get(URL, {"cursor": "not-a-cursor"}), 422)


def test_a_delivery_reads_with_its_attempts_and_nothing_it_sent(
    admin_client: Client, tenant_a: Organization, make: Make
) -> None:
    delivery = make(tenant_a, status="failed")
    response = admin_client.get(url(delivery.pk))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["attempt_count"] == 1
    assert body["attempts"] == [
        {
            "number": 1,
            "started_at": body["attempts"][0]["started_at"],
            "finished_at": body["attempts"][0]["finished_at"],
            "outcome": "permanent",
            "http_status": 400,
            "error_class": "http_400",
            "error_text": "receiver answered 400",
        }
    ]
    assert not any(value in response.content.decode() for value in PERSONAL)
    assert_error(admin_client.get(url(uuid.uuid4())), 404, "delivery_not_found")
    assert_error(admin_client.get(f"{URL}not-a-uuid"), 404)


@pytest.mark.parametrize("roles", [["member"], ["viewer"], None])
def test_only_admins_see_or_retry_deliveries(
    client_for: Any, tenant_a: Organization, make: Make, roles: list[str] | None
) -> None:
    delivery = make(tenant_a, status="failed")
    client = client_for(tenant_a, roles)
    status = 401 if roles is None else 403
    assert_error(client.get(URL), status)
    assert_error(client.get(url(delivery.pk)), status)
    assert_error(client.post(f"{url(delivery.pk)}/retry"), status)
    with tenant_context(tenant_a):
        assert Delivery.objects.get(pk=delivery.pk).status == "failed"


def test_another_organizations_deliveries_are_missing_to_every_endpoint(
    b_admin_client: Client, tenant_a: Organization, make: Make
) -> None:
    theirs = make(tenant_a, status="failed")
    assert b_admin_client.get(URL).json()["items"] == []
    assert_error(b_admin_client.get(url(theirs.pk)), 404, "delivery_not_found")
    assert_error(b_admin_client.post(f"{url(theirs.pk)}/retry"), 404, "delivery_not_found")
    with tenant_context(tenant_a):
        assert Delivery.objects.get(pk=theirs.pk).status == "failed"


def test_a_retry_queues_a_dead_letter_again_once_and_is_audited(
    admin_client: Client, tenant_a: Organization, make: Make
) -> None:
    delivery = make(tenant_a, status="failed")
    response = admin_client.post(f"{url(delivery.pk)}/retry")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pending"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s AND args->>'delivery_id' = %s",
            ["deliveries.send", str(delivery.pk)],
        )
        assert cursor.fetchone()[0] == 2  # the first send's, and the retry's
    assert_error(admin_client.post(f"{url(delivery.pk)}/retry"), 409, "delivery_not_failed")
    with tenant_context(tenant_a):
        entries = AuditEntry.objects.filter(object_pk=str(delivery.pk)).order_by("id")
        actions = [entry.action for entry in entries]
        assert actions.count(AuditEntry.Action.UPDATE) == 1
        assert AuditEntry.Action.ACCESS in actions
        update = entries.get(action=AuditEntry.Action.UPDATE)
        assert update.changes["status"] == ["failed", "pending"]
        assert not any(value in str(entry.changes) for entry in entries for value in PERSONAL)


def test_list_reads_are_audited_by_id(admin_client: Client, tenant_a: Organization, make: Make) -> None:
    made = [make(tenant_a) for _ in range(2)]
    admin_client.get(URL)
    with tenant_context(tenant_a):
        entry = AuditEntry.objects.filter(
            action=AuditEntry.Action.ACCESS, object_type="deliveries.delivery"
        ).last()
    assert entry is not None
    assert sorted(entry.object_ids) == sorted(str(d.pk) for d in made)


def test_statements_per_request_do_not_grow_with_the_page(
    admin_client: Client, tenant_a: Organization, make: Make
) -> None:
    made = [make(tenant_a, status="failed" if n % 2 else "pending") for n in range(42)]
    list_count = assert_list_constant(lambda query: admin_client.get(URL, query))
    assert list_count == MACHINERY + 3  # page, count, audit entry
    assert_list_constant(
        lambda query: admin_client.get(URL, query), small=2, large=20, params={"status": "failed"}
    )
    assert_statements(lambda: admin_client.get(url(made[1].pk)), MACHINERY + 3, status=200)
    # savepoint, lock, job, save, release; the read: delivery, attempts; both audit entries in one INSERT
    assert_statements(lambda: admin_client.post(f"{url(made[1].pk)}/retry"), MACHINERY + 8, status=200)
