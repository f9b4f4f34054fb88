"""The periodic jobs (``tenants.tasks``): each fans one tenant job out per active organization (none for
a suspended one, none twice), and each tenant job does its work in its own organization only: retention,
the idempotency-key purge, the audit seal sweep, and the audit-chain verification (stored; a tampered
chain in X is reported for X, not Y, with an ERROR log and the event ``audit.verification_failed``).

The data is committed (a real worker runs the jobs, on its own connections): three organizations of
this module, provisioned once and deleted at its end.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connections, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.audit.services import audit_unsealed_exists
from apps.audit.tests.conftest import as_owner
from apps.entities import services as entity_services
from apps.entities.models import Entity
from apps.ledger.models import IdempotencyKey
from apps.notifications.models import Event
from apps.privacy.services import retention_policy_set
from tenants import tasks
from tenants.job_selectors import audit_verification_failures_recent
from tenants.models import AuditVerification, Organization, User
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tests.jobs import job_rows, jobs_clear, jobs_run

ACTOR = uuid.UUID(int=0x70B5)
Orgs = tuple[Organization, Organization, Organization]


@pytest.fixture(scope="module")
def orgs(django_db_setup: None, django_db_blocker: Any) -> Iterator[Orgs]:
    """X and Y active, Z suspended; each with one audited entity (a sealed chain of one entry)."""
    with django_db_blocker.unblock():
        connections.close_all()  # an earlier module may have restarted the database under them
        made = [
            tenant_provision(
                organization_id=uuid.uuid4(),
                slug=f"periodic-{name}-{uuid.uuid4().hex[:6]}",
                name=f"Periodic {name}",
                check_identity=False,
            )
            for name in ("x", "y", "z")
        ]
        actor, _ = User.objects.get_or_create(id=ACTOR, defaults={"email": "periodic@example.com"})
        for tenant in made:
            with tenant_context(tenant), transaction.atomic():
                entity_services.entity_create(actor=actor, kind="customer", name="First")
        Organization.objects.filter(pk=made[2].pk).update(status=Organization.Status.SUSPENDED)
    yield made[0], made[1], made[2]
    with django_db_blocker.unblock():
        AuditVerification.objects.filter(organization_id__in=[t.organization_id for t in made]).delete()
        for tenant in made:
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))


@pytest.fixture
def queue(orgs: Orgs, django_db_blocker: Any) -> Iterator[None]:
    """Committed database access and an empty queue before and after the test."""
    with django_db_blocker.unblock():
        jobs_clear()
        yield
        jobs_clear()


def _fan_out(task: Any, timestamp: int) -> int:
    """Run a periodic fan-out here, as the worker would (``timestamp``: its cron tick)."""
    return int(task(timestamp=timestamp))


def _organizations_of(task_name: str) -> list[str]:
    return sorted(row["args"]["organization_id"] for row in job_rows(task_name=task_name))


def _only_for(*tenants: Organization) -> None:
    """Drop the fanned-out jobs of every other organization (the session's, say): the worker then runs
    this module's only."""
    keep = [str(tenant.organization_id) for tenant in tenants]
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            "DELETE FROM public.procrastinate_jobs WHERE args ->> 'organization_id' IS NOT NULL "
            "AND NOT (args ->> 'organization_id' = ANY(%s))",
            [keep],
        )


def _active_ids() -> list[str]:
    return sorted(
        str(i)
        for i in Organization.objects.filter(status=Organization.Status.ACTIVE).values_list(
            "organization_id", flat=True
        )
    )


def test_every_periodic_job_is_registered_on_its_cron() -> None:
    crons = {
        task.name: periodic.cron
        for (_, _), periodic in tasks.app.periodic_registry.periodic_tasks.items()
        for task in [periodic.task]
    }
    assert crons["jobs.audit_seal_sweep"] == "* * * * *"
    assert {crons[name] for name in ("jobs.retention", "jobs.idempotency_purge", "jobs.audit_verify")} == {
        "10 3 * * *", "20 3 * * *", "40 3 * * *",
    }  # fmt: skip
    assert crons["jobs.prune"] == "0 4 * * *"
    assert (crons["jobs.deliveries_purge"], crons["jobs.events_purge"]) == ("30 3 * * *", "35 3 * * *")


@pytest.mark.usefixtures("queue")
def test_a_fan_out_defers_one_job_per_active_organization_none_for_a_suspended_one_and_none_twice(
    orgs: Orgs,
) -> None:
    x, y, z = orgs
    deferred = _fan_out(tasks.retention_fan_out, 0)
    organizations = _organizations_of("privacy.retention_apply")
    assert organizations == _active_ids()
    assert deferred == len(organizations)
    assert {str(x.organization_id), str(y.organization_id)} <= set(organizations)
    assert str(z.organization_id) not in organizations
    # Run again while they wait: the queueing lock adds none.
    assert _fan_out(tasks.retention_fan_out, 1) == 0
    assert _organizations_of("privacy.retention_apply") == organizations


def _entity_deleted_long_ago(tenant: Organization, name: str) -> uuid.UUID:
    actor = User.objects.get(id=ACTOR)
    with tenant_context(tenant), transaction.atomic():
        entity = entity_services.entity_create(actor=actor, kind="customer", name=name)
        entity_services.entity_delete(actor=actor, entity=entity)
        Entity.objects.filter(id=entity.id).update(deleted_at=timezone.now() - datetime.timedelta(days=90))
    return entity.id


def _exists(tenant: Organization, entity_id: uuid.UUID) -> bool:
    with tenant_context(tenant):
        return Entity.objects.filter(id=entity_id).exists()


def _events(tenant: Organization, event_type: str) -> list[dict[str, Any]]:
    with tenant_context(tenant):
        return list(Event.objects.filter(event_type=event_type).values_list("payload", flat=True))


@pytest.mark.usefixtures("queue")
def test_retention_purges_in_each_organization_by_its_own_policies(orgs: Orgs) -> None:
    x, y, _ = orgs
    x_old, y_old = _entity_deleted_long_ago(x, "X old"), _entity_deleted_long_ago(y, "Y old")
    with tenant_context(x), transaction.atomic():
        retention_policy_set(actor=User.objects.get(id=ACTOR), model="entities.entity", days=30)
    _fan_out(tasks.retention_fan_out, 0)
    _only_for(x, y)
    jobs_run(queues=["maintenance"])
    assert {row["status"] for row in job_rows(task_name="privacy.retention_apply")} == {"succeeded"}
    assert not _exists(x, x_old)
    assert _exists(y, y_old)  # Y has no policy: X's never reaches it
    assert {"model": "entities.entity", "days": 30, "purged": 1} in _events(x, "retention.purged")
    assert _events(y, "retention.purged") == []


def _event_add(tenant: Organization, subject: str, *, days_ago: int) -> None:
    with tenant_context(tenant), transaction.atomic():
        Event.objects.create(
            event_type="entity.created",
            occurred_at=timezone.now() - datetime.timedelta(days=days_ago),
            subject_id=subject,
        )


def _event_subjects(tenant: Organization) -> set[str]:
    with tenant_context(tenant):
        return set(Event.objects.filter(subject_id__startswith="purge-").values_list("subject_id", flat=True))


@pytest.mark.usefixtures("queue")
def test_the_events_purge_deletes_its_own_organizations_old_events_only(orgs: Orgs, settings: Any) -> None:
    x, y, _ = orgs
    settings.HUB_EVENTS_RETENTION_DAYS = 30
    _event_add(x, "purge-x-old", days_ago=31)
    _event_add(x, "purge-x-young", days_ago=29)
    _event_add(y, "purge-y-old", days_ago=31)
    _fan_out(tasks.events_purge_fan_out, 0)
    _only_for(x)
    jobs_run(queues=["maintenance"])
    assert {row["status"] for row in job_rows(task_name="notifications.events_purge")} == {"succeeded"}
    assert _event_subjects(x) == {"purge-x-young"}
    assert _event_subjects(y) == {"purge-y-old"}  # its job never ran: nothing of Y was touched by X's


@pytest.mark.usefixtures("queue")
def test_the_deliveries_purge_is_fanned_out_to_every_active_organization(orgs: Orgs) -> None:
    _, _, z = orgs
    deferred = _fan_out(tasks.deliveries_purge_fan_out, 0)
    organizations = _organizations_of("deliveries.purge")
    assert organizations == _active_ids()
    assert deferred == len(organizations)
    assert str(z.organization_id) not in organizations  # suspended


def _key_add(tenant: Organization, key: str, *, hours_ago: int) -> None:
    with tenant_context(tenant), transaction.atomic():
        IdempotencyKey.objects.create(
            key=key, fingerprint="0" * 64, created_at=timezone.now() - datetime.timedelta(hours=hours_ago)
        )


def _keys(tenant: Organization) -> set[str]:
    with tenant_context(tenant):
        return set(IdempotencyKey.objects.values_list("key", flat=True))


@pytest.mark.usefixtures("queue")
def test_the_idempotency_purge_job_deletes_its_own_organizations_expired_keys_only(orgs: Orgs) -> None:
    x, y, _ = orgs
    _key_add(x, "x-old", hours_ago=30)
    _key_add(x, "x-young", hours_ago=1)
    _key_add(y, "y-old", hours_ago=30)
    _fan_out(tasks.idempotency_purge_fan_out, 0)
    _only_for(x)
    jobs_run(queues=["maintenance"])
    assert _keys(x) == {"x-young"}
    assert _keys(y) == {"y-old"}  # its job never ran: nothing of Y was touched by X's


def _left_unsealed(tenant: Organization, count: int) -> None:
    """Entries committed without their seal: what a process that died right after its commit leaves."""
    content_type = ContentType.objects.get_for_model(Entity)
    with tenant_context(tenant), transaction.atomic():
        AuditEntry.objects.bulk_create(
            [
                AuditEntry(
                    action=AuditEntry.Action.ACCESS,
                    content_type_id=content_type.pk,
                    object_type="entities.entity",
                    object_pk=str(uuid.uuid4()),
                    object_repr="entity",
                )
                for _ in range(count)
            ]
        )


def _unsealed(tenant: Organization) -> bool:
    with tenant_context(tenant), transaction.atomic():
        return audit_unsealed_exists()


@pytest.mark.usefixtures("queue")
def test_the_seal_sweep_seals_only_where_entries_wait_through_a_real_worker(orgs: Orgs) -> None:
    x, y, _ = orgs
    _left_unsealed(x, 3)
    assert _unsealed(x)
    assert not _unsealed(y)
    # The periodic job as its cron defers it, run by a worker: it fans out, the worker seals.
    tasks.audit_seal_sweep.configure(queueing_lock="jobs.audit_seal_sweep").defer(timestamp=0)
    jobs_run(queues=["audit"])
    assert _organizations_of("audit.seal_pending") == [str(x.organization_id)]
    assert {row["status"] for row in job_rows(queue_name="audit")} == {"succeeded"}
    assert not _unsealed(x)
    # Nothing waits now: the next sweep defers nothing.
    assert _fan_out(tasks.audit_seal_sweep, 1) == 0


def _verifications(tenant: Organization) -> list[AuditVerification]:
    return list(
        AuditVerification.objects.filter(organization_id=tenant.organization_id).order_by("-started_at")
    )


@pytest.mark.usefixtures("queue")
def test_a_tampered_chain_in_x_is_reported_for_x_not_y(orgs: Orgs, caplog: pytest.LogCaptureFixture) -> None:
    x, y, _ = orgs
    AuditVerification.objects.filter(organization_id__in=[x.organization_id, y.organization_id]).delete()
    _fan_out(tasks.audit_verify_fan_out, 0)
    _only_for(x, y)
    jobs_run(queues=["maintenance"])
    [x_first], [y_first] = _verifications(x), _verifications(y)
    assert (x_first.ok, y_first.ok) == (True, True)
    assert x_first.head_sequence is not None
    assert x_first.entries_checked == x_first.head_sequence

    as_owner(x, "UPDATE audit_auditentry SET object_repr = 'forged' WHERE sequence = 1")
    jobs_clear()
    _fan_out(tasks.audit_verify_fan_out, 1)
    _only_for(x, y)
    with caplog.at_level(logging.ERROR, logger="tenants.job_services"):
        jobs_run(queues=["maintenance"])
    x_last, y_last = _verifications(x)[0], _verifications(y)[0]
    assert (x_last.ok, x_last.first_broken_sequence) == (False, 1)
    assert x_last.reason
    assert y_last.ok
    assert [record.organization_id for record in caplog.records if hasattr(record, "organization_id")] == [
        str(x.organization_id)
    ]
    assert _events(x, "audit.verification_failed") == [
        {"first_broken": 1, "unsealed": 0, "problem": "chain_broken"}
    ]
    assert _events(y, "audit.verification_failed") == []
    assert audit_verification_failures_recent() >= 1
    AuditVerification.objects.filter(organization_id=x.organization_id).delete()


@pytest.mark.usefixtures("queue")
def test_a_chain_cut_short_at_its_end_fails_against_the_last_good_head(orgs: Orgs) -> None:
    _, y, _ = orgs
    actor = User.objects.get(id=ACTOR)
    with tenant_context(y), transaction.atomic():
        entity_services.entity_create(actor=actor, kind="customer", name="Second")
    _fan_out(tasks.audit_verify_fan_out, 0)
    _only_for(y)
    jobs_run(queues=["maintenance"])
    good = _verifications(y)[0]
    assert good.ok
    last = good.head_sequence
    as_owner(y, f"DELETE FROM audit_auditentry WHERE sequence = {int(last or 0)}")
    jobs_clear()
    _fan_out(tasks.audit_verify_fan_out, 1)
    _only_for(y)
    jobs_run(queues=["maintenance"])
    cut = _verifications(y)[0]
    assert not cut.ok
    assert cut.first_broken_sequence == last
