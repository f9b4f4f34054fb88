"""The privacy module's jobs: applying the organization's retention policies (daily, ``tenants.tasks``)."""

from __future__ import annotations

from django.db import transaction

from apps.notifications.events import event_emit
from apps.privacy.services import retention_apply
from tenants.jobs import tenant_task


@tenant_task(name="privacy.retention_apply", queue="maintenance", atomic=False)
def retention_apply_job() -> int:
    """Purge the organization's soft-deleted rows older than its policies, one committed batch at a
    time (``retention_apply``: resumable, so a retried job goes on with what is left); each model
    purged is the event ``retention.purged``. Returns the rows purged."""
    purged = 0
    for result in retention_apply():
        purged += result.purged
        if result.purged:
            with transaction.atomic():
                event_emit(
                    event_type="retention.purged",
                    payload={"model": result.model, "days": result.days, "purged": result.purged},
                )
    return purged
