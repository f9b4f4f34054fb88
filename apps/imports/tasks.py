"""The imports module's jobs (procrastinate discovers ``tasks`` modules): an import's dry run and its
commit, inside its organization (``tenant_task``), and the hourly expiry of imports left uncommitted.
Not atomic: the dry run commits its report and
progress a batch at a time; the commit is one transaction of its own (``services.import_commit_run``)."""

from __future__ import annotations

import uuid

from procrastinate.contrib.django import app

from tenants.jobs import platform_task, tenant_job_defer, tenant_task


@tenant_task(name="imports.validate", queue="imports", atomic=False)
def import_validate_job(*, import_id: str, commit: bool = False) -> None:
    """Check every row and write the report (``services.import_validate_run``); then commit when asked."""
    from apps.imports.services import import_validate_run

    import_validate_run(import_id=uuid.UUID(import_id), commit=commit)


@tenant_task(name="imports.commit", queue="imports", atomic=False)
def import_commit_job(*, import_id: str) -> None:
    """Write the rows (``services.import_commit_run``)."""
    from apps.imports.services import import_commit_run

    import_commit_run(import_id=uuid.UUID(import_id))


def import_validate_defer(*, import_id: uuid.UUID, commit: bool) -> None:
    """The dry run's job, in the caller's transaction (committed with the import, or not at all)."""
    tenant_job_defer(
        import_validate_job,
        import_id=str(import_id),
        commit=commit,
        job_options={"lock": f"import:{import_id}"},
    )


def import_commit_defer(*, import_id: uuid.UUID) -> None:
    """The commit's job, in the caller's transaction; one job of an import runs at a time (its lock)."""
    tenant_job_defer(import_commit_job, import_id=str(import_id), job_options={"lock": f"import:{import_id}"})


@tenant_task(name="imports.expire", queue="maintenance", atomic=False)
def imports_expire_job() -> int:
    """Cancel the organization's imports left uncommitted too long, removing their files
    (``services.imports_expire``)."""
    from apps.imports.services import imports_expire

    return imports_expire()


@app.periodic(cron="25 * * * *", queueing_lock="jobs.imports_expire")
@platform_task(name="jobs.imports_expire", queue="maintenance")
def imports_expire_fan_out(*, timestamp: int) -> int:
    """Every hour: expire every active organization's imports left uncommitted."""
    from tenants.tasks import fan_out

    return fan_out(imports_expire_job, lock="imports.expire")
