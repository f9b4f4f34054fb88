"""The audit trail's jobs: sealing what a failed after-commit seal left (every minute, for the
organizations with unsealed entries) and verifying the whole chain (daily); both fanned out per
organization by ``tenants.tasks``.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from apps.audit.selectors import ChainHead, audit_chain_verify, audit_seal_backlog
from apps.audit.services import audit_seal_pending
from apps.notifications.events import event_emit
from tenants.job_selectors import audit_verification_last_good
from tenants.job_services import audit_verification_record
from tenants.jobs import current_organization_id, tenant_task


@tenant_task(name="audit.seal_pending", queue="audit", atomic=False)
def audit_seal_job() -> int:
    """Seal the organization's committed unsealed entries (each batch its own transaction); how many
    (0 as well when another process held the seal lock: that one seals what is left)."""
    return audit_seal_pending() or 0


@tenant_task(name="audit.verify", queue="maintenance")
def audit_verify_job() -> bool:
    """Walk the organization's whole chain, against the head of its last good walk (a chain cut short
    at its end shows), and count the entries left unsealed past ``HUB_AUDIT_SEAL_BOUND_SECONDS``.
    The outcome is stored (``tenants.AuditVerification``); a failure is logged at ERROR and emitted as
    ``audit.verification_failed`` in the organization's transaction (its alert rules notify its
    admins). Returns whether the trail is whole."""
    started_at = timezone.now()
    organization_id = current_organization_id()
    last_good = audit_verification_last_good(organization_id=organization_id)
    anchor = (
        ChainHead(sequence=last_good.head_sequence, hash=last_good.head_hash)
        if last_good is not None and last_good.head_sequence is not None
        else None
    )
    report = audit_chain_verify(anchor)
    backlog = audit_seal_backlog(bound_seconds=settings.HUB_AUDIT_SEAL_BOUND_SECONDS)
    ok = report.ok and not backlog.overdue
    reason = report.reason if not report.ok else ""
    if report.ok and backlog.overdue:
        reason = f"{backlog.overdue} entries unsealed past the bound (ids {backlog.overdue_ids})"
    audit_verification_record(
        organization_id=organization_id,
        started_at=started_at,
        ok=ok,
        entries_checked=report.entries,
        first_broken_sequence=report.first_broken,
        unsealed_overdue=backlog.overdue,
        reason=reason,
        head_sequence=report.head.sequence if report.head is not None and ok else None,
        head_hash=report.head.hash if report.head is not None and ok else "",
    )
    if not ok:
        event_emit(
            event_type="audit.verification_failed",
            payload={
                "first_broken": report.first_broken or 0,
                "unsealed": backlog.overdue,
                "problem": "chain_broken" if not report.ok else "unsealed_overdue",
            },
        )
    return ok
