"""HTTP of the audit trail: the organization's entries and the chain check, for admins only.

Reading the audit log is not itself audited: its readers are admins, and recording each look at the
log in the log would make every page of it grow the thing it shows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router

from api.auth import admin_auth
from api.pagination import paginate
from api.schemas import ERRORS
from apps.audit import selectors
from apps.audit.models import ACTION_CODES
from apps.audit.schemas import AuditFilter, AuditPage, AuditVerifyOut, AuditVerifyQuery

router = Router(auth=admin_auth)


@router.get("", summary="List audit entries", response={200: AuditPage, **ERRORS})
def audit_entry_list(request: HttpRequest, filters: Query[AuditFilter]) -> dict[str, Any]:
    """The organization's audit trail, filtered by actor, action, object or time, a page at a time. Admins
    only."""
    entries = selectors.audit_entry_list(
        actor=filters.actor,
        action=ACTION_CODES[filters.action] if filters.action else None,
        object_type=filters.object_type,
        object_id=filters.object_id,
        since=filters.since,
        until=filters.until,
    )
    return paginate(entries, page=filters)


@router.get("verify", summary="Verify the audit chain", response={200: AuditVerifyOut, **ERRORS})
def audit_verify(request: HttpRequest, window: Query[AuditVerifyQuery]) -> dict[str, Any]:
    """Verify a window of the chain: at most `limit` entries after `after_sequence`; continue with
    the answer's `head.sequence` while `more`. With `?sequence=&hash=` of a head recorded earlier,
    also check that the chain still holds that entry (entries removed from the end show only this way).
    Entries not sealed yet are counted; one unsealed longer than the bound fails the check."""
    anchor = (
        None
        if window.sequence is None or window.hash is None
        else selectors.ChainHead(window.sequence, window.hash)
    )
    report = selectors.audit_chain_verify(anchor, after_sequence=window.after_sequence, limit=window.limit)
    backlog = selectors.audit_seal_backlog(bound_seconds=settings.HUB_AUDIT_SEAL_BOUND_SECONDS)
    if report.ok and backlog.overdue:
        reason = f"{backlog.overdue} entries left unsealed for more than the bound: run seal_audit"
        report = dataclasses.replace(report, ok=False, reason=reason)
    return {
        **dataclasses.asdict(report),
        "after_sequence": window.after_sequence,
        "unsealed": backlog.pending,
        "unsealed_overdue_ids": backlog.overdue_ids,
    }
