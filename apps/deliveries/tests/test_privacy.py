"""Deliveries hold personal data: erased with their entity or recipient, exported with the entity,
purged after their retention; never in the audit trail."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.deliveries.errors import DeliveryInvalid
from apps.deliveries.models import Delivery, DeliveryAttempt
from apps.deliveries.services import (
    delivery_attempt_begin,
    delivery_enqueue,
    delivery_purge,
    delivery_recipient_erase,
)
from apps.deliveries.tests.conftest import Enqueue
from apps.entities.services import entity_create
from apps.privacy.selectors import subject_export
from apps.privacy.services import subject_erase
from tenants.models import Organization, User
from tests.jobs import job_rows
from tests.query_counts import statements

PERSONAL = ("ada@example.com", "Big payment", "12,000 EUR", "12000.00")
MESSAGE: dict[str, Any] = {
    "target": "communication",
    "channel": "email",
    "to": "ada@example.com",
    "subject": "Big payment",
    "message": "A payment of 12,000 EUR was posted.",
    "variables": {"amount": "12000.00"},
}


@pytest.fixture
def actor(db: None) -> User:
    return User.objects.get_or_create(id=uuid.UUID(int=0xDE12))[0]


@pytest.mark.django_db
def test_erasing_an_entity_blanks_its_deliveries_and_the_waiting_one_is_never_sent(
    tenant_a: Organization, actor: User
) -> None:
    with tenant_context(tenant_a):
        entity = entity_create(actor=actor, kind="customer", name="Ada", email="ada@example.com")
        delivery = delivery_enqueue(recipient_user_id=None, entity_id=entity.pk, **MESSAGE)
        other = delivery_enqueue(recipient_user_id=None, **MESSAGE)
        exported = subject_export(entity_id=entity.pk)
        assert "ada@example.com" in str(exported)
        assert str(delivery.pk) in str(exported)
        subject_erase(actor=actor, entity_id=entity.pk)
        erased = Delivery.objects.get(pk=delivery.pk)
        assert erased.content == ""
        assert Delivery.objects.get(pk=other.pk).content_get().to == "ada@example.com"  # not the entity's
        assert delivery_attempt_begin(delivery_id=delivery.pk) is None  # nothing left to send
        erased.refresh_from_db()
        assert (erased.status, erased.last_error, erased.attempts) == ("failed", "erased", 0)
        entries = AuditEntry.objects.filter(object_pk=str(delivery.pk))
        assert entries.filter(action=AuditEntry.Action.UPDATE).exists()
        assert not any(value in str(entry.changes) for entry in entries for value in PERSONAL)


@pytest.mark.django_db
def test_erasing_a_recipient_blanks_only_their_deliveries(tenant_a: Organization, actor: User) -> None:
    user_id = uuid.uuid4()
    with tenant_context(tenant_a):
        theirs = [delivery_enqueue(recipient_user_id=user_id, **MESSAGE) for _ in range(3)]
        other = delivery_enqueue(recipient_user_id=uuid.uuid4(), **MESSAGE)
        _, sent = statements(lambda: delivery_recipient_erase(actor=actor, user_id=user_id))
        # savepoint, lock and read, one UPDATE, release; an audit entry per row (written at once here)
        assert len(sent) == 4 + 3, "\n".join(sent)
        assert delivery_recipient_erase(actor=actor, user_id=user_id) == 0  # done already
        for delivery in Delivery.objects.filter(pk__in=[d.pk for d in theirs]):
            assert delivery.content == ""
            assert delivery.erased_at is not None
        assert Delivery.objects.get(pk=other.pk).content_get().message == MESSAGE["message"]
        entries = AuditEntry.objects.filter(object_pk__in=[str(d.pk) for d in theirs])
        assert entries.filter(action=AuditEntry.Action.UPDATE).count() == 3
        assert not any(value in str(entry.changes) for entry in entries for value in PERSONAL)


@pytest.mark.django_db
def test_personal_fields_are_encrypted_at_rest(tenant_a: Organization) -> None:
    from django.db import connection

    with tenant_context(tenant_a):
        delivery = delivery_enqueue(recipient_user_id=None, **MESSAGE)
        with connection.cursor() as cursor:
            cursor.execute("SELECT content FROM deliveries_delivery WHERE id = %s", [delivery.pk])
            stored = cursor.fetchone()
    assert stored[0].startswith("enc1:")
    assert not any(value in str(stored) for value in PERSONAL)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"target": "pigeon"}, "target"),
        ({"channel": "fax"}, "channel"),
        ({"channel": None}, "channel"),
        ({"to": ""}, "address"),
        ({"target": "workflow"}, "no channel"),
        ({"target": "workflow", "channel": None, "subject": ""}, "event type"),
        ({"entity_id": uuid.UUID(int=7)}, "entity"),
    ],
)
def test_a_delivery_that_cannot_be_sent_is_refused(
    tenant_a: Organization, changes: dict[str, Any], problem: str
) -> None:
    with tenant_context(tenant_a), pytest.raises(DeliveryInvalid, match=problem):
        delivery_enqueue(recipient_user_id=None, **{**MESSAGE, **changes})


@pytest.mark.django_db
def test_enqueueing_costs_four_statements(tenant_a: Organization) -> None:
    with tenant_context(tenant_a), transaction.atomic():
        delivery_enqueue(recipient_user_id=None, **MESSAGE)  # warm: per-process caches (content types)
        _, sent = statements(lambda: delivery_enqueue(recipient_user_id=None, **MESSAGE))
    # the job, the data key's version check (one encrypted column), the row, the audit entry
    assert len(sent) == 4, "\n".join(sent)


@pytest.mark.usefixtures("delivery_queue")
def test_a_rolled_back_change_leaves_neither_delivery_nor_job(org_a: Organization) -> None:
    with tenant_context(org_a), transaction.atomic():
        delivery_enqueue(recipient_user_id=None, **MESSAGE)
        transaction.set_rollback(True)
    assert job_rows(task_name="deliveries.send") == []
    with tenant_context(org_a):
        assert not Delivery.objects.exists()


@pytest.mark.usefixtures("delivery_queue")
def test_delivered_rows_past_their_retention_are_purged_in_batches(
    org_a: Organization, enqueue: Enqueue, settings: Any
) -> None:
    settings.HUB_DELIVERY_RETENTION_DAYS = 30
    now = timezone.now()
    old = [enqueue(org_a) for _ in range(5)]
    recent, failed = enqueue(org_a), enqueue(org_a)
    with tenant_context(org_a):
        Delivery.objects.filter(pk__in=[d.pk for d in old]).update(
            status="delivered", delivered_at=now - datetime.timedelta(days=31)
        )
        Delivery.objects.filter(pk=recent.pk).update(status="delivered", delivered_at=now)
        Delivery.objects.filter(pk=failed.pk).update(
            status="failed", failed_at=now - datetime.timedelta(days=90)
        )
        DeliveryAttempt.objects.create(delivery_id=old[0].pk, number=1, started_at=now, outcome="delivered")
        assert delivery_purge(batch_size=2) == 5
        assert set(Delivery.objects.values_list("pk", flat=True)) == {recent.pk, failed.pk}
        assert not DeliveryAttempt.objects.exists()
