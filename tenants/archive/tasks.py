"""The platform archive's jobs: writing one archive, and deleting it when it expires."""

from __future__ import annotations

import uuid

from django.conf import settings

from tenants.jobs import platform_task

QUEUE = "archives"


@platform_task(name="tenants.archive_write", queue=QUEUE)
def archive_write_job(*, organization_id: str, archive_id: str, public_key: str, requested_at: str) -> None:
    """Write the archive (``services.archive_write``), then schedule its deletion (``requested_at`` is
    what the archive's status shows)."""
    from tenants.archive.services import archive_write

    archive_write(
        organization_id=uuid.UUID(organization_id), archive_id=uuid.UUID(archive_id), public_key=public_key
    )
    archive_expire_job.configure(schedule_in={"seconds": settings.HUB_ARCHIVE_TTL_SECONDS}).defer(
        organization_id=organization_id, archive_id=archive_id
    )


@platform_task(name="tenants.archive_expire", queue="maintenance")
def archive_expire_job(*, organization_id: str, archive_id: str) -> None:
    """Delete an archive's file once its time is up."""
    from tenants.archive.services import archive_expire

    archive_expire(organization_id=uuid.UUID(organization_id), archive_id=uuid.UUID(archive_id))
