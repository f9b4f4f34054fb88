"""Writes about the job queue and the audit verifications: a platform admin's retry of a failed job,
and the stored result of an audit-chain verification.
"""

from __future__ import annotations

import datetime
import logging
import uuid

from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from tenants.errors import JobNotRetryable
from tenants.job_selectors import job_get, job_organization_id
from tenants.models import AuditVerification, PlatformAuditEntry
from tenants.services import platform_audit_record

logger = logging.getLogger(__name__)

# The organization a platform job's retry is recorded under (the platform trail names one per entry).
PLATFORM_JOB_ORGANIZATION = uuid.UUID(int=0)
REASON_MAX_LENGTH = 500


def job_retry(*, job_id: int, actor: uuid.UUID | None) -> ProcrastinateJob:
    """Put a ``failed`` job back in its queue, due now, its attempts kept (a worker runs it again);
    recorded in the platform's trail. Any other state: ``JobNotRetryable`` (409)."""
    with transaction.atomic():
        job = job_get(job_id=job_id)
        if job.status != "failed":
            raise JobNotRetryable(f"Job {job_id} is {job.status}: only a failed job can be retried.")
        # procrastinate's own query: it moves only a failed (or doing) job, so a concurrent retry of
        # the same job changes nothing twice.
        app.job_manager.retry_job_by_id(job.id, timezone.now(), job.priority, job.queue_name, job.lock)
        organization_id = job_organization_id(job)
        platform_audit_record(
            action=PlatformAuditEntry.Action.RETRY_JOB,
            organization_id=uuid.UUID(organization_id) if organization_id else PLATFORM_JOB_ORGANIZATION,
            actor=actor,
            changes={"job_id": [None, job.id], "status": ["failed", "todo"]},
            using=DEFAULT_DB_ALIAS,
        )
        return job_get(job_id=job_id)


def audit_verification_record(
    *,
    organization_id: uuid.UUID,
    started_at: datetime.datetime,
    ok: bool,
    entries_checked: int,
    first_broken_sequence: int | None,
    unsealed_overdue: int,
    reason: str,
    head_sequence: int | None,
    head_hash: str,
) -> AuditVerification:
    """Store one verification's outcome (ids, counts and the verifier's own sentence only); a broken
    chain is logged at ERROR, which is what pages the platform's on-call."""
    verification = AuditVerification.objects.create(
        organization_id=organization_id,
        started_at=started_at,
        finished_at=timezone.now(),
        ok=ok,
        entries_checked=entries_checked,
        first_broken_sequence=first_broken_sequence,
        unsealed_overdue=unsealed_overdue,
        reason=reason[:REASON_MAX_LENGTH],
        head_sequence=head_sequence,
        head_hash=head_hash,
    )
    if not ok:
        logger.error(
            "audit verification failed for organization %s: first broken entry %s, %s unsealed overdue",
            organization_id,
            first_broken_sequence,
            unsealed_overdue,
            extra={"verification_id": verification.pk, "organization_id": str(organization_id)},
        )
    return verification
