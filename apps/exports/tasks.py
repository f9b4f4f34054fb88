"""The exports module's jobs (procrastinate discovers ``tasks`` modules): writing one export's file,
inside its organization (``tenant_task``, committing as it goes so status and progress can be read),
and the hourly purge of expired files, fanned out to every active organization."""

from __future__ import annotations

import uuid

from procrastinate.contrib.django import app

from tenants.jobs import platform_task, tenant_job_defer, tenant_task


@tenant_task(name="exports.write", queue="exports", atomic=False)
def export_write_job(*, export_id: str) -> None:
    """Write the export's file (``services.export_write``)."""
    from apps.exports.services import export_write

    export_write(export_id=uuid.UUID(export_id))


def export_write_defer(*, export_id: uuid.UUID) -> None:
    """The export's job, in the caller's transaction (rolled back with the export, committed with it)."""
    tenant_job_defer(export_write_job, export_id=str(export_id))


@tenant_task(name="exports.expire", queue="maintenance", atomic=False)
def exports_expire_job() -> int:
    """Remove the organization's expired export files (``services.exports_expire``)."""
    from apps.exports.services import exports_expire

    return exports_expire()


@app.periodic(cron="15 * * * *", queueing_lock="jobs.exports_expire")
@platform_task(name="jobs.exports_expire", queue="maintenance")
def exports_expire_fan_out(*, timestamp: int) -> int:
    """Every hour: purge every active organization's expired export files."""
    from tenants.tasks import fan_out

    return fan_out(exports_expire_job, lock="exports.expire")
