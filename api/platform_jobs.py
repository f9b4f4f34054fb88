"""Platform API v1: the background job queue and the audit verifications, ``platform_admin`` only.

Jobs are procrastinate's rows (``public.procrastinate_jobs``); their arguments are ids only (the queue
is shared by every organization and outlives their data), so they are shown as they are.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from procrastinate.contrib.django.models import ProcrastinateJob
from pydantic import Field

from api.auth import request_actor
from api.pagination import Page, PageParams, paginate
from api.schemas import ErrorBody, error_responses
from hub.errors import HubErrorCode
from tenants import job_selectors, job_services
from tenants.errors import TenantErrorCode

router = Router(tags=["jobs"])

JobState = Literal["todo", "doing", "succeeded", "failed", "cancelled", "aborted"]


class JobError(ErrorBody):
    code: TenantErrorCode | HubErrorCode


JOB_ERRORS = error_responses(JobError)


class JobQuery(PageParams):
    state: JobState | None = Field(None, description="Only jobs in this state.")
    queue: str | None = Field(None, max_length=128, description="Only jobs of this queue.")
    task: str | None = Field(None, max_length=128, description="Only jobs of this task (its full name).")
    organization_id: uuid.UUID | None = Field(None, description="Only the jobs of this organization.")


class JobOut(Schema):
    id: int
    queue: str = Field(description="The queue it waits in.")
    task: str = Field(description="The task's name, e.g. `privacy.retention_apply`.")
    state: JobState
    organization_id: uuid.UUID | None = Field(
        description="The organization it runs in; null: a platform job."
    )
    args: dict[str, Any] = Field(description="Its arguments: ids, numbers and codes only.")
    attempts: int = Field(description="Attempts made so far.")
    priority: int
    scheduled_at: datetime | None = Field(description="Not run before this time (a retry's backoff).")
    queueing_lock: str | None

    @staticmethod
    def resolve_queue(job: ProcrastinateJob) -> str:
        return job.queue_name

    @staticmethod
    def resolve_task(job: ProcrastinateJob) -> str:
        return job.task_name

    @staticmethod
    def resolve_state(job: ProcrastinateJob) -> str:
        return job.status

    @staticmethod
    def resolve_organization_id(job: ProcrastinateJob) -> str | None:
        return job_selectors.job_organization_id(job)


class JobEventOut(Schema):
    type: str = Field(description="deferred, started, deferred_for_retry, failed, succeeded, cancelled...")
    at: datetime | None


class JobDetailOut(JobOut):
    events: list[JobEventOut] = Field(description="What happened to it, oldest first.")
    last_error_at: datetime | None = Field(
        description="When its last attempt failed (the error itself is in the worker's log, by job id: "
        "an exception's message may hold personal data, so the queue keeps none)."
    )

    @staticmethod
    def resolve_events(job: ProcrastinateJob) -> list[Any]:
        return list(job.procrastinateevent_set.all())

    @staticmethod
    def resolve_last_error_at(job: ProcrastinateJob) -> datetime | None:
        failures = [
            event.at
            for event in job.procrastinateevent_set.all()
            if event.type in ("deferred_for_retry", "failed")
        ]
        return failures[-1] if failures else None


class JobPage(Page):
    items: list[JobOut]


class QueueDepthOut(Schema):
    queue: str
    state: Literal["todo", "doing", "failed"]
    jobs: int


class JobSummaryOut(Schema):
    depth: list[QueueDepthOut] = Field(description="Open jobs (todo, doing, failed) per queue and state.")
    workers_alive: int = Field(description="Workers with a heartbeat in the last 30 s.")
    audit_verification_failures: int = Field(
        description="Audit-chain verifications that found a broken trail in the last 25 hours."
    )


class AuditVerificationQuery(PageParams):
    ok: bool | None = Field(None, description="false: only the verifications that found a problem.")
    organization_id: uuid.UUID | None = None


class AuditVerificationOut(Schema):
    id: int
    organization_id: uuid.UUID
    started_at: datetime
    finished_at: datetime
    ok: bool
    entries_checked: int
    first_broken_sequence: int | None = Field(description="The first entry found broken (its sequence).")
    unsealed_overdue: int = Field(description="Entries left unsealed past HUB_AUDIT_SEAL_BOUND_SECONDS.")
    reason: str = Field(description="What was wrong, in the verifier's words (ids and hashes only).")


class AuditVerificationPage(Page):
    items: list[AuditVerificationOut]


@router.get("/jobs/summary", summary="Summarize the job queue", response={200: JobSummaryOut, **JOB_ERRORS})
def job_summary(request: HttpRequest) -> job_selectors.JobSummary:
    """Open jobs per queue and state, live workers, and broken audit chains found lately."""
    return job_selectors.job_summary()


@router.get("/jobs", summary="List background jobs", response={200: JobPage, **JOB_ERRORS})
def job_list(request: HttpRequest, query: Query[JobQuery]) -> dict[str, Any]:
    """Jobs newest first, a page at a time; `?state=failed` lists those that used up their attempts."""
    jobs = job_selectors.job_list(
        state=query.state, queue=query.queue, task=query.task, organization_id=query.organization_id
    )
    return paginate(jobs, page=query)


@router.get("/jobs/{job_id}", summary="Read a background job", response={200: JobDetailOut, **JOB_ERRORS})
def job_read(request: HttpRequest, job_id: int) -> ProcrastinateJob:
    """The job, its organization, attempts and events."""
    return job_selectors.job_get(job_id=job_id)


@router.post("/jobs/{job_id}/retry", summary="Retry a failed job", response={200: JobDetailOut, **JOB_ERRORS})
def job_retry(request: HttpRequest, job_id: int) -> ProcrastinateJob:
    """Put a failed job back in its queue, due now (409 `job_not_retryable` in any other state);
    recorded in the platform's audit trail."""
    return job_services.job_retry(job_id=job_id, actor=request_actor(request).id)


@router.get(
    "/audit-verifications",
    summary="List audit-chain verifications",
    response={200: AuditVerificationPage, **JOB_ERRORS},
    tags=["audit"],
)
def audit_verification_list(request: HttpRequest, query: Query[AuditVerificationQuery]) -> dict[str, Any]:
    """The daily verifications of every organization's audit chain, newest first; `?ok=false` for the
    failures."""
    verifications: Any = job_selectors.audit_verification_list(
        ok=query.ok, organization_id=query.organization_id
    )
    return paginate(verifications, page=query)
