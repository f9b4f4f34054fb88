"""The platform's periodic jobs: each one fans a tenant job out to every active organization.

procrastinate's periodic deferrer (in every worker; the database keeps one defer per tick, however many
workers run) defers these platform jobs on their cron, in UTC:

============================  ==============  ==============================================================
job                           cron            defers, per active organization
============================  ==============  ==============================================================
``jobs.audit_seal_sweep``     every minute    ``audit.seal_pending``, only where entries wait unsealed
``jobs.retention``            03:10 daily     ``privacy.retention_apply`` (``manage.py apply_retention``)
``jobs.idempotency_purge``    03:20 daily     ``ledger.idempotency_keys_purge`` (``purge_idempotency_keys``)
``jobs.deliveries_purge``     03:30 daily     ``deliveries.purge`` (delivered rows past their retention)
``jobs.events_purge``         03:35 daily     ``notifications.events_purge`` (events past theirs)
``jobs.audit_verify``         03:40 daily     ``audit.verify`` (``verify_audit``; results stored)
``jobs.prune``                04:00 daily     nothing: deletes succeeded jobs older than
                                              ``JOBS_SUCCEEDED_KEPT_HOURS`` (the queue's own history)
============================  ==============  ==============================================================

Each tenant job carries a ``queueing_lock`` of its kind and organization, so while one waits another is
not added (a slow run never piles up) and a fan-out run twice defers nothing twice; the periodic job
has a lock of its own too. A suspended organization gets none (``tenant_task`` would only put it off),
a deleted one is not listed. Each organization's defer is its own short transaction: a fan-out over
thousands of organizations holds no lock and commits as it goes. The management commands stay for
manual runs.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django_tenants.utils import tenant_context
from procrastinate import sql
from procrastinate.contrib.django import app
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.tasks import Task

from apps.audit.services import audit_unsealed_exists
from apps.audit.tasks import audit_seal_job, audit_verify_job
from apps.deliveries.tasks import delivery_purge_job
from apps.ledger.tasks import idempotency_keys_purge_job
from apps.notifications.tasks import events_purge
from apps.privacy.tasks import retention_apply_job
from tenants.archive import tasks as archive_tasks  # noqa: F401 - procrastinate discovers tenants.tasks only
from tenants.jobs import platform_task, tenant_job_defer
from tenants.models import Organization

logger = logging.getLogger(__name__)

# Organizations read per query while fanning out (keyset on the primary key).
FAN_OUT_BATCH = 500
# Succeeded jobs are kept this long for the platform admins' list, then deleted (failed ones stay).
JOBS_SUCCEEDED_KEPT_HOURS = 7 * 24


def organizations_active() -> Any:
    """Every active organization, ``FAN_OUT_BATCH`` read at a time (a long list is never loaded whole)."""
    last = 0
    while True:
        batch = list(
            Organization.objects.filter(status=Organization.Status.ACTIVE, pk__gt=last).order_by("pk")[
                :FAN_OUT_BATCH
            ]
        )
        yield from batch
        if len(batch) < FAN_OUT_BATCH:
            return
        last = batch[-1].pk


def fan_out(task: Task[Any, Any, Any], *, lock: str, only_if: Any = None) -> int:
    """Defer ``task`` once per active organization (``only_if()``, run inside it, may skip it), with
    the organization's ``queueing_lock`` ``lock``; how many were deferred (one already waiting is
    not deferred again)."""
    deferred = 0
    for tenant in organizations_active():
        with tenant_context(tenant):
            try:
                with transaction.atomic():
                    if only_if is not None and not only_if():
                        continue
                    tenant_job_defer(task, job_options={"queueing_lock": lock})
                    deferred += 1
            except AlreadyEnqueued:
                continue
    return deferred


@app.periodic(cron="* * * * *", queueing_lock="jobs.audit_seal_sweep")
@platform_task(name="jobs.audit_seal_sweep", queue="audit")
def audit_seal_sweep(*, timestamp: int) -> int:
    """Seal what a failed after-commit seal left: a job for each organization with unsealed entries
    (one indexed ``EXISTS`` each; nothing deferred when nothing waits)."""
    return fan_out(audit_seal_job, lock="audit.seal_pending", only_if=audit_unsealed_exists)


@app.periodic(cron="10 3 * * *", queueing_lock="jobs.retention")
@platform_task(name="jobs.retention", queue="maintenance")
def retention_fan_out(*, timestamp: int) -> int:
    """Apply every organization's retention policies."""
    return fan_out(retention_apply_job, lock="privacy.retention_apply")


@app.periodic(cron="20 3 * * *", queueing_lock="jobs.idempotency_purge")
@platform_task(name="jobs.idempotency_purge", queue="maintenance")
def idempotency_purge_fan_out(*, timestamp: int) -> int:
    """Purge every organization's expired ledger idempotency keys."""
    return fan_out(idempotency_keys_purge_job, lock="ledger.idempotency_keys_purge")


@app.periodic(cron="30 3 * * *", queueing_lock="jobs.deliveries_purge")
@platform_task(name="jobs.deliveries_purge", queue="maintenance")
def deliveries_purge_fan_out(*, timestamp: int) -> int:
    """Purge every organization's deliveries delivered longer ago than ``HUB_DELIVERY_RETENTION_DAYS``."""
    return fan_out(delivery_purge_job, lock="deliveries.purge")


@app.periodic(cron="35 3 * * *", queueing_lock="jobs.events_purge")
@platform_task(name="jobs.events_purge", queue="maintenance")
def events_purge_fan_out(*, timestamp: int) -> int:
    """Purge every organization's events older than ``HUB_EVENTS_RETENTION_DAYS``."""
    return fan_out(events_purge, lock="notifications.events_purge")


@app.periodic(cron="40 3 * * *", queueing_lock="jobs.audit_verify")
@platform_task(name="jobs.audit_verify", queue="maintenance")
def audit_verify_fan_out(*, timestamp: int) -> int:
    """Verify every organization's audit chain (results in ``tenants.AuditVerification``)."""
    return fan_out(audit_verify_job, lock="audit.verify")


@app.periodic(cron="0 4 * * *", queueing_lock="jobs.prune")
@platform_task(name="jobs.prune", queue="maintenance")
def jobs_prune(*, timestamp: int) -> None:
    """Delete the queue's succeeded jobs older than ``JOBS_SUCCEEDED_KEPT_HOURS`` (their events with
    them); failed and cancelled ones stay for the platform admins."""
    # procrastinate's own query (its manager offers it async only); the deletes cascade to the events.
    app.connector.get_sync_connector().execute_query(
        query=sql.queries["delete_old_jobs"],
        nb_hours=JOBS_SUCCEEDED_KEPT_HOURS,
        queue=None,
        statuses=["succeeded"],
    )
