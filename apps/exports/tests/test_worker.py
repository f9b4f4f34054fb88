"""Exports through a real worker (``tests.jobs.jobs_run``): the job writes the file on its own
connection, the hourly purge's tenant job expires it. An organization of this module's own
(committed: the worker reads on its own connections), provisioned once and deleted at the end."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.entities.selectors import EntityViewer
from apps.entities.services import entity_create
from apps.exports import services
from apps.exports.errors import ExportsBusy
from apps.exports.models import Export
from apps.exports.tasks import exports_expire_job
from apps.exports.tests.helpers import URL, download, export_post, rows_read
from conftest import ClientFactory
from tenants.jobs import tenant_job_defer
from tenants.models import Organization, User
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tests.helpers import staged
from tests.jobs import job_rows, jobs_clear, jobs_run

USER = uuid.uuid4()


@pytest.fixture(scope="module")
def org(django_db_setup: None, django_db_blocker: Any) -> Iterator[Organization]:
    with django_db_blocker.unblock():
        connections.close_all()
        user = User.objects.create(id=USER, email=f"{USER.hex[:8]}@exports.example.com")
        tenant = tenant_provision(
            organization_id=uuid.uuid4(),
            slug=f"exports-{uuid.uuid4().hex[:6]}",
            name="x",
            check_identity=False,
        )
        with tenant_context(tenant), transaction.atomic():
            for name in ("Acme AG", "Globex", "=cmd|' /C calc'!A0"):
                entity_create(actor=user, kind="customer", name=name)
    yield tenant
    with django_db_blocker.unblock():
        tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute("DELETE FROM public.tenants_user WHERE id = %s", [USER])


@pytest.fixture
def world(org: Organization, django_db_blocker: Any) -> Iterator[Organization]:
    with django_db_blocker.unblock():
        jobs_clear()
        yield org
        jobs_clear()
        with tenant_context(org), transaction.atomic():
            Export.objects.all().delete()


def test_a_worker_writes_the_file_and_the_purge_expires_it(
    world: Organization, client_for: ClientFactory, files_dir: Any
) -> None:
    admin = client_for(world, ["admin"], sub=str(USER))
    accepted = export_post(admin, "entities", {"kind": "customer", "ordering": "name"}, "csv")
    assert accepted.status_code == 202, accepted.content
    export_id = accepted.json()["id"]
    assert [job["args"]["export_id"] for job in job_rows(task_name="exports.write")] == [export_id]

    jobs_run(queues=["exports"])
    assert [job["status"] for job in job_rows(task_name="exports.write")] == ["succeeded"]
    done = admin.get(f"{URL}{export_id}").json()
    assert (done["status"], done["row_count"]) == ("succeeded", 3)
    header, rows = rows_read(download(admin, export_id).body, "csv")
    assert header[:3] == ["id", "kind", "name"]
    assert [row["name"] for row in rows] == ["'=cmd|' /C calc'!A0", "Acme AG", "Globex"]
    assert len(list(files_dir.rglob("*.csv"))) == 1

    with tenant_context(world), transaction.atomic():
        Export.objects.filter(id=export_id).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
        tenant_job_defer(exports_expire_job)
    jobs_run(queues=["maintenance"])
    assert admin.get(f"{URL}{export_id}").json()["status"] == "expired"
    assert list(files_dir.rglob("*.csv")) == []
    assert download(admin, export_id).status_code == 409


def test_two_requests_at_once_never_pass_the_running_limit_together(
    world: Organization, settings: Any
) -> None:
    """The second request waits on the first's per-organization lock, then counts its export."""
    settings.HUB_EXPORT_MAX_RUNNING = 1

    def request() -> Export:
        with tenant_context(world):
            return services.export_request(
                actor=User(id=USER),
                viewer=EntityViewer(user_id=USER, is_admin=True),
                roles=frozenset({"viewer", "member", "admin"}),
                resource="entities",
                filters={},
                file_format="csv",
            )

    outcome = staged(request, request)
    assert isinstance(outcome["first"], Export)
    assert isinstance(outcome["second"], ExportsBusy)
    with tenant_context(world):
        assert Export.objects.count() == 1


def test_a_job_that_failed_unexpectedly_starts_over_on_its_retry(world: Organization) -> None:
    with tenant_context(world), transaction.atomic():
        export = Export.objects.create(
            resource="entities", format="ndjson", requested_by_id=USER, viewer_is_admin=True
        )
        Export.objects.filter(id=export.id).update(status="failed", error_code="export_error")
        refused = Export.objects.create(
            resource="entities",
            format="ndjson",
            requested_by_id=USER,
            status="failed",
            error_code="export_too_large",
        )
    with tenant_context(world):
        services.export_write(export_id=export.id)
        services.export_write(export_id=refused.id)
        export.refresh_from_db()
        refused.refresh_from_db()
    assert (export.status, export.row_count, export.error_code) == ("succeeded", 3, "")
    assert (refused.status, refused.error_code) == ("failed", "export_too_large")  # final: not redone
