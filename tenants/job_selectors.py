"""Reads of the job queue (``public.procrastinate_*``) and of the audit verifications, for platform
admins, the worker liveness check and ``/metrics``.

Every read here is of the whole deployment (no organization context): the queue is one table shared by
all organizations, and a job names its organization in its arguments (``organization_id``).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateEvent, ProcrastinateJob

from hub.metrics import gauge_hook_register
from tenants.errors import JobNotFound
from tenants.jobs import ORGANIZATION_ARGUMENT
from tenants.models import AuditVerification

# A worker beats every WORKER_HEARTBEAT_SECONDS (``manage.py run_worker``); one silent for longer than
# WORKER_STALLED_SECONDS is dead (procrastinate's own default, the one its stalled-job recovery uses).
WORKER_HEARTBEAT_SECONDS = 10.0
WORKER_STALLED_SECONDS = 30.0
# States whose jobs still need something: what the summary and the queue-depth gauge count.
OPEN_STATES = ("todo", "doing", "failed")
# How far back ``hub_audit_verification_failures`` looks: a day's runs and an hour's slack.
VERIFICATION_ALERT_WINDOW = datetime.timedelta(hours=25)


def workers_alive_count() -> int:
    """Workers whose last heartbeat is younger than ``WORKER_STALLED_SECONDS``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM public.procrastinate_workers "
            "WHERE last_heartbeat > now() - make_interval(secs => %s)",
            [WORKER_STALLED_SECONDS],
        )
        return int(cursor.fetchone()[0])


def job_counts() -> dict[tuple[str, str], int]:
    """``(queue, state) -> jobs`` for the open states (``OPEN_STATES``); others are history."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT queue_name, status, count(*) FROM public.procrastinate_jobs "
            "WHERE status = ANY(%s) GROUP BY queue_name, status",
            [list(OPEN_STATES)],
        )
        return {(queue, state): int(count) for queue, state, count in cursor.fetchall()}


def queue_depth() -> dict[tuple[str, ...], float]:
    """Jobs waiting (``todo``, due or scheduled later) per queue: the ``hub_jobs_queue_depth`` gauge."""
    return {(queue,): count for (queue, state), count in job_counts().items() if state == "todo"}


def jobs_failed_count() -> float:
    """Jobs that used up their attempts (``failed``), every queue: the ``hub_jobs_failed`` gauge."""
    return sum(count for (_, state), count in job_counts().items() if state == "failed")


def audit_verification_failures_recent() -> float:
    """Verifications that found a broken chain in the last day: ``hub_audit_verification_failures``."""
    since = timezone.now() - VERIFICATION_ALERT_WINDOW
    return AuditVerification.objects.filter(ok=False, started_at__gte=since).count()


def job_list(
    *,
    state: str | None = None,
    queue: str | None = None,
    task: str | None = None,
    organization_id: uuid.UUID | None = None,
) -> QuerySet[ProcrastinateJob]:
    """Jobs newest first, filtered; a job's organization is its ``organization_id`` argument."""
    jobs = ProcrastinateJob.objects.order_by("-id")
    if state is not None:
        jobs = jobs.filter(status=state)
    if queue is not None:
        jobs = jobs.filter(queue_name=queue)
    if task is not None:
        jobs = jobs.filter(task_name=task)
    if organization_id is not None:
        jobs = jobs.filter(**{f"args__{ORGANIZATION_ARGUMENT}": str(organization_id)})
    return jobs


def job_get(*, job_id: int) -> ProcrastinateJob:
    """One job with its events (oldest first); ``JobNotFound`` (404) when there is none."""
    events = Prefetch("procrastinateevent_set", queryset=ProcrastinateEvent.objects.order_by("at", "id"))
    try:
        return ProcrastinateJob.objects.prefetch_related(events).get(id=job_id)
    except ProcrastinateJob.DoesNotExist:
        raise JobNotFound("No job has this id.") from None


def job_organization_id(job: ProcrastinateJob) -> str | None:
    """The organization a job belongs to (None: a platform job)."""
    value: Any = (job.args or {}).get(ORGANIZATION_ARGUMENT)
    return str(value) if value else None


@dataclass(frozen=True)
class QueueSummary:
    queue: str
    state: str
    jobs: int


@dataclass(frozen=True)
class JobSummary:
    """What a platform admin looks at first: the open jobs per queue and state, and live workers."""

    depth: list[QueueSummary]
    workers_alive: int
    audit_verification_failures: int


def job_summary() -> JobSummary:
    """The queue's open jobs per queue and state, the live workers, recent broken audit chains."""
    depth = [
        QueueSummary(queue=queue, state=state, jobs=count)
        for (queue, state), count in sorted(job_counts().items())
    ]
    return JobSummary(
        depth=depth,
        workers_alive=workers_alive_count(),
        audit_verification_failures=int(audit_verification_failures_recent()),
    )


def audit_verification_list(
    *, ok: bool | None = None, organization_id: uuid.UUID | None = None
) -> QuerySet[AuditVerification]:
    """Stored verifications, newest first."""
    verifications = AuditVerification.objects.order_by("-started_at")
    if ok is not None:
        verifications = verifications.filter(ok=ok)
    if organization_id is not None:
        verifications = verifications.filter(organization_id=organization_id)
    return verifications


def audit_verification_last_good(*, organization_id: uuid.UUID) -> AuditVerification | None:
    """The organization's latest verification that found its chain whole (its head anchors the next)."""
    return (
        AuditVerification.objects.filter(
            organization_id=organization_id, ok=True, head_sequence__isnull=False
        )
        .order_by("-started_at")
        .first()
    )


def job_gauges_register() -> None:
    """The queue's gauges on ``/metrics`` (read at scrape time, whole deployment): jobs waiting per queue,
    jobs failed, workers alive, and broken audit chains found in the last day (an alert rule's input)."""
    gauge_hook_register(
        name="hub_jobs_queue_depth",
        documentation="Jobs waiting (todo: due or scheduled), per queue.",
        labelnames=("queue",),
        read=queue_depth,
    )
    gauge_hook_register(
        name="hub_jobs_failed",
        documentation="Jobs that used up their attempts (failed), every queue.",
        read=jobs_failed_count,
    )
    gauge_hook_register(
        name="hub_jobs_workers_alive",
        documentation=f"Background workers with a heartbeat in the last {WORKER_STALLED_SECONDS:g} s.",
        read=lambda: float(workers_alive_count()),
    )
    gauge_hook_register(
        name="hub_audit_verification_failures",
        documentation="Audit-chain verifications that found a broken or unsealed trail in the last 25 hours.",
        read=audit_verification_failures_recent,
    )
