"""The whole path through a real worker: a change commits its event and job, the worker processes it
inside its organization; retried jobs create nothing twice; a booking's reminder is scheduled and
skipped once the booking is cancelled; retention purges old read notifications and says so.

Organizations of this module's own (committed: the worker reads on its own connections), provisioned
once and deleted at the end; each test leaves no rule, event, notification, delivery or job behind."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.deliveries.models import Delivery, DeliveryAttempt
from apps.entities.services import entity_create
from apps.members.models import MemberRole
from apps.members.services import member_role_set
from apps.notifications import services, tasks
from apps.notifications.models import AlertRule, Dispatch, Event, Notification
from apps.privacy.models import RetentionPolicy
from apps.privacy.services import retention_apply, retention_policy_set
from apps.scheduling.services.bookings import booking_cancel, booking_create
from apps.scheduling.services.resources import resource_create
from tenants.jobs import tenant_job_defer
from tenants.models import Organization, User
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tests.jobs import job_rows, jobs_clear, jobs_run

USER = uuid.uuid4()


@pytest.fixture(scope="module")
def orgs(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[Organization, Organization, User]]:
    """Two organizations (X has a member, USER; Y none) and USER, committed for the module."""
    with django_db_blocker.unblock():
        connections.close_all()  # an earlier module may have restarted the database under them
        made = [
            tenant_provision(
                organization_id=uuid.uuid4(),
                slug=f"notif-{name}-{uuid.uuid4().hex[:6]}",
                name=name,
                check_identity=False,
            )
            for name in ("x", "y")
        ]
        user = User.objects.create(id=USER, email=f"{USER.hex[:8]}@notif.example.com")
        with tenant_context(made[0]):
            member_role_set(actor=None, user_id=USER, role=MemberRole.MEMBER, email=user.email)
    yield made[0], made[1], user
    with django_db_blocker.unblock():
        for tenant in made:
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))
        # Raw: the ORM's cascade would look for guardian's tables, which live in tenant schemas only.
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute("DELETE FROM public.tenants_user WHERE id = %s", [USER])


@pytest.fixture
def world(
    orgs: tuple[Organization, Organization, User], django_db_blocker: Any
) -> Iterator[tuple[Organization, Organization, User]]:
    """Committed database access, an empty queue, and the module's organizations emptied after."""
    with django_db_blocker.unblock():
        jobs_clear()
        yield orgs
        jobs_clear()
        for tenant in orgs[:2]:
            with tenant_context(tenant), transaction.atomic():
                for model in (
                    Notification,
                    Dispatch,
                    DeliveryAttempt,
                    Delivery,
                    Event,
                    AlertRule,
                    RetentionPolicy,
                ):
                    model.objects.all()._raw_delete(model.objects.db)


def _rule(tenant: Organization, user: User, **fields: Any) -> AlertRule:
    values: dict[str, Any] = {
        "name": "Watch",
        "event_type": "entity.created",
        "recipients": {"user_ids": [str(user.id)]},
        "channels": ["in_app", "email"],
    }
    with tenant_context(tenant):
        return services.rule_create(actor=user, **values | fields)


def _customer(tenant: Organization, user: User) -> None:
    with tenant_context(tenant), transaction.atomic():
        entity_create(actor=user, kind="customer", name="Acme AG")


def test_a_change_reaches_the_inbox_through_the_worker_and_no_other_organization(
    world: tuple[Organization, Organization, User],
) -> None:
    x, y, user = world
    _rule(x, user)
    _customer(x, user)
    _customer(y, user)  # Y has no rule: its event is recorded, no job
    assert [job["args"]["organization_id"] for job in job_rows(task_name="notifications.event_process")] == [
        str(x.organization_id)
    ]
    jobs_run(queues=["default"])
    assert [job["status"] for job in job_rows(task_name="notifications.event_process")] == ["succeeded"]
    with tenant_context(x):
        (notification,) = Notification.objects.all()
        assert (notification.user_id, notification.event_type) == (user.id, "entity.created")
        (delivery,) = Delivery.objects.all()
        assert (delivery.channel, delivery.recipient_user_id) == ("email", user.id)
        assert Event.objects.get().processed_at is not None
    with tenant_context(y):
        assert not Notification.objects.exists()
        assert Event.objects.get().processed_at is None


def test_a_job_run_twice_creates_nothing_twice(world: tuple[Organization, Organization, User]) -> None:
    x, _, user = world
    _rule(x, user, channels=["in_app"])
    _customer(x, user)
    with tenant_context(x), transaction.atomic():
        tenant_job_defer(tasks.event_process, event_id=Event.objects.get().id)  # the same event again
    jobs_run(queues=["default"], concurrency=2)
    assert [job["status"] for job in job_rows(task_name="notifications.event_process")] == ["succeeded"] * 2
    with tenant_context(x):
        assert Notification.objects.count() == 1
        assert Dispatch.objects.count() == 1


def _due_now(task_name: str) -> None:
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            "UPDATE public.procrastinate_jobs SET scheduled_at = now() WHERE task_name = %s", [task_name]
        )


def test_starting_soon_is_scheduled_and_skipped_once_cancelled(
    world: tuple[Organization, Organization, User], settings: Any
) -> None:
    x, _, user = world
    settings.HUB_NOTIFICATION_STARTING_SOON_MINUTES = 30
    _rule(x, user, event_type="booking.starting_soon", channels=["in_app"])
    start = (timezone.now() + datetime.timedelta(hours=3)).replace(microsecond=0)
    with tenant_context(x), transaction.atomic():
        room = resource_create(kind="room", name="Room", timezone="UTC", capacity=2)
        kept, cancelled = (
            booking_create(
                actor=user,
                resource_id=room.id,
                start=start,
                end=start + datetime.timedelta(hours=1),
                override_availability=True,
            )
            for _ in range(2)
        )
    reminders = job_rows(task_name="notifications.booking_starting_soon")
    assert {job["args"]["booking_id"] for job in reminders} == {str(kept.id), str(cancelled.id)}
    assert {job["scheduled_at"] for job in reminders} == {start - datetime.timedelta(minutes=30)}
    jobs_run(queues=["default"])  # not due yet: nothing runs
    assert {job["status"] for job in job_rows(task_name="notifications.booking_starting_soon")} == {"todo"}

    with tenant_context(x), transaction.atomic():
        booking_cancel(actor=user, booking=cancelled)
    _due_now("notifications.booking_starting_soon")
    jobs_run(queues=["default"])
    with tenant_context(x):
        soon = Event.objects.filter(event_type="booking.starting_soon")
        assert [event.subject_id for event in soon] == [str(kept.id)]
        (notification,) = Notification.objects.all()
        assert notification.subject_id == str(kept.id)


def test_retention_purges_old_read_notifications_and_emits_its_event(
    world: tuple[Organization, Organization, User],
) -> None:
    x, _, user = world
    _rule(x, user, channels=["in_app"], event_type="retention.purged")
    _rule(x, user, channels=["in_app"])
    for _ in range(3):
        _customer(x, user)
    jobs_run(queues=["default"])
    with tenant_context(x):
        old, recent, unread = Notification.objects.order_by("created_at")
        long_ago = timezone.now() - datetime.timedelta(days=40)
        Notification.objects.filter(id=old.id).update(read_at=long_ago)
        Notification.objects.filter(id=recent.id).update(read_at=timezone.now())
        retention_policy_set(actor=user, model="notifications.notification", days=30)
        (result,) = retention_apply()
        assert (result.model, result.purged) == ("notifications.notification", 1)
        assert set(Notification.objects.values_list("id", flat=True)) == {recent.id, unread.id}
        purged = Event.objects.get(event_type="retention.purged")
        assert purged.payload == {"model": "notifications.notification", "days": 30, "purged": 1}
    jobs_run(queues=["default"])  # the retention.purged rule notifies the user
    with tenant_context(x):
        assert Notification.objects.filter(event_type="retention.purged").count() == 1
