"""The delivery guarantees, against a real local HTTP server and a real worker (``tests.jobs``):
nothing lost, nothing sent twice, dead letters where the receiver is down or refuses, isolation."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django_tenants.utils import tenant_context

from apps.deliveries.fake_receiver import FakeReceiver
from apps.deliveries.models import Delivery, DeliveryAttempt
from apps.deliveries.tasks import SEND_TASK, delivery_send
from apps.deliveries.tests.conftest import Enqueue
from tenants.jobs import tenant_job_defer, tenant_task
from tenants.models import Organization
from tests.jobs import job_rows, jobs_clear, jobs_run

pytestmark = pytest.mark.usefixtures("delivery_queue")


def _deliveries(tenant: Organization) -> list[Delivery]:
    with tenant_context(tenant):
        return list(Delivery.objects.order_by("created_at"))


def _attempts(tenant: Organization, delivery: Delivery) -> list[tuple[str, int | None, str]]:
    with tenant_context(tenant):
        rows = DeliveryAttempt.objects.filter(delivery_id=delivery.pk).order_by("number")
        return [(row.outcome, row.http_status, row.error_class) for row in rows]


def test_a_receiver_that_fails_then_recovers_gets_every_delivery_exactly_once(
    org_a: Organization, receiver: FakeReceiver, enqueue: Enqueue, settings: Any
) -> None:
    settings.HUB_DELIVERY_MAX_ATTEMPTS = 5
    receiver.fail_next(4)
    made = [enqueue(org_a, to=f"user{n}@example.com") for n in range(5)]
    jobs_run(queues=["deliveries"])
    deliveries = _deliveries(org_a)
    assert {d.status for d in deliveries} == {"delivered"}
    assert sorted(receiver.accepted_keys()) == sorted(str(d.pk) for d in made)
    assert len(receiver.requests) == 5 + 4  # every failure was tried again, no success twice
    outcomes = [outcome for d in deliveries for outcome in _attempts(org_a, d)]
    assert outcomes.count(("retryable", 500, "http_500")) == 4
    assert outcomes.count(("delivered", 202, "")) == 5
    first = receiver.accepted[str(made[0].pk)]
    assert first.path == "/api/v1/notifications"
    assert first.body == {
        "type": "email",
        "to": "user0@example.com",
        "subject": "Big payment",
        "message": "A payment of 12,000 EUR was posted.",
        "template_id": None,
        "variables": {"amount": "12000.00"},
    }
    assert first.authorization == ""


def test_concurrent_workers_and_duplicate_jobs_still_deliver_each_delivery_once(
    org_a: Organization, org_b: Organization, receiver: FakeReceiver, enqueue: Enqueue, settings: Any
) -> None:
    settings.HUB_DELIVERY_MAX_ATTEMPTS = 8
    receiver.fail_next(6)
    made = {tenant: [enqueue(tenant) for _ in range(10)] for tenant in (org_a, org_b)}
    for tenant, theirs in made.items():  # a second job for some (a double defer, a stalled retry)
        with tenant_context(tenant), transaction.atomic():
            for delivery in theirs[::3]:
                tenant_job_defer(delivery_send, delivery_id=str(delivery.pk))
    jobs_run(queues=["deliveries"], concurrency=4)
    assert sorted(receiver.accepted_keys()) == sorted(str(d.pk) for theirs in made.values() for d in theirs)
    assert len(receiver.requests) == 20 + 6  # each failure tried again once, no success sent twice
    assert {d.status for tenant in (org_a, org_b) for d in _deliveries(tenant)} == {"delivered"}


def test_a_delivered_delivery_is_never_sent_again(
    org_a: Organization, receiver: FakeReceiver, enqueue: Enqueue, settings: Any
) -> None:
    settings.COMMUNICATION_SERVICE_TOKEN = "comm-token"
    delivery = enqueue(org_a)
    jobs_run(queues=["deliveries"])
    with tenant_context(org_a), transaction.atomic():
        tenant_job_defer(delivery_send, delivery_id=str(delivery.pk))  # a stray second job
    jobs_run(queues=["deliveries"])
    assert len(receiver.requests) == 1
    assert receiver.requests[0].authorization == "Bearer comm-token"
    assert receiver.requests[0].idempotency_key == str(delivery.pk)
    assert _attempts(org_a, delivery) == [("delivered", 202, "")]


def test_a_receiver_down_the_whole_time_leaves_dead_letters_visible_to_admins(
    org_a: Organization, enqueue: Enqueue, settings: Any, closed_port: int, client_for: Any
) -> None:
    settings.COMMUNICATION_SERVICE_URL = f"http://127.0.0.1:{closed_port}"
    settings.HUB_DELIVERY_RETRY_BASE_SECONDS = 0
    settings.HUB_DELIVERY_MAX_ATTEMPTS = 3
    made = [enqueue(org_a) for _ in range(2)]
    jobs_run(queues=["deliveries"])
    for delivery in _deliveries(org_a):
        assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 3, "ConnectError")
        assert delivery.failed_at is not None
        assert _attempts(org_a, delivery) == [("retryable", None, "ConnectError")] * 3
    assert {row["status"] for row in job_rows(task_name=SEND_TASK)} == {"succeeded"}
    listed = client_for(org_a, ["admin"]).get("/api/v1/notifications/deliveries/", {"status": "failed"})
    assert listed.status_code == 200, listed.content
    assert sorted(item["id"] for item in listed.json()["items"]) == sorted(str(d.pk) for d in made)
    assert {item["last_error"] for item in listed.json()["items"]} == {"ConnectError"}


@pytest.mark.parametrize(("status", "attempts"), [(400, 1), (404, 1), (422, 1), (429, 2), (408, 2), (503, 2)])
def test_a_refusal_dead_letters_at_once_and_a_not_now_is_retried(
    org_a: Organization, receiver: FakeReceiver, enqueue: Enqueue, settings: Any, status: int, attempts: int
) -> None:
    settings.HUB_DELIVERY_MAX_ATTEMPTS = 2
    receiver.refuse_all(status)
    delivery = enqueue(org_a)
    jobs_run(queues=["deliveries"])
    outcome = "permanent" if attempts == 1 else "retryable"
    assert _attempts(org_a, delivery) == [(outcome, status, f"http_{status}")] * attempts
    assert _deliveries(org_a)[0].status == "failed"


def test_a_slow_receiver_times_out_and_the_retry_is_deduplicated_by_the_receiver(
    org_a: Organization, receiver: FakeReceiver, enqueue: Enqueue, settings: Any
) -> None:
    settings.HUB_DELIVERY_TIMEOUT_SECONDS = 0.3
    settings.HUB_DELIVERY_MAX_ATTEMPTS = 1
    receiver.hold = threading.Event()  # accepted, but answered only once released: past our timeout
    delivery = enqueue(org_a)
    jobs_run(queues=["deliveries"])
    assert _attempts(org_a, delivery) == [("retryable", None, "ReadTimeout")]
    receiver.hold.set()
    receiver.hold = None
    with tenant_context(org_a):
        from apps.deliveries.services import delivery_retry
        from tenants.models import User

        actor, _ = User.objects.get_or_create(id=uuid.UUID(int=0xDE11))
        with transaction.atomic():
            delivery_retry(actor=actor, delivery_id=delivery.pk)
    jobs_run(queues=["deliveries"])
    assert _deliveries(org_a)[0].status == "delivered"
    assert [r.idempotency_key for r in receiver.requests] == [str(delivery.pk)] * 2
    assert receiver.accepted_keys() == [str(delivery.pk)]  # the receiver kept it once


def test_a_workflow_trigger_posts_the_event_with_the_same_guarantees(
    org_a: Organization, receiver: FakeReceiver, enqueue: Enqueue, settings: Any
) -> None:
    settings.WORKFLOW_SERVICE_TOKEN = "wf-token"
    receiver.fail_next(1)
    rule_id = uuid.uuid4()
    delivery = enqueue(
        org_a,
        target="workflow",
        channel=None,
        to="",
        subject="transaction.posted",
        message="",
        template_id="wf-big-payments",
        variables={
            "occurred_at": "2026-11-30T12:00:00+00:00",
            "subject_id": "t-1",
            "payload": {"amount": "12000.00", "currency": "EUR"},
        },
        rule_id=rule_id,
        event_id=42,
    )
    jobs_run(queues=["deliveries"])
    sent = receiver.accepted[str(delivery.pk)]
    assert sent.path == "/api/v1/workflows"
    assert sent.authorization == "Bearer wf-token"
    assert sent.body == {
        "type": "transaction.posted",
        "occurred_at": "2026-11-30T12:00:00+00:00",
        "payload": {"amount": "12000.00", "currency": "EUR"},
        "subject_id": "t-1",
        "event_id": 42,
        "rule_id": str(rule_id),
        "delivery_id": str(delivery.pk),
        "workflow_id": "wf-big-payments",
    }
    assert _deliveries(org_a)[0].status == "delivered"


probes: list[dict[str, Any]] = []


@tenant_task(name="tests.deliveries_probe", queue="deliveries")
def deliveries_probe(*, other_schema: str) -> None:
    """Raw SQL, no filter, in this job's organization: its own deliveries, and another schema's."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT organization_id FROM deliveries_delivery")
        own = {str(row[0]) for row in cursor.fetchall()}
        cursor.execute(f'SELECT count(*) FROM "{other_schema}".deliveries_delivery')
        probes.append({"own": own, "other_count": cursor.fetchone()[0]})


def test_a_delivery_job_of_one_organization_never_reads_anothers(
    org_a: Organization, org_b: Organization, receiver: FakeReceiver, enqueue: Enqueue
) -> None:
    enqueue(org_a)
    theirs = enqueue(org_b, to="bob@example.com")
    jobs_clear()  # only the jobs below run
    probes.clear()
    with tenant_context(org_a), transaction.atomic():
        tenant_job_defer(deliveries_probe, other_schema=org_b.schema_name)
        tenant_job_defer(delivery_send, delivery_id=str(theirs.pk))  # B's id, in A's job
    jobs_run(queues=["deliveries"])
    assert probes == [{"own": {str(org_a.organization_id)}, "other_count": 0}]
    assert receiver.requests == []  # A's job found no delivery with B's id
    assert _deliveries(org_b)[0].status == "pending"
