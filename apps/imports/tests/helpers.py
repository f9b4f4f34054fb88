"""What the imports' end-to-end tests share: the user they act as, and one import through the API and a
real worker (``api_import``); the organization and file store they run in are ``conftest.py``'s."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.jobs import jobs_run

IMPORTS_URL = "/api/v1/imports/"
# The user the end-to-end tests act as (a row of the user mirror, made and removed by ``committed_org``).
E2E_USER = uuid.UUID("e2e00000-0000-4000-8000-00000000e2e0")


def api_import(client: Client, import_type: str, csv: str, *, mode: str = "all") -> dict[str, Any]:
    """Upload ``csv`` (dry run), let a worker validate it, commit it (``mode``), let a worker commit."""
    response = client.post(
        f"{IMPORTS_URL}?type={import_type}&dry_run=true",
        {"file": SimpleUploadedFile(f"{import_type}.csv", csv.replace("\n", "\r\n").encode())},
    )
    assert response.status_code == 202, response.content
    import_id = response.json()["id"]
    jobs_run(queues=["imports"])
    assert client.get(f"{IMPORTS_URL}{import_id}").json()["status"] == "validated"
    committed = client.post(f"{IMPORTS_URL}{import_id}/commit?mode={mode}")
    assert committed.status_code == 202, committed.content
    jobs_run(queues=["imports"])
    record: dict[str, Any] = client.get(f"{IMPORTS_URL}{import_id}").json()
    return record
