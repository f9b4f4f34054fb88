"""An import through a real worker (``tests.jobs.jobs_run``): the dry run and the commit as jobs of the
``imports`` queue, committed for real, in an organization of the test's own."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.entities.models import Entity
from apps.imports import services
from apps.imports.models import Import
from hub.files import file_store
from tenants.services import tenant_provision
from tests.helpers import owner_cursor
from tests.jobs import job_rows, jobs_run

ROWS = 1000


def test_dry_run_and_commit_run_as_jobs(job_queue: None, client_for: Any) -> None:
    tenant = tenant_provision(
        organization_id=uuid.uuid4(),
        slug=f"imports-{uuid.uuid4().hex[:6]}",
        name="Imports",
        check_identity=False,
    )
    client = client_for(tenant, ["admin"])
    lines = ["kind,name,reference,email,relation_kind,relation_target"]
    lines += [
        f"customer,Customer {n},W-{n},c{n}@example.com," + (f"knows,customer:W-{n - 1}" if n else ",")
        for n in range(ROWS)
    ]
    content = ("\n".join(lines) + "\n").encode()
    response = client.post("/api/v1/imports/?type=entities", {"file": SimpleUploadedFile("w.csv", content)})
    assert response.status_code == 202, response.content
    import_id = response.json()["id"]
    assert [row["task_name"] for row in job_rows()] == ["imports.validate"]
    jobs_run(queues=["imports"])
    detail = client.get(f"/api/v1/imports/{import_id}").json()
    assert (detail["status"], detail["progress"], detail["rows_total"], detail["rows_valid"]) == (
        "validated",
        100,
        ROWS,
        ROWS,
    )
    assert client.post(f"/api/v1/imports/{import_id}/commit").status_code == 202
    jobs_run(queues=["imports"])
    detail = client.get(f"/api/v1/imports/{import_id}").json()
    assert (detail["status"], detail["progress"], detail["rows_created"]) == ("committed", 100, ROWS)
    assert {row["status"] for row in job_rows()} == {"succeeded"}
    with tenant_context(tenant):
        created = Entity.objects.filter(source_import=import_id)
        assert created.count() == ROWS
        assert created.get(reference="W-5").relations_out.get().target.reference == "W-4"
        entries = AuditEntry.objects.filter(object_type="entities.entity", action=AuditEntry.Action.CREATE)
        assert entries.count() == ROWS
        assert not entries.filter(sequence__isnull=True).exists()  # sealed after the commit
        record = Import.objects.get(id=import_id)
        assert record.finished_at is not None
        assert not file_store().exists(record.file_name)  # personal data: not kept once committed


def test_a_commit_that_fails_at_its_end_wrote_nothing_and_its_retry_writes_once(
    job_queue: None, client_for: Any
) -> None:
    """The rows and the import's status commit together: a failure after the last row (here the
    ``import.finished`` event, refused by a trigger as a broken database would) leaves nothing, and the
    job run again writes each row once (these rows have no reference that would refuse a second copy)."""
    tenant = tenant_provision(
        organization_id=uuid.uuid4(),
        slug=f"imports-{uuid.uuid4().hex[:6]}",
        name="Imports",
        check_identity=False,
    )
    client = client_for(tenant, ["admin"])
    content = b"kind,name\ncustomer,One\ncustomer,Two\ncustomer,Three\n"
    response = client.post("/api/v1/imports/?type=entities", {"file": SimpleUploadedFile("f.csv", content)})
    import_id = response.json()["id"]
    jobs_run(queues=["imports"])
    with owner_cursor(tenant) as cursor:
        cursor.execute(FAIL_FINISHED_SQL)
    assert client.post(f"/api/v1/imports/{import_id}/commit").status_code == 202
    jobs_run(queues=["imports"])
    assert [row["status"] for row in job_rows() if row["task_name"] == "imports.commit"] != ["succeeded"]
    assert client.get(f"/api/v1/imports/{import_id}").json()["status"] == "committing"
    with tenant_context(tenant):
        assert not Entity.objects.filter(source_import=import_id).exists()
    with owner_cursor(tenant) as cursor:
        cursor.execute("DROP TRIGGER import_finished_fails ON notifications_event")
    with tenant_context(tenant):
        services.import_commit_run(import_id=uuid.UUID(import_id))  # the job's retry
        services.import_commit_run(import_id=uuid.UUID(import_id))  # and once more: nothing to do
        assert sorted(Entity.objects.filter(source_import=import_id).values_list("name", flat=True)) == [
            "One",
            "Three",
            "Two",
        ]
    detail = client.get(f"/api/v1/imports/{import_id}").json()
    assert (detail["status"], detail["rows_created"]) == ("committed", 3)


FAIL_FINISHED_SQL = """
CREATE FUNCTION import_finished_fails() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.event_type = 'import.finished' THEN
        RAISE EXCEPTION 'injected failure';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER import_finished_fails BEFORE INSERT ON notifications_event
    FOR EACH ROW EXECUTE FUNCTION import_finished_fails();
"""
