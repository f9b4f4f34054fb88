"""The ledger's jobs: purging idempotency keys past their 24-hour life (daily, ``tenants.tasks``)."""

from __future__ import annotations

from apps.ledger.services import idempotency_keys_purge
from tenants.jobs import tenant_task


@tenant_task(name="ledger.idempotency_keys_purge", queue="maintenance")
def idempotency_keys_purge_job() -> int:
    """Delete the organization's expired idempotency keys (one transaction); how many."""
    return idempotency_keys_purge()
