"""Processing an event: rules matched, quiet periods kept, recipients resolved inside the organization,
in-app notifications and deliveries made once, whatever runs it again. Run here in the test's
transaction (the worker's own path is ``test_worker.py``)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django_tenants.utils import tenant_context

from apps.deliveries.models import Delivery
from apps.entities.models import Entity
from apps.entities.services import entity_create
from apps.notifications.events import event_emit
from apps.notifications.models import Dispatch, Event, Notification
from apps.notifications.services import event_process
from apps.notifications.tests.conftest import RuleFactory
from apps.notifications.tests.helpers import (
    ADMIN,
    CALLER,
    MEMBER,
    delivery_content,
    jobs_in_transaction,
    last_event,
    process_last,
)
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db

PROCESS = "notifications.event_process"


def _customer(tenant: Organization, actor: User, **fields: Any) -> Entity:
    with tenant_context(tenant):
        return entity_create(
            actor=actor,
            kind="customer",
            name="Acme AG",
            email="billing@acme.example.com",
            phone="+41 44 668 18 00",
            **fields,
        )


def _payment(tenant: Organization, amount: str, currency: str = "EUR") -> Event:
    with tenant_context(tenant):
        event_emit(
            event_type="transaction.posted",
            payload={
                "transaction_id": None,
                "amount": amount,
                "currency": currency,
                "accounts": [],
                "entity_id": None,
                "state": "posted",
            },
        )
        return last_event()


def test_an_entity_event_reaches_users_roles_and_the_entitys_contact(
    make_rule: RuleFactory, people: dict[str, User], tenant_a: Organization
) -> None:
    rule = make_rule(
        tenant_a,
        recipients={"user_ids": [str(CALLER)], "roles": ["admin"], "entity_contact": True},
        channels=["in_app", "email", "sms"],
    )
    entity = _customer(tenant_a, people["member"])
    with tenant_context(tenant_a):
        event = last_event()
        assert (event.event_type, event.subject_id, event.actor_id) == (
            "entity.created",
            str(entity.id),
            MEMBER,
        )
        assert event.payload == {
            "entity_id": str(entity.id),
            "kind": "customer",
            "status": "active",
            "restricted": False,
        }
        assert jobs_in_transaction(PROCESS) == 1  # deferred in the change's transaction
        assert process_last() == 8  # 2 users x 3 channels, the entity by email and by SMS
        inbox = {n.user_id: n for n in Notification.objects.all()}
        deliveries = sorted(
            (d.channel, delivery_content(d)["to"], d.recipient_user_id, d.entity_id)
            for d in Delivery.objects.filter(rule_id=rule.id)
        )
    assert set(inbox) == {CALLER, ADMIN}
    assert inbox[CALLER].title == "Entity created"
    assert "Acme AG" in inbox[CALLER].body  # personal: encrypted at rest
    assert inbox[CALLER].entity_id == entity.id
    assert deliveries == sorted(
        [
            ("email", people["caller"].email, CALLER, None),
            ("email", people["admin"].email, ADMIN, None),
            ("email", "billing@acme.example.com", None, entity.id),
            ("sms", str(CALLER), CALLER, None),
            ("sms", str(ADMIN), ADMIN, None),
            ("sms", "+41446681800", None, entity.id),  # stored normalised
        ]
    )


def test_an_event_no_rule_wants_is_recorded_without_a_job(
    people: dict[str, User], tenant_a: Organization
) -> None:
    _customer(tenant_a, people["member"])
    with tenant_context(tenant_a):
        assert last_event().event_type == "entity.created"
        assert jobs_in_transaction(PROCESS) == 0


def test_conditions_decide(make_rule: RuleFactory, tenant_a: Organization) -> None:
    make_rule(
        tenant_a,
        event_type="transaction.posted",
        conditions=[{"field": "amount", "op": "gte", "value": 10000}],
    )
    small, large = _payment(tenant_a, "9999.99"), _payment(tenant_a, "10000.00")
    with tenant_context(tenant_a):
        assert event_process(event_id=small.id) == 0
        assert event_process(event_id=large.id) == 1
        (notification,) = Notification.objects.all()
    assert notification.event_id == large.id
    assert "10000.00" in notification.body


def test_a_disabled_rule_never_fires(
    make_rule: RuleFactory, people: dict[str, User], tenant_a: Organization
) -> None:
    make_rule(tenant_a, enabled=False)
    _customer(tenant_a, people["member"])
    with tenant_context(tenant_a):
        assert jobs_in_transaction(PROCESS) == 0
        assert process_last() == 0
        assert not Notification.objects.exists()


def test_processing_twice_creates_nothing_twice(
    make_rule: RuleFactory, people: dict[str, User], tenant_a: Organization
) -> None:
    make_rule(tenant_a, recipients={"roles": ["admin", "viewer"]}, channels=["in_app", "email"])
    _customer(tenant_a, people["member"])
    with tenant_context(tenant_a):
        assert process_last() == 4
        before = (Notification.objects.count(), Delivery.objects.count(), Dispatch.objects.count())
        assert process_last() == 0  # a retried job: the event is done
        assert (Notification.objects.count(), Delivery.objects.count(), Dispatch.objects.count()) == before
        # Even with the mark gone, the database refuses a second (event, rule, recipient, channel).
        Event.objects.filter(id=last_event().id).update(processed_at=None)
        with pytest.raises(IntegrityError), transaction.atomic():
            process_last()
        assert (Notification.objects.count(), Delivery.objects.count(), Dispatch.objects.count()) == before


def test_quiet_period(make_rule: RuleFactory, tenant_a: Organization) -> None:
    make_rule(tenant_a, event_type="transaction.posted", quiet_minutes=10)
    first, second, third = (_payment(tenant_a, "1") for _ in range(3))
    later = first.occurred_at + datetime.timedelta(minutes=11)
    with tenant_context(tenant_a):
        Event.objects.filter(id=third.id).update(occurred_at=later)
        assert [event_process(event_id=event.id) for event in (first, second, third)] == [1, 0, 1]
        assert Notification.objects.count() == 2


def test_a_workflow_rule_starts_a_workflow(
    make_rule: RuleFactory, people: dict[str, User], tenant_a: Organization
) -> None:
    rule = make_rule(tenant_a, action="workflow", channels=[], recipients={})
    entity = _customer(tenant_a, people["member"])
    with tenant_context(tenant_a):
        assert process_last() == 1
        (delivery,) = Delivery.objects.all()
        assert not Notification.objects.exists()
    assert (delivery.target, delivery.channel, delivery.rule_id) == ("workflow", None, rule.id)
    content = delivery_content(delivery)
    assert content["subject"] == "entity.created"
    assert content["variables"]["payload"]["entity_id"] == str(entity.id)


def test_recipients_are_capped_when_the_rule_fires(
    make_rule: RuleFactory, tenant_a: Organization, settings: Any
) -> None:
    make_rule(tenant_a, event_type="transaction.posted", recipients={"roles": ["admin", "member", "viewer"]})
    settings.HUB_NOTIFICATION_MAX_RECIPIENTS = 2
    event = _payment(tenant_a, "1")
    with tenant_context(tenant_a):
        assert event_process(event_id=event.id) == 2


def test_a_rule_of_a_never_fires_on_events_of_b(
    make_rule: RuleFactory, people: dict[str, User], tenant_a: Organization, tenant_b: Organization
) -> None:
    make_rule(tenant_a, recipients={"roles": ["admin", "member", "viewer"]}, channels=["in_app", "email"])
    _customer(tenant_b, people["b_caller"])
    with tenant_context(tenant_b):
        b_event = last_event()
        assert jobs_in_transaction(PROCESS) == 0  # B has no rule: no job at all
        assert event_process(event_id=b_event.id) == 0
    with tenant_context(tenant_a):
        # B's event id, processed as A's: A cannot even see it.
        assert event_process(event_id=b_event.id) == 0
        assert not Notification.objects.exists()
        assert not Delivery.objects.exists()
