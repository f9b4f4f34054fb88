"""Imports left uncommitted expire (``services.imports_expire``, hourly): cancelled, their files
removed, audited; a young one, a committed one and another organization's are left alone."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.imports.models import Import, ImportStatus
from apps.imports.services import imports_expire
from apps.imports.tasks import imports_expire_fan_out
from hub.files import file_store
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def _upload(client: Client, name: str) -> str:
    content = f"kind,name\ncustomer,{name}\n".encode()
    response = client.post("/api/v1/imports/?type=entities", {"file": SimpleUploadedFile("e.csv", content)})
    assert response.status_code == 202, response.content
    return str(response.json()["id"])


def _age(tenant: Organization, import_id: str, hours: int) -> None:
    with tenant_context(tenant):
        Import.objects.filter(id=import_id).update(
            created_at=timezone.now() - datetime.timedelta(hours=hours)
        )


def test_an_import_left_uncommitted_expires_with_its_file(
    member_client: Client,
    b_member_client: Client,
    tenant_a: Organization,
    tenant_b: Organization,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.HUB_IMPORT_TTL_HOURS = 72
    old, young = _upload(member_client, "Old"), _upload(member_client, "Young")
    b_old = _upload(b_member_client, "B old")
    _age(tenant_a, old, 73)
    _age(tenant_a, young, 71)
    _age(tenant_b, b_old, 73)
    with tenant_context(tenant_a):
        validated = Import.objects.get(id=young)
        validated.status = ImportStatus.VALIDATED
        validated.save(update_fields=["status"])
        files = {row.id: row.file_name for row in Import.objects.filter(id__in=[old, young])}
        with django_capture_on_commit_callbacks(execute=True):  # the file goes once the cancel commits
            assert imports_expire() == 1
        assert imports_expire() == 0  # done: a second run finds nothing
        expired = Import.objects.get(id=old)
        assert (expired.status, expired.error_code) == (ImportStatus.CANCELLED, "import_expired")
        assert not file_store().exists(files[expired.id])
        assert Import.objects.get(id=young).status == ImportStatus.VALIDATED
        assert file_store().exists(files[validated.id])
        entry = AuditEntry.objects.filter(object_pk=old, action=AuditEntry.Action.UPDATE).get()
        assert entry.actor_id is None  # the expiry job, no user
    with tenant_context(tenant_b):
        assert Import.objects.get(id=b_old).status == ImportStatus.VALIDATING  # A's run never reaches B
        assert file_store().exists(Import.objects.get(id=b_old).file_name)


def test_the_expiry_is_fanned_out_every_hour() -> None:
    from procrastinate.contrib.django import app

    crons = {periodic.task.name: periodic.cron for periodic in app.periodic_registry.periodic_tasks.values()}
    assert crons["jobs.imports_expire"] == "25 * * * *"
    assert imports_expire_fan_out.name == "jobs.imports_expire"
