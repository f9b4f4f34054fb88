"""Tenant jobs: deferred in the change's transaction, run inside their organization and no other."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django_tenants.utils import tenant_context

from apps.entities.services import entity_create
from tenants.jobs import tenant_job_defer, tenant_task
from tenants.models import Organization, User
from tenants.services import tenant_delete, tenant_provision
from tests.jobs import job_rows, jobs_run

pytestmark = pytest.mark.usefixtures("job_queue")

seen: list[dict[str, Any]] = []


@tenant_task(name="tests.probe_rows")
def probe_rows(*, marker: str) -> None:
    """Read, with raw SQL and no filter, what the job's organization setting and RLS let through."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('hub.organization_id'), current_setting('search_path')")
        organization_id, search_path = cursor.fetchone()
        cursor.execute("SELECT DISTINCT organization_id FROM entities_entity")
        visible = {str(row[0]) for row in cursor.fetchall()}
    seen.append({"marker": marker, "organization": organization_id, "path": search_path, "visible": visible})


def _organization(slug: str) -> Organization:
    return tenant_provision(organization_id=uuid.uuid4(), slug=slug, name=slug.title(), check_identity=False)


def _entity_add(tenant: Organization) -> None:
    actor, _ = User.objects.get_or_create(id=uuid.UUID(int=0x10B5))
    with tenant_context(tenant), transaction.atomic():
        entity_create(actor=actor, kind="customer", name="Job probe")


def test_a_job_runs_inside_its_organization_and_sees_no_other() -> None:
    first, second = _organization("jobs-first"), _organization("jobs-second")
    _entity_add(first)
    _entity_add(second)
    seen.clear()
    with tenant_context(first), transaction.atomic():
        tenant_job_defer(probe_rows, marker="first")
    with tenant_context(second), transaction.atomic():
        tenant_job_defer(probe_rows, marker="second")
    jobs_run()
    by_marker = {row["marker"]: row for row in seen}
    assert by_marker["first"]["organization"] == str(first.organization_id)
    assert by_marker["first"]["visible"] == {str(first.organization_id)}
    assert by_marker["first"]["path"].startswith(f'"{first.schema_name}"')
    assert by_marker["second"]["visible"] == {str(second.organization_id)}


def test_a_job_deferred_in_a_rolled_back_transaction_never_exists() -> None:
    tenant = _organization("jobs-rollback")

    with tenant_context(tenant), transaction.atomic():
        tenant_job_defer(probe_rows, marker="undone")
        transaction.set_rollback(True)
    assert job_rows(task_name="tests.probe_rows") == []


def test_a_deleted_organizations_job_is_dropped_and_a_suspended_ones_kept() -> None:
    gone, paused = _organization("jobs-gone"), _organization("jobs-paused")
    seen.clear()
    with tenant_context(gone), transaction.atomic():
        tenant_job_defer(probe_rows, marker="gone")
    with tenant_context(paused), transaction.atomic():
        tenant_job_defer(probe_rows, marker="paused")
    tenant_delete(tenant=gone, confirm=str(gone.organization_id))
    Organization.objects.filter(pk=paused.pk).update(status=Organization.Status.SUSPENDED)
    jobs_run()
    assert seen == []
    statuses = {row["args"]["marker"]: row["status"] for row in job_rows(task_name="tests.probe_rows")}
    assert statuses == {"gone": "succeeded", "paused": "todo"}


def test_deferring_outside_an_organization_is_refused() -> None:
    with pytest.raises(RuntimeError, match="inside its organization"), transaction.atomic():
        tenant_job_defer(probe_rows, marker="nowhere")
