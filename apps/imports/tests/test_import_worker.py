"""An import through a real worker (``tests.jobs.jobs_run``): the dry run and the commit as jobs of the
``imports`` queue, committed for real, in an organization of the test's own."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.entities.models import Entity
from apps.imports.models import Import
from hub.files import file_store
from tenants.services import tenant_provision
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
