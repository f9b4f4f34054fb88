"""The reports module's job (procrastinate discovers ``tasks`` modules): computing one run, inside its
organization (``tenant_task``), committing as it goes so its status and progress can be read."""

from __future__ import annotations

import uuid

from tenants.jobs import tenant_job_defer, tenant_task


@tenant_task(name="reports.run", queue="reports", atomic=False)
def report_run_job(*, run_id: str) -> None:
    """Compute the run (``services.run_execute``)."""
    from apps.reports.services import run_execute

    run_execute(run_id=uuid.UUID(run_id))


def report_run_defer(*, run_id: uuid.UUID) -> None:
    """The run's job, in the caller's transaction (rolled back with the run, committed with it)."""
    tenant_job_defer(report_run_job, run_id=str(run_id))
